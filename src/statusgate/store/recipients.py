"""Per-recipient statistics (sent → delivered → read) and the outgoing journal built on them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.notifications import StatusReceiptChanged
from statusgate.domain.states import ReceiptStatus, StatusState
from statusgate.store import notifications
from statusgate.store.outbox import StatusRow, row_from_db
from statusgate.store.schema import status_recipients, statuses


def record_sent(conn: Connection, seq: int, recipients: list[str], now: float) -> None:
    if recipients:
        conn.execute(
            _INSERT_RECIPIENT,
            [
                {"status_seq": seq, "participant": p, "status": ReceiptStatus.SENT.value, "updated_at": now}
                for p in recipients
            ],
        )


_INSERT_RECIPIENT = status_recipients.insert()
_BEHIND = {status: [r.value for r in ReceiptStatus if r.rank < status.rank] for status in ReceiptStatus}
_ADVANCE_RECIPIENT = {
    status: status_recipients.update()
    .where(
        status_recipients.c.status_seq == sa.bindparam("w_seq"),
        status_recipients.c.participant == sa.bindparam("w_participant"),
        status_recipients.c.status.in_(_BEHIND[status]),
    )
    .values(status=status.value, updated_at=sa.bindparam("v_at"))
    for status in ReceiptStatus
}
_TOUCH = (
    statuses.update()
    .where(statuses.c.seq == sa.bindparam("w_seq"))
    .values(
        last_action_at=sa.case(
            (statuses.c.last_action_at < sa.bindparam("v_at"), sa.bindparam("v_at")),
            else_=statuses.c.last_action_at,
        )
    )
    .returning(statuses.c.instance_id, statuses.c.id_message)
)


_RECIPIENT_EXISTS = sa.select(status_recipients.c.participant).where(
    status_recipients.c.status_seq == sa.bindparam("w_seq"),
    status_recipients.c.participant == sa.bindparam("w_participant"),
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
    params = {"w_seq": seq, "w_participant": participant, "v_at": at}
    moved = conn.execute(_ADVANCE_RECIPIENT[status], params).rowcount
    if moved != 1 and create_missing and conn.scalar(_RECIPIENT_EXISTS, params) is None:
        record_sent(conn, seq, [participant], at)
        moved = conn.execute(_ADVANCE_RECIPIENT[status], params).rowcount
    if moved != 1:
        return False
    owner = conn.execute(_TOUCH, {"w_seq": seq, "v_at": at}).one()
    notifications.journal(
        conn, StatusReceiptChanged(owner.instance_id, owner.id_message, participant, status, at)
    )
    return True


def statistics(conn: Connection, seq: int) -> list[tuple[str, str, float]]:
    rows = conn.execute(
        sa.select(status_recipients.c.participant, status_recipients.c.status, status_recipients.c.updated_at)
        .where(status_recipients.c.status_seq == seq)
        .order_by(status_recipients.c.participant)
    )
    return [(r.participant, r.status, r.updated_at) for r in rows]


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
