"""Which worker owns each instance: one at a time, for a lease counted on the database's clock.

The owner alone connects an instance's live session, sends its statuses (so its pace and order hold however
many workers run), carries out its commands and applies its events. Every change of hands raises the row's
``epoch``; the writes that matter first check, in their own transaction, that the writer still holds the
epoch it was given (:func:`holds`), so a worker that stalled past its lease and came back is refused rather
than believed.

Leases are compared with the database's clock, never with a machine's: workers on several machines disagree
about the time, the database is the one clock they share.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert

from statusgate.domain.ownership import Fence, Lease
from statusgate.errors import LeaseLostError
from statusgate.store.clock import clock, clock_sql
from statusgate.store.schema.instances import instance_owners, instances, workers


def renew(conn: Connection, worker_id: str, ttl: float) -> list[Lease]:
    """Extend every lease ``worker_id`` still holds; those it holds after this, the lapsed ones left out
    (another worker may have taken them, and their epoch is no longer ours to trust)."""
    now_sql = clock(conn)
    rows = conn.execute(
        instance_owners.update()
        .where(instance_owners.c.worker_id == worker_id, instance_owners.c.expires_at >= now_sql)
        .values(expires_at=now_sql + ttl)
        .returning(instance_owners.c.instance_id, instance_owners.c.epoch)
    )
    return sorted(Lease(row.instance_id, row.epoch) for row in rows)


def claim(conn: Connection, worker_id: str, ttl: float, limit: int) -> list[Lease]:
    """Take up to ``limit`` instances that no worker holds (never held, released, or lapsed), lowest ids
    first; each taken lease's epoch is one more than the last."""
    if limit <= 0:
        return []
    _add_missing_rows(conn)
    now_sql = clock(conn)
    free = sa.or_(instance_owners.c.worker_id.is_(None), instance_owners.c.expires_at < now_sql)
    candidates = (
        sa.select(instance_owners.c.instance_id)
        .where(free)
        .order_by(instance_owners.c.instance_id)
        .limit(limit)
        # workers claiming at once take different rows rather than queueing behind each other's locks
        .with_for_update(skip_locked=True)
    )
    chosen = list(conn.scalars(candidates))
    if not chosen:
        return []
    rows = conn.execute(
        instance_owners.update()
        .where(instance_owners.c.instance_id.in_(chosen), free)
        .values(worker_id=worker_id, epoch=instance_owners.c.epoch + 1, expires_at=now_sql + ttl)
        .returning(instance_owners.c.instance_id, instance_owners.c.epoch)
    )
    return sorted(Lease(row.instance_id, row.epoch) for row in rows)


def _add_missing_rows(conn: Connection) -> None:
    """A row for every instance that has none yet (created since the last claim), unowned."""
    missing = sa.select(
        instances.c.id_instance, sa.null(), sa.literal(0, sa.BigInteger), sa.literal(0.0, sa.Float)
    ).where(~sa.exists().where(instance_owners.c.instance_id == instances.c.id_instance))
    insert = instance_owners.insert().from_select(
        ["instance_id", "worker_id", "epoch", "expires_at"], missing
    )
    if conn.dialect.name == "postgresql":
        # two workers adding the same new instance's row: the second one's is simply not needed
        insert = (
            pg_insert(instance_owners)
            .from_select(["instance_id", "worker_id", "epoch", "expires_at"], missing)
            .on_conflict_do_nothing()
        )
    conn.execute(insert)


def release(conn: Connection, worker_id: str | None, instance_ids: list[int] | None = None) -> int:
    """``worker_id`` gives up ``instance_ids`` (None: all it holds; ``worker_id`` None: every worker's), so
    that another worker can take them at once; the epoch stays, and the next owner's is one more."""
    query = instance_owners.update().where(instance_owners.c.worker_id.is_not(None))
    if worker_id is not None:
        query = query.where(instance_owners.c.worker_id == worker_id)
    if instance_ids is not None:
        query = query.where(instance_owners.c.instance_id.in_(instance_ids))
    return int(conn.execute(query.values(worker_id=None, expires_at=0.0)).rowcount)


def holds(conn: Connection, fence: Fence) -> bool:
    """Whether ``fence``'s worker still holds its lease now; the row stays locked (PostgreSQL) until the
    caller's transaction ends, so no other worker can take the instance over before what the caller writes
    commits."""
    lease = fence.lease
    params = {"instance_id": lease.instance_id, "worker_id": fence.owner, "epoch": lease.epoch}
    return conn.execute(_holds_statement(conn.dialect.name), params).first() is not None


def require(conn: Connection, fence: Fence) -> None:
    """:func:`holds`, or :class:`~statusgate.errors.LeaseLostError` (for writes that must not happen at all
    from a stale owner)."""
    if not holds(conn, fence):
        raise LeaseLostError(
            f"this worker no longer holds instance {fence.lease.instance_id}'s lease "
            f"(epoch {fence.lease.epoch}): nothing was written"
        )


@functools.cache
def _holds_statement(dialect: str) -> sa.Select[tuple[int]]:
    # built once per dialect: every send's claim and result runs it, and building (and cache-keying) a
    # statement costs several times more than running it
    query = sa.select(instance_owners.c.instance_id).where(
        instance_owners.c.instance_id == sa.bindparam("instance_id"),
        instance_owners.c.worker_id == sa.bindparam("worker_id"),
        instance_owners.c.epoch == sa.bindparam("epoch"),
        instance_owners.c.expires_at >= clock_sql(dialect),
    )
    if dialect == "postgresql":
        query = query.with_for_update(read=True)
    return query


def holding(conn: Connection, fences: Sequence[Fence]) -> set[Fence]:
    """:func:`holds` for a group of fences in one statement per owner (and per 500 instances): those that
    still hold, their rows locked (PostgreSQL) until the caller's transaction ends."""
    wanted: dict[str, dict[int, set[int]]] = {}  # owner → instance → the epochs asked about
    for fence in fences:
        wanted.setdefault(fence.owner, {}).setdefault(fence.lease.instance_id, set()).add(fence.lease.epoch)
    statement = _holding_statement(conn.dialect.name)
    current: set[tuple[str, int, int]] = set()
    for worker_id, epochs in wanted.items():
        ids = sorted(epochs)
        for start in range(0, len(ids), 500):
            rows = conn.execute(statement, {"worker_id": worker_id, "instance_ids": ids[start : start + 500]})
            current.update((worker_id, row.instance_id, row.epoch) for row in rows)
    return {f for f in fences if (f.owner, f.lease.instance_id, f.lease.epoch) in current}


@functools.cache
def _holding_statement(dialect: str) -> sa.Select[tuple[int, int]]:
    query = sa.select(instance_owners.c.instance_id, instance_owners.c.epoch).where(
        instance_owners.c.instance_id.in_(sa.bindparam("instance_ids", expanding=True)),
        instance_owners.c.worker_id == sa.bindparam("worker_id"),
        instance_owners.c.expires_at >= clock_sql(dialect),
    )
    if dialect == "postgresql":
        # in one order, so two transactions locking overlapping groups never deadlock
        query = query.order_by(instance_owners.c.instance_id).with_for_update(read=True)
    return query


def owner(conn: Connection, instance_id: int) -> str | None:
    """The worker holding ``instance_id`` now, if any holds it."""
    return conn.scalar(
        sa.select(instance_owners.c.worker_id).where(
            instance_owners.c.instance_id == instance_id,
            instance_owners.c.worker_id.is_not(None),
            instance_owners.c.expires_at >= clock(conn),
        )
    )


@dataclass(frozen=True)
class Census:
    instances: int
    #: how many instances each live worker holds
    holdings: tuple[int, ...]
    #: how many of them the worker that asked holds (0 if it asked for none)
    mine: int = 0

    @property
    def live_workers(self) -> int:
        return len(self.holdings)

    def share(self) -> int:
        """The most instances one worker should hold: all of them divided fairly, rounded up."""
        return -(-self.instances // max(1, self.live_workers))

    def floor(self) -> int:
        """The fewest instances one worker should hold: all of them divided fairly, rounded down."""
        return self.instances // max(1, self.live_workers)

    def someone_short(self) -> bool:
        """Whether a live worker holds fewer than :meth:`floor` (it cannot get more while the others hold
        their rounded-up shares and nothing is free)."""
        return bool(self.holdings) and min(self.holdings) < self.floor()


def census(conn: Connection, within: float, worker_id: str | None = None) -> Census:
    """How many instances there are, and how many each worker that heartbeated in the last ``within``
    seconds holds (``worker_id``'s own count as ``mine``)."""
    now_sql = clock(conn)
    count = sa.select(sa.func.count()).select_from(instances).scalar_subquery()
    holdings = conn.execute(
        sa.select(workers.c.worker_id, sa.func.count(instance_owners.c.instance_id))
        .select_from(
            workers.outerjoin(
                instance_owners,
                sa.and_(
                    instance_owners.c.worker_id == workers.c.worker_id,
                    instance_owners.c.expires_at >= now_sql,
                ),
            )
        )
        .where(workers.c.heartbeat_at >= now_sql - within)
        .group_by(workers.c.worker_id)
    ).all()
    mine = next((int(row[1]) for row in holdings if row[0] == worker_id), 0)
    return Census(int(conn.scalar(sa.select(count)) or 0), tuple(int(row[1]) for row in holdings), mine)
