"""The simulated network's records of what arrived: a group of posts taken in (or refused), and the
questions asked of those records (whether a message arrived, and to whom).

Every send that gets through is a new arrival, a repeat of a message id included: the network keeps no
repeat check, so these records count exactly what it received (the exactly-once oracle).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.ownership import Fence
from statusgate.domain.states import InstanceState, ReceiptStatus
from statusgate.engines.sandbox_accounts import account_from_row, account_rows, no_account
from statusgate.engines.sandbox_records import (
    Arrivals,
    Fault,
    SandboxError,
)
from statusgate.store import ownership
from statusgate.store.schema.sandbox import (
    sandbox_deliveries,
    sandbox_events,
    sandbox_faults,
    sandbox_messages,
    sandbox_users,
)

# built once: they run for every status the sandbox delivers
_FAULT = sa.select(sandbox_faults).where(sandbox_faults.c.instance_id == sa.bindparam("instance_id"))
_FAULTED = sa.select(sandbox_faults.c.instance_id).where(
    sandbox_faults.c.instance_id.in_(sa.bindparam("instance_ids", expanding=True))
)
_INSERT_MESSAGES = sandbox_messages.insert().returning(
    sandbox_messages.c.row_id, sort_by_parameter_order=True
)
_LAST_MESSAGE_ROW = sa.select(sa.func.max(sandbox_messages.c.row_id))
_FIRST_MESSAGE = (
    sa.select(sandbox_messages.c.row_id)
    .where(
        sandbox_messages.c.instance_id == sa.bindparam("instance_id"),
        sandbox_messages.c.message_id == sa.bindparam("message_id"),
    )
    .order_by(sandbox_messages.c.row_id)
    .limit(1)
)
_DELIVERED_TO = (
    sa.select(sandbox_deliveries.c.recipient)
    .where(sandbox_deliveries.c.message_row == sa.bindparam("row"))
    .order_by(sandbox_deliveries.c.row_id)
)
_REGISTERED = sa.select(sandbox_users.c.wid).where(
    sandbox_users.c.wid.in_(sa.bindparam("wids", expanding=True))
)
_INSERT_DELIVERY = sandbox_deliveries.insert()
_INSERT_EVENT = sandbox_events.insert()


def _take_fault(conn: Connection, instance_id: int) -> Fault | None:
    row = conn.execute(_FAULT, {"instance_id": instance_id}).first()
    if row is None or row.remaining <= 0:
        return None
    if row.remaining == 1:
        conn.execute(sandbox_faults.delete().where(sandbox_faults.c.instance_id == instance_id))
    else:
        conn.execute(
            sandbox_faults.update()
            .where(sandbox_faults.c.instance_id == instance_id)
            .values(remaining=row.remaining - 1)
        )
    return Fault(row.mode)


@dataclass(frozen=True)
class Post:
    instance_id: int
    message_id: str
    kind: str
    payload: dict[str, Any]
    recipients: tuple[str, ...]
    fence: Fence | None = None


#: a post refused because its worker no longer holds the instance
STALE_OWNER = "the sending worker no longer holds this instance (its lease lapsed or changed hands)"


@dataclass(frozen=True)
class Arrival:
    """A post the network took in: whom it reached, and when the network recorded it (its clock)."""

    recipients: list[str]
    at: float


Outcome = Arrival | Fault | SandboxError


def deliver_posts(conn: Connection, posts: Sequence[Post]) -> list[Outcome]:
    """Each post's outcome; the posts arriving together are recorded in a few statements whatever their
    number (the simulated network's bookkeeping is not what a benchmark of the gateway should measure)."""
    # The network receives the posts now, as it records them: an arrival is stamped when the network takes
    # it in, not when its sender's call began (between the two it waited its turn, as traffic on a real
    # network waits on the way).
    at = time.time()
    # The network checks the sender's lease in the very transaction that records the post (on PostgreSQL
    # the lease row stays locked until it commits): a worker that stalled past its lease and wakes up in
    # the middle of a send cannot post after another worker took the instance over.
    held = ownership.holding(conn, [post.fence for post in posts if post.fence is not None])
    instance_ids = sorted({post.instance_id for post in posts})
    faulted: set[int] = set()
    for start in range(0, len(instance_ids), 500):
        faulted.update(conn.scalars(_FAULTED, {"instance_ids": instance_ids[start : start + 500]}))
    accounts = account_rows(conn, instance_ids)
    outcomes: list[Outcome] = []
    accepted: list[tuple[int, Post, str]] = []  # (index, post, the sending account's own wid)
    for index, post in enumerate(posts):
        outcome = _refusal(conn, post, at, held, faulted, accounts)
        if isinstance(outcome, str):
            accepted.append((index, post, outcome))
            outcome = Arrival([], at)
        outcomes.append(outcome)
    if not accepted:
        return outcomes
    messages = [
        {
            "instance_id": post.instance_id,
            "message_id": post.message_id,
            "kind": post.kind,
            "payload": post.payload,
            "at": at,
        }
        for _, post, _ in accepted
    ]
    row_ids = _insert_messages(conn, messages)
    wanted = {index: [r for r in dict.fromkeys(post.recipients) if r != own] for index, post, own in accepted}
    everyone = sorted({r for recipients in wanted.values() for r in recipients})
    registered: set[str] = set()
    for start in range(0, len(everyone), 500):
        registered.update(conn.scalars(_REGISTERED, {"wids": everyone[start : start + 500]}).all())
    deliveries: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for (index, post, _), row_id in zip(accepted, row_ids, strict=True):
        delivered = [r for r in wanted[index] if r in registered]
        outcomes[index] = Arrival(delivered, at)
        deliveries.extend({"message_row": row_id, "recipient": r, "at": at} for r in delivered)
        events.extend(
            {
                "instance_id": post.instance_id,
                "kind": "receipt",
                "payload": {
                    "message_id": post.message_id,
                    "participant": r,
                    "status": ReceiptStatus.DELIVERED.value,
                },
                "at": at,
            }
            for r in delivered
        )
    if deliveries:
        conn.execute(_INSERT_DELIVERY, deliveries)
        conn.execute(_INSERT_EVENT, events)
    return outcomes


def _insert_messages(conn: Connection, messages: list[dict[str, Any]]) -> list[int]:
    """Insert the group's messages; their row ids, in order."""
    if conn.dialect.name != "sqlite":
        return list(conn.scalars(_INSERT_MESSAGES, messages).all())
    # SQLAlchemy runs an ordered RETURNING one row at a time on SQLite (a statement per post, ~5 % of a
    # dispatch run). This transaction holds SQLite's write lock from its start, so the ids SQLite would
    # choose are known: the largest so far plus one, plus two, …; given explicitly, one statement inserts all.
    first = (conn.scalar(_LAST_MESSAGE_ROW) or 0) + 1
    row_ids = list(range(first, first + len(messages)))
    conn.execute(
        sandbox_messages.insert(),
        [message | {"row_id": row_id} for message, row_id in zip(messages, row_ids, strict=True)],
    )
    return row_ids


def _refusal(
    conn: Connection,
    post: Post,
    at: float,
    held: set[Fence],
    faulted: set[int],
    accounts: dict[int, sa.Row[Any]],
) -> Outcome | str:
    """Why the network does not take ``post`` (a fault injected for it is used up here), or, taking it, the
    sending account's own wid."""
    if post.fence is not None and post.fence not in held:
        return SandboxError(STALE_OWNER)
    if post.instance_id in faulted:
        fault = _take_fault(conn, post.instance_id)
        if fault is not None:
            return fault
    row = accounts.get(post.instance_id)
    if row is None:
        return SandboxError(no_account(post.instance_id))
    account = account_from_row(row, at)
    if account.state is not InstanceState.AUTHORIZED:
        return SandboxError(f"account is {account.state.value}")
    return account.wid


def first_arrival(conn: Connection, instance_id: int, message_id: str) -> list[str] | None:
    first = conn.scalar(_FIRST_MESSAGE, {"instance_id": instance_id, "message_id": message_id})
    if first is None:
        return None
    return list(conn.scalars(_DELIVERED_TO, {"row": first}).all())


def arrivals(conn: Connection, instance_id: int) -> list[Arrivals]:
    first_at = sa.func.min(sandbox_deliveries.c.at)
    rows = conn.execute(
        sa.select(
            sandbox_messages.c.message_id,
            sandbox_deliveries.c.recipient,
            sa.func.count().label("arrived"),
            first_at.label("first_at"),
        )
        .join(sandbox_deliveries, sandbox_deliveries.c.message_row == sandbox_messages.c.row_id)
        .where(sandbox_messages.c.instance_id == instance_id)
        .group_by(sandbox_messages.c.message_id, sandbox_deliveries.c.recipient)
        .order_by(first_at, sa.func.min(sandbox_deliveries.c.row_id))
    )
    return [Arrivals(r.message_id, r.recipient, r.arrived, r.first_at) for r in rows]
