"""The notification journal: per instance, first in first out, until delivered or deleted.

Rows are appended in the same transaction as the fact they report (a status transition, a receipt, an
incoming status, a state change), so the journal can neither miss nor invent an event. Appending marks
the connection so the database layer can wake waiting long-polls and webhook senders after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.instance_settings import Switch
from statusgate.store.instances import settings_from_stored
from statusgate.store.schema import instances, notifications

#: key in ``Connection.info`` listing the instances that got notifications in the current transaction
NOTIFIED = "statusgate.notified"

#: key in ``Connection.info`` caching instances' settings for the current transaction
SETTINGS_CACHE = "statusgate.settings-cache"

#: notification types and the setting that switches each on
TYPE_SWITCH = {
    "outgoingMessageStatus": Switch.OUTGOING_WEBHOOK,
    "outgoingStatusReceipt": Switch.OUTGOING_WEBHOOK,
    "incomingStatusReceived": Switch.INCOMING_WEBHOOK,
    "stateInstanceChanged": Switch.STATE_WEBHOOK,
}


@dataclass(frozen=True)
class NotificationRow:
    instance_id: int
    receipt_id: int
    type: str
    payload: dict[str, Any]
    created_at: float
    attempts: int
    next_attempt_at: float


def _row(r: sa.Row[Any]) -> NotificationRow:
    return NotificationRow(
        r.instance_id, r.receipt_id, r.type, dict(r.payload), r.created_at, r.attempts, r.next_attempt_at
    )


# built once: this runs for every receipt and every status
_SETTINGS = sa.select(instances.c.settings).where(instances.c.id_instance == sa.bindparam("instance_id"))
_NEXT_RECEIPT_ID = (
    instances.update()
    .where(instances.c.id_instance == sa.bindparam("instance_id"))
    .values(last_receipt_id=instances.c.last_receipt_id + 1)
    .returning(instances.c.last_receipt_id)
)
_INSERT = notifications.insert()


def append(conn: Connection, instance_id: int, type_: str, payload: dict[str, Any], at: float) -> int | None:
    """Journal a notification if the instance's settings ask for its type; its receiptId, or None."""
    # many notifications of one instance are journaled per transaction: read its settings once
    cache: dict[int, Any] = conn.info.setdefault(SETTINGS_CACHE, {})
    if instance_id not in cache:
        stored = conn.scalar(_SETTINGS, {"instance_id": instance_id})
        cache[instance_id] = None if stored is None else settings_from_stored(stored)
    settings = cache[instance_id]
    if settings is None or not settings.on(TYPE_SWITCH[type_]):
        return None
    receipt_id = conn.scalar(_NEXT_RECEIPT_ID, {"instance_id": instance_id})
    assert receipt_id is not None
    conn.execute(
        _INSERT,
        {
            "instance_id": instance_id,
            "receipt_id": receipt_id,
            "type": type_,
            "payload": payload,
            "created_at": at,
            "attempts": 0,
            "next_attempt_at": at,
        },
    )
    conn.info.setdefault(NOTIFIED, set()).add(instance_id)
    return int(receipt_id)


def head(conn: Connection, instance_id: int, now: float | None = None) -> NotificationRow | None:
    """The oldest notification of the instance (due by ``now`` when given)."""
    query = sa.select(notifications).where(notifications.c.instance_id == instance_id)
    if now is not None:
        query = query.where(notifications.c.next_attempt_at <= now)
    row = conn.execute(query.order_by(notifications.c.receipt_id).limit(1)).first()
    return _row(row) if row is not None else None


def oldest(conn: Connection, instance_id: int) -> NotificationRow | None:
    return head(conn, instance_id)


def oldest_n(conn: Connection, instance_id: int, limit: int) -> list[NotificationRow]:
    rows = conn.execute(
        sa.select(notifications)
        .where(notifications.c.instance_id == instance_id)
        .order_by(notifications.c.receipt_id)
        .limit(limit)
    )
    return [_row(r) for r in rows]


def remove_many(conn: Connection, instance_id: int, receipt_ids: list[int]) -> int:
    return conn.execute(
        notifications.delete().where(
            notifications.c.instance_id == instance_id, notifications.c.receipt_id.in_(receipt_ids)
        )
    ).rowcount


def remove(conn: Connection, instance_id: int, receipt_id: int) -> bool:
    result = conn.execute(
        notifications.delete().where(
            notifications.c.instance_id == instance_id, notifications.c.receipt_id == receipt_id
        )
    )
    return result.rowcount == 1


def count(conn: Connection, instance_id: int) -> int:
    return int(
        conn.scalar(
            sa.select(sa.func.count())
            .select_from(notifications)
            .where(notifications.c.instance_id == instance_id)
        )
        or 0
    )


def clear(conn: Connection, instance_id: int) -> int:
    return conn.execute(notifications.delete().where(notifications.c.instance_id == instance_id)).rowcount


def postpone(conn: Connection, instance_id: int, receipt_id: int, next_attempt_at: float, error: str) -> None:
    conn.execute(
        notifications.update()
        .where(notifications.c.instance_id == instance_id, notifications.c.receipt_id == receipt_id)
        .values(attempts=notifications.c.attempts + 1, next_attempt_at=next_attempt_at, last_error=error)
    )


def instances_with_pending(conn: Connection) -> list[int]:
    return list(conn.scalars(sa.select(notifications.c.instance_id).distinct()).all())


def webhook_instances_with_pending(conn: Connection) -> list[int]:
    """Instances that have notifications waiting and a webhookUrl to send them to."""
    pending = sa.select(notifications.c.instance_id).distinct().subquery()
    rows = conn.execute(
        sa.select(instances.c.id_instance, instances.c.settings).join(
            pending, pending.c.instance_id == instances.c.id_instance
        )
    )
    return [r.id_instance for r in rows if (r.settings or {}).get("webhookUrl")]


def expire(conn: Connection, created_before: float) -> int:
    """Drop notifications nobody took within the retention (Green keeps them 24 h)."""
    return conn.execute(notifications.delete().where(notifications.c.created_at < created_before)).rowcount
