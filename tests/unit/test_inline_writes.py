"""Inline writes (Database.write_inline): the intake's group commits on the event loop when SQLite's write lock
is free, and on the writer thread when it is not. Real SQLite files; another connection plays the other
process (a worker, the CLI) holding the lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from statusgate.store import migrate
from statusgate.store.batch import INLINE_GROUP_MAX, Batcher
from statusgate.store.db import _INLINE_CHECKPOINT_EVERY, Database, InlineWriteUnavailableError
from statusgate.store.schema.instances import workers


def _url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'statusgate.db'}"
    migrate.upgrade_database(url)
    return url


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(_url(tmp_path))
    yield database
    await database.dispose()


def put(conn: sa.Connection, names: list[str]) -> list[str]:
    conn.execute(
        workers.insert(),
        [{"worker_id": n, "host": "h", "pid": 1, "started_at": 0, "heartbeat_at": 0} for n in names],
    )
    return [threading.current_thread().name] * len(names)


def names(conn: sa.Connection) -> list[str]:
    return sorted(conn.scalars(sa.select(workers.c.worker_id)))


def holder(tmp_path: Path) -> sqlite3.Connection:
    """Another connection, as another process would hold SQLite's write lock."""
    other = sqlite3.connect(tmp_path / "statusgate.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_an_inline_write_commits_on_the_event_loop(db: Database) -> None:
    announced: list[frozenset[int]] = []
    db.on_announced = announced.append
    assert db.write_inline(put, ["a"]) == [threading.current_thread().name]
    assert await db.read(names) == ["a"]

    def fails(conn: sa.Connection) -> None:
        put(conn, ["b"])
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        db.write_inline(fails)
    assert await db.read(names) == ["a"]


async def test_a_lock_held_elsewhere_sends_the_group_to_the_writer_thread(
    db: Database, tmp_path: Path
) -> None:
    db.write_inline(put, ["first"])  # the inline connection exists, and works
    other = holder(tmp_path)
    with pytest.raises(InlineWriteUnavailableError):
        db.write_inline(put, ["never"])
    batcher: Batcher[str, str] = Batcher(db, put, "test", inline=True)
    queued = asyncio.create_task(batcher.submit("waited"))
    await asyncio.sleep(0.3)
    assert not queued.done(), "written while another connection held the lock"
    other.execute("ROLLBACK")
    assert (await asyncio.wait_for(queued, 30)).startswith("statusgate-db-write")
    assert await db.read(names) == ["first", "waited"]
    # and once the lock is free the next group is inline again
    assert await batcher.submit("inline") == threading.current_thread().name


async def test_no_inline_writes_when_every_commit_is_an_fsync(tmp_path: Path) -> None:
    database = Database(_url(tmp_path), sqlite_synchronous="FULL")
    try:
        with pytest.raises(InlineWriteUnavailableError):
            database.write_inline(put, ["x"])
        assert (
            await Batcher(database, put, "test", inline=True).submit("x") != threading.current_thread().name
        )
    finally:
        await database.dispose()


async def test_checkpoints_handed_to_the_writer_thread_leave_every_connection_usable(db: Database) -> None:
    """A checkpoint must not run in a transaction of the writer's connection (its transactions begin
    IMMEDIATE: it would hold the write lock for good, and every later write would wait for it)."""
    for n in range(2 * _INLINE_CHECKPOINT_EVERY + 1):
        db.write_inline(put, [f"w{n}"])
    await db.write(put, ["thread"])  # queued behind the checkpoints the inline commits handed over
    db.write_inline(put, ["after"])
    assert len(await db.read(names)) == 2 * _INLINE_CHECKPOINT_EVERY + 3


@pytest.mark.parametrize(
    ("patience", "written_by"),
    [
        # the writer thread would have waited too; on the loop, the group is written the moment the lock is
        # free
        (20.0, "the loop"),
        # out of patience long before the lock is released: the writer thread waits for it instead
        (0.05, "the writer thread"),
    ],
)
async def test_a_batcher_waits_on_the_loop_for_a_lock_held_elsewhere_as_long_as_its_patience(
    db: Database, tmp_path: Path, patience: float, written_by: str
) -> None:
    db.write_inline(put, ["first"])
    other = holder(tmp_path)
    asyncio.get_running_loop().call_later(0.5, other.execute, "ROLLBACK")
    batcher: Batcher[str, str] = Batcher(db, put, "test", inline=True, lock_patience=patience)
    thread = await asyncio.wait_for(batcher.submit("waited"), 30)
    if written_by == "the loop":
        assert thread == threading.current_thread().name
    else:
        assert thread.startswith("statusgate-db-write")
    assert await db.read(names) == ["first", "waited"]


async def test_inline_groups_are_bounded_and_the_loop_runs_between_them(db: Database) -> None:
    seen: list[int | str] = []
    loop = asyncio.get_running_loop()

    def apply(conn: sa.Connection, items: list[str]) -> list[str]:
        if not seen:
            loop.call_soon(seen.append, "the loop ran")
        seen.append(len(items))
        return put(conn, items)

    batcher: Batcher[str, str] = Batcher(db, apply, "test", inline=True)
    count = 2 * INLINE_GROUP_MAX + 3
    await asyncio.gather(*(batcher.submit(f"w{n}") for n in range(count)))
    assert seen == [INLINE_GROUP_MAX, "the loop ran", INLINE_GROUP_MAX, 3]
    assert len(await db.read(names)) == count
