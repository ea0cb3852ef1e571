"""The intake's write: accepted statuses join their instances' queues, many in one transaction.

sendTextStatus, sendVoiceStatus and sendMediaStatus hand their statuses to the intake's group commit
(``store.batch.Batcher``), which writes each group with :func:`enqueue_many`. The statuses' later moves are
the outbox's (``store.outbox``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.posts import StatusPost, media_kind, source, status_type
from statusgate.domain.states import StatusState
from statusgate.store import posts, signals
from statusgate.store.schema.instances import instances
from statusgate.store.schema.statuses import status_events, statuses


@dataclass(frozen=True)
class NewStatus:
    instance_id: int
    id_message: str
    post: StatusPost
    now: float
    expires_at: float


# built once: the intake runs these for every accepted status, and building (and cache-keying) a statement
# costs more than executing it
_INSERT_STATUSES = statuses.insert()
_INSERT_STATUSES_RETURNING = statuses.insert().returning(statuses.c.seq, sort_by_parameter_order=True)
_LAST_SEQ = sa.select(sa.func.max(statuses.c.seq))
_LOCK_INSTANCES = (
    sa.select(instances.c.id_instance)
    .where(instances.c.id_instance.in_(sa.bindparam("ids", expanding=True)))
    .order_by(instances.c.id_instance)
    .with_for_update()
)
_INSERT_EVENTS = status_events.insert()


def enqueue_many(conn: Connection, items: list[NewStatus]) -> list[None]:
    """Queue several statuses in a fixed number of statements, whatever their number (the intake's group commit).

    A status with nothing to prepare (no file: a text status) is ready at once: queued, then ready.
    """
    if not items:
        return []
    ready = [source(item.post) is None for item in items]
    rows = [
        {
            "instance_id": item.instance_id,
            "id_message": item.id_message,
            "type": status_type(item.post).value,
            "body": posts.to_stored(item.post),
            "kind": _kind(item.post),
            "state": (StatusState.READY if is_ready else StatusState.QUEUED).value,
            "created_at": item.now,
            "updated_at": item.now,
            "expires_at": item.expires_at,
            "attempts": 0,
            "last_action_at": item.now,
        }
        for item, is_ready in zip(items, ready, strict=True)
    ]
    seqs: Iterable[int]
    if conn.dialect.name == "sqlite":
        # Our SQLite transactions begin IMMEDIATE, so this one holds the database's only write lock and the
        # next seqs are ours to number: exactly those SQLite itself would pick (the rowid after the largest;
        # the table has no AUTOINCREMENT). A plain executemany is much cheaper than RETURNING's many-values
        # statement, which SQLAlchemy renders anew for each group (~15 µs less per accepted status).
        first = (conn.scalar(_LAST_SEQ) or 0) + 1
        seqs = range(first, first + len(rows))
        for seq, row in zip(seqs, rows, strict=True):
            row["seq"] = seq
        conn.execute(_INSERT_STATUSES, rows)
    else:
        # Several API nodes may queue for one instance at once: each group first locks its instances' rows,
        # so a later group's statuses get later seqs than an earlier group's — the queue's order is the
        # order the clients were answered in (the lock is held to the commit, which comes before the answer)
        conn.execute(_LOCK_INSTANCES, {"ids": sorted({item.instance_id for item in items})}).all()
        seqs = conn.execute(_INSERT_STATUSES_RETURNING, rows).scalars()
    events: list[dict[str, Any]] = []
    for seq, item, is_ready in zip(seqs, items, ready, strict=True):
        events.append(
            {"status_seq": seq, "state": StatusState.QUEUED.value, "at": item.now, "description": None}
        )
        if is_ready:
            events.append(
                {"status_seq": seq, "state": StatusState.READY.value, "at": item.now, "description": None}
            )
    conn.execute(_INSERT_EVENTS, events)
    signals.send(conn, signals.Signal.STATUS_QUEUED, {item.instance_id for item in items})
    return [None] * len(items)


def _kind(post: StatusPost) -> str | None:
    kind = media_kind(post)
    return None if kind is None else kind.value
