"""Who works on a status: a lease on its row (owner and expiry, counted on the database's clock), and the
statuses a preparer may take up — queued ones, and preparations whose worker's lease ran out."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.states import PENDING_STATES, StatusState
from statusgate.store import clock
from statusgate.store.outbox import StatusRow, row_from_db
from statusgate.store.schema.statuses import statuses

_PENDING = [s.value for s in PENDING_STATES]


def to_prepare(conn: Connection, now: float, limit: int) -> list[StatusRow]:
    """Queued statuses whose retry time (if any) has come, oldest first, plus preparations whose worker
    died (lease expired).

    Two queries on the (state, seq) index rather than one OR, which would scan the whole table. Only a
    preparation that waits for disk space gives a queued status a ``not_before``. ``now`` is the caller's
    clock, for that retry time; whether a lease has expired is the database's clock's to say (every
    worker's lease is counted on it, whatever machine it runs on).
    """
    queued = conn.execute(_QUEUED_TO_PREPARE, {"now": now, "limit": limit})
    orphaned = conn.execute(_ORPHANED_PREPARATIONS, {"now": clock.now(conn), "limit": limit})
    rows = sorted(
        [row_from_db(r) for r in queued] + [row_from_db(r) for r in orphaned], key=lambda row: row.seq
    )
    return rows[:limit]


_QUEUED_TO_PREPARE = (
    sa.select(statuses)
    .where(
        statuses.c.state == StatusState.QUEUED.value,
        sa.or_(statuses.c.not_before.is_(None), statuses.c.not_before <= sa.bindparam("now")),
    )
    .order_by(statuses.c.seq)
    .limit(sa.bindparam("limit"))
)
_ORPHANED_PREPARATIONS = (
    sa.select(statuses)
    .where(
        statuses.c.state == StatusState.PREPARING.value,
        sa.or_(statuses.c.lease_expires_at.is_(None), statuses.c.lease_expires_at < sa.bindparam("now")),
    )
    .order_by(statuses.c.seq)
    .limit(sa.bindparam("limit"))
)


def take_lease(conn: Connection, seq: int, state: StatusState, owner: str, lease_seconds: float) -> bool:
    """Take the lease on a status still in ``state`` whose lease is free, expired, or already ours, for
    ``lease_seconds`` (leases are counted on the database's clock)."""
    db_now = clock.now(conn)
    values = {"w_seq": seq, "w_state": state.value, "w_owner": owner, "w_now": db_now}
    result = conn.execute(_TAKE_LEASE, values | {"v_until": db_now + lease_seconds})
    return result.rowcount == 1


_TAKE_LEASE = (
    statuses.update()
    .where(
        statuses.c.seq == sa.bindparam("w_seq"),
        statuses.c.state == sa.bindparam("w_state"),
        sa.or_(
            statuses.c.lease_owner.is_(None),
            statuses.c.lease_owner == sa.bindparam("w_owner"),
            statuses.c.lease_expires_at < sa.bindparam("w_now"),
        ),
    )
    .values(lease_owner=sa.bindparam("w_owner"), lease_expires_at=sa.bindparam("v_until"))
)


def renew_leases(conn: Connection, owner: str, seqs: list[int], lease_seconds: float) -> None:
    """Extend ``owner``'s leases on ``seqs`` only, to ``lease_seconds`` from now by the database's clock: a
    lease whose work ended without a record then lapses, and another worker takes the status up, instead
    of a heartbeat holding it for ever."""
    until = clock.now(conn) + lease_seconds
    for start in range(0, len(seqs), 500):
        conn.execute(
            statuses.update()
            .where(
                statuses.c.lease_owner == owner,
                statuses.c.seq.in_(seqs[start : start + 500]),
                statuses.c.state.in_(_PENDING),
            )
            .values(lease_expires_at=until)
        )


def release_leases(conn: Connection, owner: str) -> None:
    conn.execute(
        statuses.update()
        .where(statuses.c.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


def release_all_leases(conn: Connection) -> None:
    conn.execute(
        statuses.update()
        .where(statuses.c.lease_owner.is_not(None))
        .values(lease_owner=None, lease_expires_at=None)
    )
