"""A full disk is told from other failures, and waited out with a doubling, capped backoff."""

from __future__ import annotations

import dataclasses
import errno
import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from statusgate.domain.models import MediaKind
from statusgate.domain.posts import MediaPost
from statusgate.domain.states import StatusState
from statusgate.errors import MediaError, StorageFullError
from statusgate.media.store import no_space_cause, translating_no_space
from statusgate.queue.retry import next_wait
from statusgate.store import intake, migrate, outbox, status_leases
from statusgate.store.db import Database
from statusgate.store.schema.instances import instances
from statusgate.worker.preparation import previous_wait

ROW = outbox.StatusRow(
    seq=1,
    instance_id=1,
    id_message="3EB0000000000000000A",
    post=MediaPost("http://127.0.0.1/a.jpg", "a.jpg", MediaKind.IMAGE),
    kind="image",
    state=StatusState.QUEUED,
    description=None,
    media_id=None,
    created_at=100.0,
    updated_at=100.0,
    expires_at=1000.0,
    attempts=0,
    not_before=None,
    lease_owner=None,
    lease_expires_at=None,
    recipients=None,
    skipped_participants=None,
    sent_at=None,
)


def test_the_wait_starts_at_base_doubles_and_stops_at_the_cap() -> None:
    waits: list[float] = []
    wait: float | None = None
    for _ in range(6):
        wait = next_wait(wait, 5, 60)
        waits.append(wait)
    assert waits == [5, 10, 20, 40, 60, 60]
    assert next_wait(None, 5, 2) == 2  # a cap below the base wins
    assert next_wait(-3.0, 5, 60) == 5  # a retry time already past when the status was claimed again


def test_a_queued_status_remembers_its_last_wait() -> None:
    assert previous_wait(ROW) is None
    waited = dataclasses.replace(ROW, updated_at=100.0, not_before=120.0)
    assert previous_wait(waited) == 20.0
    # a send retry's not_before (on a ready status) is not a wait for disk space
    assert previous_wait(dataclasses.replace(waited, state=StatusState.READY)) is None


def test_no_space_is_found_where_converters_hide_it() -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    assert no_space_cause(full) is full
    assert no_space_cause(OSError(errno.EDQUOT, "Disk quota exceeded")) is not None
    assert no_space_cause(StorageFullError()) is not None

    def convert() -> None:  # as the converters do: their user-facing error, from None
        try:
            raise full
        except OSError:
            raise MediaError("urlFile returned a damaged video file") from None

    with pytest.raises(MediaError) as wrapped:
        convert()
    assert no_space_cause(wrapped.value) is full
    assert no_space_cause(OSError(errno.EACCES, "Permission denied")) is None
    assert no_space_cause(MediaError("urlFile answered HTTP 404")) is None


def test_a_chain_that_loops_ends() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    assert no_space_cause(first) is None


def test_the_media_store_raises_a_full_disk_as_storage_full() -> None:
    with pytest.raises(StorageFullError) as raised, translating_no_space():
        raise OSError(errno.ENOSPC, "No space left on device")
    assert isinstance(raised.value.__cause__, OSError)
    with pytest.raises(PermissionError), translating_no_space():
        raise PermissionError(errno.EACCES, "Permission denied")


async def test_a_database_without_room_raises_storage_full_and_keeps_nothing(tmp_path: Path) -> None:
    """SQLite's own "database or disk is full" (a page limit makes it), as the database handle reports it."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'full.db'}")
    await db.write(lambda conn: conn.exec_driver_sql("CREATE TABLE t (data BLOB)"))

    def too_big(conn: sa.Connection) -> None:
        conn.exec_driver_sql("INSERT INTO t VALUES (zeroblob(10))")
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
        conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
        conn.exec_driver_sql("INSERT INTO t VALUES (zeroblob(100000))")

    try:
        with pytest.raises(StorageFullError) as raised:
            await db.write(too_big)
        assert isinstance(raised.value.__cause__, sa.exc.OperationalError)
        assert isinstance(raised.value.__cause__.orig, sqlite3.OperationalError)
        assert await db.read(lambda conn: conn.exec_driver_sql("SELECT count(*) FROM t").scalar()) == 0
        with pytest.raises(sa.exc.OperationalError):  # any other error passes unchanged
            await db.write(lambda conn: conn.exec_driver_sql("SELECT * FROM missing"))
    finally:
        await db.dispose()


async def test_only_leases_in_hand_are_renewed_and_a_waiting_status_is_not_prepared_early(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'queue.db'}")
    await migrate.upgrade(db)

    def setup(conn: sa.Connection) -> list[int]:
        conn.execute(
            instances.insert().values(
                id_instance=1,
                engine="sandbox",
                token_hash="0" * 64,
                status_access=True,
                settings={},
                created_at=0,
            )
        )
        post = MediaPost("http://127.0.0.1/a.jpg", "a.jpg", MediaKind.IMAGE)
        new = [intake.NewStatus(1, f"3EB0{n:016X}", post, 10.0, 1e12) for n in range(3)]
        intake.enqueue_many(conn, new)
        seqs = [row.seq for row in outbox.list_pending(conn, 1, 10)]
        for seq in seqs:
            outbox.transition(
                conn,
                seq,
                StatusState.QUEUED,
                StatusState.PREPARING,
                20.0,
                lease_owner="me",
                lease_expires_at=50.0,
            )
        # the last one waits for disk space until 200
        outbox.transition(
            conn,
            seqs[2],
            StatusState.PREPARING,
            StatusState.QUEUED,
            30.0,
            not_before=200.0,
            lease_owner=None,
            lease_expires_at=None,
        )
        return seqs

    try:
        seqs = await db.write(setup)
        await db.write(status_leases.renew_leases, "me", [seqs[0]], 3600)
        leases = [row.lease_expires_at for row in await db.read(outbox.list_pending, 1, 10)]
        # renewed by the database's clock: an hour from now
        assert leases[0] is not None and abs(leases[0] - (time.time() + 3600)) < 60
        assert leases[1:] == [50.0, None]
        # once its lease lapsed, the preparation whose task ended unrecorded is offered again
        assert [row.seq for row in await db.read(status_leases.to_prepare, 100.0, 10)] == [seqs[1]]
        assert [row.seq for row in await db.read(status_leases.to_prepare, 200.0, 10)] == [seqs[1], seqs[2]]
    finally:
        await db.dispose()
