"""Per-recipient statistics (sent → delivered → read) and the outgoing journal built on them."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.notifications import Notification, StatusReceiptChanged
from statusgate.domain.states import ReceiptStatus, StatusState
from statusgate.store import notifications
from statusgate.store.outbox import StatusRow, row_from_db
from statusgate.store.schema.statuses import status_recipients, statuses


def record_sent(conn: Connection, seq: int, recipients: list[str], now: float) -> None:
    if recipients:
        conn.execute(
            _INSERT_RECIPIENT,
            [
                {"status_seq": seq, "participant": p, "status": ReceiptStatus.SENT.value, "updated_at": now}
                for p in recipients
            ],
        )


def record_sent_many(conn: Connection, sends: Sequence[tuple[int, list[str], float]]) -> None:
    """:func:`record_sent` for (status, recipients, at) triples, in one statement."""
    rows = [
        {"status_seq": seq, "participant": p, "status": ReceiptStatus.SENT.value, "updated_at": at}
        for seq, recipients, at in sends
        for p in recipients
    ]
    if rows:
        conn.execute(_INSERT_RECIPIENT, rows)


_INSERT_RECIPIENT = status_recipients.insert()
#: a receipt is the status' newest action unless a later one came first
_TOUCH = (
    statuses.update()
    .where(statuses.c.seq == sa.bindparam("w_seq"))
    .values(
        last_action_at=sa.case(
            (statuses.c.last_action_at < sa.bindparam("v_at"), sa.bindparam("v_at")),
            else_=statuses.c.last_action_at,
        )
    )
)


def apply_receipt(
    conn: Connection,
    seq: int,
    participant: str,
    status: ReceiptStatus,
    at: float,
    *,
    create_missing: bool = False,
) -> bool:
    """Move a recipient's row forward (sent → delivered → read); never backwards, never for non-recipients.

    ``create_missing``: the engine chose the audience itself (whatsapp), so the statistics learn who got the
    status from its receipts: an unknown participant first gets a ``sent`` row, then moves forward."""
    (moved,) = apply_receipts(conn, [Receipt(seq, participant, status, at)], create_missing=create_missing)
    return moved


@dataclass(frozen=True)
class Receipt:
    """A recipient's receipt for the status ``seq``."""

    seq: int
    participant: str
    status: ReceiptStatus
    at: float


def apply_receipts(
    conn: Connection, receipts: Sequence[Receipt], *, create_missing: bool = False
) -> list[bool]:
    """:func:`apply_receipt` for a group, in their order, in a few statements whatever their number: each
    receipt's rows are read first (locked on PostgreSQL; SQLite's write transaction holds the lock from its
    start), so which ones move forward is known before anything is written."""
    seqs = sorted({receipt.seq for receipt in receipts})
    current: dict[tuple[int, str], ReceiptStatus] = {}
    owners: dict[int, tuple[int, str]] = {}
    for start in range(0, len(seqs), 500):
        chunk = {"seqs": seqs[start : start + 500]}
        for row in conn.execute(_recipient_rows(conn.dialect.name), chunk):
            current[(row.status_seq, row.participant)] = ReceiptStatus(row.status)
        for status_row in conn.execute(_OWNERS, chunk):
            owners[status_row.seq] = (status_row.instance_id, status_row.id_message)
    created: list[dict[str, Any]] = []
    advances: list[dict[str, Any]] = []
    touches: list[dict[str, Any]] = []
    facts: list[Notification] = []
    answers: list[bool] = []
    for receipt in receipts:
        key = (receipt.seq, receipt.participant)
        owner = owners.get(receipt.seq)
        reached = current.get(key)
        if reached is None and create_missing and owner is not None:
            reached = current[key] = ReceiptStatus.SENT
            created.append(
                {
                    "status_seq": receipt.seq,
                    "participant": receipt.participant,
                    "status": reached.value,
                    "updated_at": receipt.at,
                }
            )
        if owner is None or reached is None or reached.rank >= receipt.status.rank:
            answers.append(False)
            continue
        current[key] = receipt.status
        advances.append(
            {
                "w_seq": receipt.seq,
                "w_participant": receipt.participant,
                "v_status": receipt.status.value,
                "v_at": receipt.at,
            }
        )
        touches.append({"w_seq": receipt.seq, "v_at": receipt.at})
        facts.append(
            StatusReceiptChanged(owner[0], owner[1], receipt.participant, receipt.status, receipt.at)
        )
        answers.append(True)
    if created:
        conn.execute(_INSERT_RECIPIENT, created)
    if advances:  # each known to move forward: the rows are locked, nobody moved them since
        conn.execute(_SET_RECIPIENT, advances)
    if touches:
        conn.execute(_TOUCH, touches)
    notifications.journal_many(conn, facts)
    return answers


@functools.cache
def _recipient_rows(dialect: str) -> sa.Select[tuple[int, str, str]]:
    query = sa.select(
        status_recipients.c.status_seq, status_recipients.c.participant, status_recipients.c.status
    ).where(status_recipients.c.status_seq.in_(sa.bindparam("seqs", expanding=True)))
    if dialect == "postgresql":
        query = query.order_by(
            status_recipients.c.status_seq, status_recipients.c.participant
        ).with_for_update()
    return query


_SET_RECIPIENT = (
    status_recipients.update()
    .where(
        status_recipients.c.status_seq == sa.bindparam("w_seq"),
        status_recipients.c.participant == sa.bindparam("w_participant"),
    )
    .values(
        status=sa.bindparam("v_status"),
        updated_at=sa.bindparam("v_at"),
        # every move forward is to delivered or read, and a read status was delivered
        delivered_at=sa.func.coalesce(status_recipients.c.delivered_at, sa.bindparam("v_at")),
        read_at=sa.case(
            (sa.bindparam("v_status") == ReceiptStatus.READ.value, sa.bindparam("v_at")),
            else_=status_recipients.c.read_at,
        ),
    )
)
_OWNERS = sa.select(statuses.c.seq, statuses.c.instance_id, statuses.c.id_message).where(
    statuses.c.seq.in_(sa.bindparam("seqs", expanding=True))
)


def statistics(conn: Connection, seq: int) -> list[tuple[str, str, float]]:
    rows = conn.execute(
        sa.select(status_recipients.c.participant, status_recipients.c.status, status_recipients.c.updated_at)
        .where(status_recipients.c.status_seq == seq)
        .order_by(status_recipients.c.participant)
    )
    return [(r.participant, r.status, r.updated_at) for r in rows]


@dataclass(frozen=True)
class Viewer:
    """One recipient of a status: where its receipts reached and when."""

    participant: str
    status: ReceiptStatus
    updated_at: float
    delivered_at: float | None
    read_at: float | None


def viewers(conn: Connection, seq: int) -> list[Viewer]:
    rows = conn.execute(
        sa.select(status_recipients)
        .where(status_recipients.c.status_seq == seq)
        .order_by(status_recipients.c.participant)
    )
    return [
        Viewer(r.participant, ReceiptStatus(r.status), r.updated_at, r.delivered_at, r.read_at) for r in rows
    ]


def journal(conn: Connection, instance_id: int, since: float) -> list[tuple[StatusRow, str | None]]:
    """Statuses with an action since ``since`` (deleted ones excluded), oldest first, each with the
    furthest receipt any recipient reached (None before anyone did)."""
    rank = sa.case(
        (status_recipients.c.status == ReceiptStatus.READ.value, 2),
        (status_recipients.c.status == ReceiptStatus.DELIVERED.value, 1),
        else_=0,
    )
    best = (
        sa.select(status_recipients.c.status_seq, sa.func.max(rank).label("best"))
        .group_by(status_recipients.c.status_seq)
        .subquery()
    )
    rows = conn.execute(
        sa.select(statuses, best.c.best)
        .outerjoin(best, best.c.status_seq == statuses.c.seq)
        .where(
            statuses.c.instance_id == instance_id,
            statuses.c.state != StatusState.DELETED.value,
            statuses.c.last_action_at >= since,
        )
        .order_by(statuses.c.seq)
    )
    names = {0: ReceiptStatus.SENT.value, 1: ReceiptStatus.DELIVERED.value, 2: ReceiptStatus.READ.value}
    return [(row_from_db(r), None if r.best is None else names[int(r.best)]) for r in rows]
