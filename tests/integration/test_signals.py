"""Wake-ups between processes on PostgreSQL: a commit in one process wakes the waiters of another at once,
not at its next poll (issue 11, step 4)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import sqlalchemy as sa

from statusgate.domain.notifications import InstanceStateChanged
from statusgate.domain.states import InstanceState
from statusgate.services import instances
from statusgate.services import notifications as notification_service
from statusgate.settings import Settings
from statusgate.store import notifications
from statusgate.store.signals import Signal, parse
from statusgate.wiring.core import Core

#: far longer than any test here waits: only a signal can wake a waiter in time
POLL = 60.0


def test_payloads_read_back_and_strangers_are_ignored() -> None:
    assert parse("n:1100000001") == (Signal.NOTIFIED, 1100000001)
    assert parse("s:7") == (Signal.STATUS_QUEUED, 7)
    assert parse("x:7") is None and parse("n:") is None and parse("hello") is None


@contextlib.asynccontextmanager
async def _api_and_worker(settings: Settings) -> AsyncIterator[tuple[Core, Core]]:
    """Two processes' cores on one database: an API node listening (connected), and a worker."""
    api, worker = Core(settings), Core(settings)
    await api.open()
    await worker.open()
    try:
        api.listen()
        assert api.listener is not None
        await asyncio.wait_for(api.listener.connected.wait(), 30)
        yield api, worker
    finally:
        await worker.close()
        await api.close()


async def _long_poll(api: Core) -> tuple[int, asyncio.Task[Any]]:
    """A new instance, and a receiveNotification on it that has looked once and now waits."""
    created = await instances.create(api.ctx)
    instance = await instances.get(api.ctx, created.id_instance)
    waiting = asyncio.create_task(notification_service.receive(api.ctx, instance, timeout=POLL))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    return created.id_instance, waiting


async def _journal_state(core: Core, instance_id: int) -> None:
    fact = InstanceStateChanged(instance_id, InstanceState.AUTHORIZED, time.time())
    await core.ctx.db.write(notifications.journal, fact)


async def test_a_notification_journaled_by_another_process_wakes_a_long_poll_at_once(
    make_settings: Callable[..., Settings],
) -> None:
    async with _api_and_worker(make_settings(poll_interval_seconds=POLL)) as (api, worker):
        instance_id, waiting = await _long_poll(api)
        started = time.monotonic()
        await _journal_state(worker, instance_id)
        answer = await asyncio.wait_for(waiting, 30)
        assert answer is not None and answer["body"]["typeWebhook"] == "stateInstanceChanged"
        assert time.monotonic() - started < 30  # woken by the commit, not by the next look (60 s away)


async def test_the_listener_reconnects_when_its_connection_is_cut(
    make_settings: Callable[..., Settings],
) -> None:
    async with _api_and_worker(make_settings(poll_interval_seconds=POLL)) as (api, worker):
        assert api.listener is not None
        # the database drops the listening session (as a restart or an administrator would)

        def cut(conn: sa.Connection) -> int:
            query = sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'"
            )
            return int(conn.execute(query).scalar_one())

        assert await worker.ctx.db.write(cut) == 1
        deadline = time.monotonic() + 30
        while api.listener.connected.is_set():
            assert time.monotonic() < deadline, "the cut was not noticed"
            await asyncio.sleep(0.02)
        await asyncio.wait_for(api.listener.connected.wait(), 30)

        instance_id, waiting = await _long_poll(api)
        await _journal_state(worker, instance_id)
        assert await asyncio.wait_for(waiting, 30) is not None
