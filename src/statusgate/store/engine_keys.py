"""An account's session keys as its engine keeps them (``engine_keys``): read many, write many, wipe.

The baileys engine keeps Baileys' creds and signal keys here rather than in files on one machine, so that
any worker can take an account over when its owner dies. The values are opaque text (the engine's own
serialisation); a key is named by its category and its id within it.

Every write is the owner's alone: in its own transaction it first checks that the writer still holds the
instance's lease at the epoch it was given (``ownership.holds``, which on PostgreSQL also keeps the lease's
row locked until the write commits), and otherwise raises :class:`~statusgate.errors.LeaseLostError`,
having written nothing. Two sessions of one account would log each other out, and a stale owner's keys
written over the new owner's would break the new one's sessions. Reads are not fenced: they change nothing,
and the owner's child is the only reader.

Deleting the instance removes its keys (``ON DELETE CASCADE``); logging out wipes them (:func:`wipe`).

Statements are built once per dialect: the sessions' traffic runs them all the time, and building a Core
statement costs more than running it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from statusgate.domain.ownership import Fence
from statusgate.store import ownership
from statusgate.store.clock import clock_sql
from statusgate.store.schema.instances import engine_keys

#: ids read per statement (well under every driver's limit on parameters)
READ_CHUNK = 500


@dataclass(frozen=True)
class KeyWrite:
    category: str
    key_id: str
    #: None deletes the key
    value: str | None


def read(conn: Connection, instance_id: int, category: str, key_ids: Sequence[str]) -> dict[str, str]:
    """The stored values of ``key_ids`` in ``category``, by id; an id with no value is left out."""
    found: dict[str, str] = {}
    wanted = sorted(set(key_ids))
    for start in range(0, len(wanted), READ_CHUNK):
        params = {
            "instance_id": instance_id,
            "category": category,
            "key_ids": wanted[start : start + READ_CHUNK],
        }
        found.update((row.key_id, row.value) for row in conn.execute(_READ, params))
    return found


def count(conn: Connection, instance_id: int) -> int:
    """How many keys the instance has (0: nothing of its session is stored)."""
    return int(conn.scalar(_COUNT, {"instance_id": instance_id}) or 0)


def having(conn: Connection, category: str, key_id: str, instance_ids: Sequence[int]) -> set[int]:
    """Which of ``instance_ids`` have the key ``key_id`` of ``category`` (an engine's sign of a linked
    account): one statement per :data:`READ_CHUNK` ids, not one per instance."""
    table = engine_keys
    found: set[int] = set()
    wanted = sorted(set(instance_ids))
    for start in range(0, len(wanted), READ_CHUNK):
        query = sa.select(table.c.instance_id).where(
            table.c.category == category,
            table.c.key_id == key_id,
            table.c.instance_id.in_(wanted[start : start + READ_CHUNK]),
        )
        found.update(conn.scalars(query))
    return found


def write(conn: Connection, fence: Fence, writes: Sequence[KeyWrite]) -> None:
    """Store or delete (a ``None`` value) each key, in the order given (a later write of a key wins), if
    ``fence`` still holds the instance's lease; otherwise :class:`LeaseLostError`, nothing written."""
    ownership.require(conn, fence)
    instance_id = fence.lease.instance_id
    last: dict[tuple[str, str], str | None] = {}
    for change in writes:
        last[(change.category, change.key_id)] = change.value
    # one statement per kind of change, each key once: PostgreSQL refuses an upsert of many rows that
    # touches one row twice
    stored: list[dict[str, Any]] = []
    deleted: list[dict[str, Any]] = []
    for (category, key_id), value in last.items():
        row = {"instance_id": instance_id, "category": category, "key_id": key_id}
        if value is None:
            deleted.append(row)
        else:
            stored.append(row | {"value": value})
    if deleted:
        conn.execute(_DELETE_ONE, deleted)
    if stored:
        conn.execute(_upsert_statement(conn.dialect.name), stored)


def wipe(conn: Connection, fence: Fence) -> int:
    """Delete every key of the instance (its session is over: logged out), if ``fence`` still holds its
    lease; otherwise :class:`LeaseLostError`, nothing deleted. How many there were."""
    ownership.require(conn, fence)
    return int(conn.execute(_DELETE_ALL, {"instance_id": fence.lease.instance_id}).rowcount)


_BY_INSTANCE = engine_keys.c.instance_id == sa.bindparam("instance_id")
_READ = sa.select(engine_keys.c.key_id, engine_keys.c.value).where(
    _BY_INSTANCE,
    engine_keys.c.category == sa.bindparam("category"),
    engine_keys.c.key_id.in_(sa.bindparam("key_ids", expanding=True)),
)
_COUNT = sa.select(sa.func.count()).select_from(engine_keys).where(_BY_INSTANCE)
_DELETE_ONE = engine_keys.delete().where(
    _BY_INSTANCE,
    engine_keys.c.category == sa.bindparam("category"),
    engine_keys.c.key_id == sa.bindparam("key_id"),
)
_DELETE_ALL = engine_keys.delete().where(_BY_INSTANCE)


@functools.cache
def _upsert_statement(dialect: str) -> Any:
    insert = pg_insert(engine_keys) if dialect == "postgresql" else sqlite_insert(engine_keys)
    values = insert.values(
        instance_id=sa.bindparam("instance_id"),
        category=sa.bindparam("category"),
        key_id=sa.bindparam("key_id"),
        value=sa.bindparam("value"),
        updated_at=clock_sql(dialect),
    )
    return values.on_conflict_do_update(
        index_elements=[engine_keys.c.instance_id, engine_keys.c.category, engine_keys.c.key_id],
        set_={"value": values.excluded.value, "updated_at": values.excluded.updated_at},
    )
