"""Each instance has one owning worker at a time: leases with epochs on the database's clock, fair shares,
handover on stop (issue 11, step 2)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from statusgate.domain.models import DeliveryState, EngineName
from statusgate.domain.ownership import Fence, Lease
from statusgate.domain.posts import OutgoingStatus, TextPost
from statusgate.errors import EngineTransientError
from statusgate.services import instances
from statusgate.settings import Settings
from statusgate.store import clock, notifications, ownership, status_leases, workers
from statusgate.store.db import Database
from statusgate.wiring.core import Core
from statusgate.worker.ownership import Ownership
from statusgate.worker.role import Worker


@contextlib.asynccontextmanager
async def _processes(settings: Settings, count: int) -> AsyncIterator[tuple[list[Core], list[Worker]]]:
    """``count`` cores on one database, as that many processes would have them, and a list for the workers
    the test starts on them: those still in it are stopped at the end, then the cores closed."""
    cores = [Core(settings) for _ in range(count)]
    for core in cores:
        await core.open()
    running: list[Worker] = []
    try:
        yield cores, running
    finally:
        for worker in running:
            await worker.stop()
        for core in cores:
            await core.close()


async def _instances(core: Core, count: int) -> list[int]:
    """``count`` new instances' ids, lowest first (the order workers take them in)."""
    return sorted([(await instances.create(core.ctx)).id_instance for _ in range(count)])


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_one_owner_at_a_time_with_a_new_epoch_each_change_of_hands(
    make_settings: Callable[..., Settings],
) -> None:
    async with _processes(make_settings(), 1) as ([core], _running):
        db: Database = core.ctx.db
        first, second, third = await _instances(core, 3)
        taken = await db.write(ownership.claim, "a", 60, 2)
        assert taken == [Lease(first, 1), Lease(second, 1)]
        # what "a" holds is not free: "b" gets only the rest
        assert await db.write(ownership.claim, "b", 60, 5) == [Lease(third, 1)]
        assert await db.write(ownership.claim, "c", 60, 5) == []
        assert await db.read(ownership.owner, first) == "a"

        # handed back, the next owner's epoch is one more; the old lease no longer passes the fence
        assert await db.write(ownership.release, "a", [first]) == 1
        assert await db.write(ownership.claim, "b", 60, 5) == [Lease(first, 2)]
        assert not await db.write(ownership.holds, Fence("a", Lease(first, 1)))
        assert not await db.write(ownership.holds, Fence("b", Lease(first, 1)))
        assert await db.write(ownership.holds, Fence("b", Lease(first, 2)))
        assert await db.write(ownership.renew, "a", 60) == [Lease(second, 1)]

        # a lease that lapsed (by the database's clock) is not renewed, and anyone may take it over
        assert await db.write(ownership.renew, "b", -1) == [Lease(first, 2), Lease(third, 1)]
        assert await db.write(ownership.renew, "b", 60) == []
        assert not await db.write(ownership.holds, Fence("b", Lease(first, 2)))
        assert await db.write(ownership.claim, "c", 60, 5) == [Lease(first, 3), Lease(third, 2)]

        # everyone's, at once (a SQLite worker starting after a crash)
        assert await db.write(ownership.release, None) == 3
        assert await db.read(ownership.owner, second) is None


async def test_the_share_counts_live_workers_on_the_database_clock(
    make_settings: Callable[..., Settings],
) -> None:
    async with _processes(make_settings(), 1) as ([core], _running):
        db = core.ctx.db
        await _instances(core, 10)
        await db.write(workers.register, "a", "host", 1)
        await db.write(workers.register, "b", "host", 2)
        await db.write(workers.register, "c", "host", 3)
        census = await db.read(ownership.census, 30)
        assert (census.instances, census.live_workers, census.share()) == (10, 3, 4)
        # "c" stopped heartbeating a minute ago (by the database's clock): no longer live
        from statusgate.store.schema.instances import workers as workers_table

        def stale(conn: Any) -> None:
            conn.execute(
                workers_table.update()
                .where(workers_table.c.worker_id == "c")
                .values(heartbeat_at=clock.now(conn) - 60)
            )

        await db.write(stale)
        census = await db.read(ownership.census, 30)
        assert (census.live_workers, census.share()) == (2, 5)
        assert await db.write(workers.prune, 30) == 1


async def test_workers_share_the_instances_fairly_and_hand_them_over_on_stop(
    make_settings: Callable[..., Settings],
) -> None:
    # leases far longer than the test: every handover seen here is a hand-back, never a lapse
    async with _processes(make_settings(lease_seconds=600), 3) as (cores, running):
        ids = set(await _instances(cores[0], 10))
        first = Worker(cores[0].ctx)
        await first.start()
        running.append(first)
        assert first.ownership.held() == ids

        second, third = Worker(cores[1].ctx), Worker(cores[2].ctx)
        for worker in (second, third):
            await worker.start()
            running.append(worker)

        async def fair() -> bool:
            shares = [len(worker.ownership.held()) for worker in running]
            return sorted(shares) == [3, 3, 4]

        await _eventually(fair, "three workers holding 4, 3 and 3 of 10 instances")
        held = [worker.ownership.held() for worker in running]
        assert set().union(*held) == ids and sum(map(len, held)) == len(ids)  # each owned exactly once

        # a stopping worker hands its instances back at once: the others take them long before any lease
        # (600 s) could lapse
        started = time.monotonic()
        await first.stop()
        running.remove(first)

        async def taken_over() -> bool:
            return set().union(*(worker.ownership.held() for worker in running)) == ids

        await _eventually(taken_over, "the stopped worker's instances taken over")
        assert time.monotonic() - started < 60
        assert sorted(len(worker.ownership.held()) for worker in running) == [5, 5]


async def test_a_stalled_worker_stops_trusting_its_leases_before_they_lapse(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(lease_seconds=3, lease_margin_seconds=1)
    async with _processes(settings, 1) as ([core], _running):
        db = core.ctx.db
        ids = set(await _instances(core, 2))
        await db.write(workers.register, "w", "host", 1)
        held = Ownership(settings, db, "w")
        await held.start()
        try:
            assert held.held() == ids
            # the whole process stalls (the event loop blocked: no renewal can run) for over lease - margin
            time.sleep(2.2)  # noqa: ASYNC251 - the stall is the point
            # it no longer acts for its instances, though their leases have not lapsed in the database yet
            assert held.held() == set() and held.lease(min(ids)) is None
            assert await db.read(ownership.owner, min(ids)) == "w"

            # running again, it renews them in time (within the lease) and trusts them again
            async def trusted() -> bool:
                return held.held() == ids

            await _eventually(trusted, "the leases renewed after the stall")
        finally:
            await held.stop()
        assert await db.read(ownership.owner, min(ids)) is None  # handed back on stop


async def test_each_event_is_applied_once_by_its_instances_owner(
    make_settings: Callable[..., Settings],
) -> None:
    async with _processes(make_settings(lease_seconds=600), 2) as (cores, running):
        ids = await _instances(cores[0], 6)
        for core in cores:
            worker = Worker(core.ctx)
            await worker.start()
            running.append(worker)

        async def shared() -> bool:
            return sorted(len(worker.ownership.held()) for worker in running) == [3, 3]

        await _eventually(shared, "two workers holding 3 instances each")
        # every phone scans: one state event per account, for two workers that both drain the network
        for instance_id in ids:
            await cores[0].ctx.sandbox.scan(instance_id)

        async def journaled() -> bool:
            counts = [await cores[0].ctx.db.read(notifications.count, i) for i in ids]
            return min(counts) >= 1

        await _eventually(journaled, "a stateInstanceChanged journaled for every instance")
        await asyncio.sleep(1)  # time for a second worker to apply an event twice, if it would
        for instance_id in ids:
            assert await cores[0].ctx.db.read(notifications.count, instance_id) == 1


async def test_the_simulated_network_refuses_a_post_from_a_stale_owner(
    make_settings: Callable[..., Settings],
) -> None:
    async with _processes(make_settings(), 1) as ([core], _running):
        created = await instances.create(core.ctx, authorized=True)
        instance_id = created.id_instance
        db = core.ctx.db
        [stale] = await db.write(ownership.claim, "a", 60, 1)
        engine = core.ctx.engine(EngineName.SANDBOX)
        post = TextPost("hello")
        # "a" stalled mid-send, past its lease: "b" took the instance over meanwhile
        await db.write(ownership.release, "a")
        [current] = await db.write(ownership.claim, "b", 60, 1)
        with pytest.raises(EngineTransientError, match="no longer holds this instance"):
            await engine.send_status(
                instance_id, OutgoingStatus("3EB0STALE", post, fence=Fence("a", stale)), []
            )
        assert (await engine.delivered(instance_id, "3EB0STALE")).state is DeliveryState.NOT_DELIVERED
        # the current owner's post goes through
        sent = OutgoingStatus("3EB0CURRENT", post, fence=Fence("b", current))
        await engine.send_status(instance_id, sent, [])
        assert (await engine.delivered(instance_id, "3EB0CURRENT")).state is DeliveryState.DELIVERED


async def test_a_stalled_preparation_does_not_record_over_the_worker_that_took_it_over(
    make_settings: Callable[..., Settings],
) -> None:
    from statusgate.domain.models import MediaKind
    from statusgate.domain.posts import MediaPost
    from statusgate.domain.states import StatusState
    from statusgate.store import intake, outbox
    from statusgate.worker.preparation import Prepared, _claim, _record_prepared

    async with _processes(make_settings(), 1) as ([core], _running):
        db = core.ctx.db
        created = await instances.create(core.ctx)
        now = time.time()
        post = MediaPost("http://127.0.0.1:9/p.jpg", "p.jpg", MediaKind.IMAGE)
        new = intake.NewStatus(created.id_instance, "3EB0PREPARED", post, now, now + 3600)
        await db.write(intake.enqueue_many, [new])
        [row] = await db.read(status_leases.to_prepare, now, 10)
        # "a" claims it and stalls; its lease lapses and "b" takes the preparation over
        assert await db.write(_claim, [row], "a", now, -1)  # a lease already over, by the database's clock
        [orphan] = await db.read(status_leases.to_prepare, time.time(), 10)
        assert await db.write(_claim, [orphan], "b", time.time(), 60)
        # "a" wakes up with a failure (its fetch timed out across the stall): not recorded
        await db.write(_record_prepared, [Prepared(row, None, "timed out", time.time(), owner="a")])
        assert (await db.read(outbox.get, row.seq)).state is StatusState.PREPARING  # type: ignore[union-attr]
        # "b"'s outcome is
        await db.write(_record_prepared, [Prepared(orphan, None, "not an image", time.time(), owner="b")])
        assert (await db.read(outbox.get, row.seq)).state is StatusState.FAILED  # type: ignore[union-attr]


async def test_preparation_claims_skip_statuses_another_worker_is_claiming(
    make_settings: Callable[..., Settings],
) -> None:
    import sqlalchemy as sa

    from statusgate.domain.models import MediaKind
    from statusgate.domain.posts import MediaPost
    from statusgate.store import intake
    from statusgate.store.schema.statuses import statuses
    from statusgate.worker.preparation import _claim

    settings = make_settings()
    async with _processes(settings, 1) as ([core], _running):
        db = core.ctx.db
        created = await instances.create(core.ctx)
        now = time.time()
        posts = [MediaPost(f"http://127.0.0.1:9/{n}.jpg", f"{n}.jpg", MediaKind.IMAGE) for n in range(2)]
        new = [
            intake.NewStatus(created.id_instance, f"3EB0CLAIM{n}", post, now, now + 3600)
            for n, post in enumerate(posts)
        ]
        await db.write(intake.enqueue_many, new)
        first, second = await db.read(status_leases.to_prepare, now, 10)
        # another worker's claim is under way on the first status: its row is locked until that commits
        other = sa.create_engine(db.url)
        with other.connect() as conn, conn.begin():
            conn.execute(sa.select(statuses.c.seq).where(statuses.c.seq == first.seq).with_for_update())
            claimed = await asyncio.wait_for(db.write(_claim, [first, second], "me", now, 60), 10)
        other.dispose()
        # not waited for: the locked one is left to the other worker, the free one is ours
        assert [row.seq for row in claimed] == [second.seq]


async def test_two_workers_storing_the_same_prepared_file_at_once_both_succeed(
    make_settings: Callable[..., Settings],
) -> None:
    import concurrent.futures

    import sqlalchemy as sa

    from statusgate.store import media as media_store

    async with _processes(make_settings(), 1) as ([core], _running):
        row = media_store.MediaRow("ab" * 32, "image", "image/jpeg", "jpg", 1234)
        engine = sa.create_engine(core.ctx.db.url)
        try:
            with engine.connect() as first, first.begin():
                # the first worker's transaction has stored the file's row, not yet committed
                media_store.remember_source(first, "source-1", row, time.time())
                with concurrent.futures.ThreadPoolExecutor(1) as pool:

                    def second_worker() -> None:
                        with engine.begin() as conn:
                            media_store.remember_source(conn, "source-1", row, time.time())

                    # it waits for the first (PostgreSQL: the unique key) or for the write lock (SQLite) …
                    waiting = pool.submit(second_worker)
                    await asyncio.sleep(0.3)
                    assert not waiting.done()
                    first.commit()
                    # … and then finds the rows there, without an error
                    waiting.result(timeout=30)
            assert await core.ctx.db.read(media_store.get_media, row.media_id) is not None
        finally:
            engine.dispose()


async def test_status_leases_run_on_the_database_clock_whatever_a_worker_clock_says(
    make_settings: Callable[..., Settings],
) -> None:
    """Workers on machines whose clocks disagree must agree on when a lease lapses: a worker whose clock is an
    hour ahead neither takes over a preparation whose lease is running nor hands out a lease that is over."""
    from statusgate.domain.models import MediaKind
    from statusgate.domain.posts import MediaPost
    from statusgate.store import intake, outbox
    from statusgate.worker.preparation import _claim

    async with _processes(make_settings(), 1) as ([core], _running):
        db = core.ctx.db
        created = await instances.create(core.ctx)
        now = time.time()
        post = MediaPost("http://127.0.0.1:9/p.jpg", "p.jpg", MediaKind.IMAGE)
        await db.write(
            intake.enqueue_many, [intake.NewStatus(created.id_instance, "3EB0CLOCKS", post, now, now + 7200)]
        )
        [row] = await db.read(status_leases.to_prepare, now, 10)
        slow = now - 3600  # the claiming worker's clock is an hour behind
        [claimed] = await db.write(_claim, [row], "behind", slow, 60)
        stored = await db.read(outbox.get, claimed.seq)
        assert stored is not None and stored.lease_expires_at is not None
        assert abs(stored.lease_expires_at - (time.time() + 60)) < 30  # not its clock's + 60
        ahead = now + 3600  # another worker, its clock an hour ahead, sees the lease running
        assert [r.seq for r in await db.read(status_leases.to_prepare, ahead, 10)] == []
        await db.write(status_leases.renew_leases, "behind", [claimed.seq], -1)  # the lease is over
        assert [r.seq for r in await db.read(status_leases.to_prepare, slow, 10)] == [claimed.seq]


async def test_deleting_an_instance_does_not_cost_its_worker_another(
    make_settings: Callable[..., Settings],
) -> None:
    # leases far longer than the test: only the census can tell the worker that one of them is gone
    async with _processes(make_settings(lease_seconds=600), 1) as ([core], running):
        gone, kept = await _instances(core, 2)
        worker = Worker(core.ctx)
        await worker.start()
        running.append(worker)
        assert worker.ownership.held() == {gone, kept}
        await instances.delete(core.ctx, gone)

        async def still_owned() -> bool:
            return worker.ownership.held() == {kept} and await core.ctx.db.read(ownership.owner, kept) == (
                worker.worker_id
            )

        # counted as still held, the deleted one made the worker hand the live one back for a lease's third
        await _eventually(still_owned, "the live instance still owned after the other's delete")
