"""The notification journal: per instance, first in first out, until delivered or deleted.

:func:`journal` is the one way in: every notification is a typed fact
(:mod:`statusgate.domain.notifications`) journaled in the same transaction as the thing it reports (a status
transition, a receipt, an incoming status, a state change), so the journal can neither miss nor invent an
event. It announces the instance to the database (:func:`statusgate.store.db.announce`), which wakes this
process's long-polls and webhook senders once the transaction has committed.

A row holds the fact, not Green's body: the envelope (the instance's wid, a file's download link) is made when
it is handed out. Its JSON keeps the form earlier releases wrote, so notifications journaled before an
upgrade are still handed out.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.instance_settings import InstanceSettings
from statusgate.domain.notifications import (
    IncomingFile,
    IncomingStatusReceived,
    IncomingText,
    InstanceStateChanged,
    Notification,
    NotificationType,
    Outcome,
    OutgoingStatusChanged,
    StatusReceiptChanged,
)
from statusgate.domain.states import InstanceState, ReceiptStatus
from statusgate.store import db
from statusgate.store.instances import SETTINGS_TEXT, settings_from_text
from statusgate.store.schema.instances import instances
from statusgate.store.schema.notifications import notifications


@dataclass(frozen=True)
class NotificationRow:
    instance_id: int
    receipt_id: int
    fact: Notification
    created_at: float
    attempts: int
    next_attempt_at: float


def _row(r: sa.Row[Any]) -> NotificationRow:
    fact = _fact(r.instance_id, NotificationType(r.type), dict(r.payload), r.created_at)
    return NotificationRow(r.instance_id, r.receipt_id, fact, r.created_at, r.attempts, r.next_attempt_at)


_SET_LAST_RECEIPT_ID = (
    instances.update()
    .where(instances.c.id_instance == sa.bindparam("w_id"))
    .values(last_receipt_id=sa.bindparam("v_last"))
)
_INSERT = notifications.insert()


def journal(conn: Connection, fact: Notification) -> int | None:
    """Journal ``fact`` in the transaction of ``conn`` if the instance's settings ask for its type.

    Returns its receiptId, or None (its type is switched off, or the instance is gone). Call it inside the
    transaction that records what the fact reports, never after: both commit or neither does.
    """
    (receipt_id,) = journal_many(conn, [fact])
    return receipt_id


def journal_many(conn: Connection, facts: Sequence[Notification]) -> list[int | None]:
    """:func:`journal` for several facts at once, in their order, in three statements whatever their
    number (a group of sends, a batch of receipts)."""
    receipt_ids: list[int | None] = [None] * len(facts)
    if not facts:
        return receipt_ids
    # The instances' rows are read locked (PostgreSQL; SQLite's write transaction holds the lock from its
    # start) until this transaction ends. A concurrent transaction journaling for the same instance
    # (another process) waits for it to commit or roll back, then counts on from what was committed:
    # receiptIds follow commit order, so a reader never sees receipt n + 1 without receipt n, and the journal
    # is handed out in the order things happened. One order of locking, so two writers never deadlock.
    current = _settings_and_counters(conn, sorted({fact.instance_id for fact in facts}))
    kept: dict[int, list[int]] = {}  # instance → the indexes of its facts its settings ask for
    for index, fact in enumerate(facts):
        found = current.get(fact.instance_id)
        if found is not None and found[0].on(fact.type.switch):
            kept.setdefault(fact.instance_id, []).append(index)
    counters: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for instance_id, indexes in sorted(kept.items()):
        last = current[instance_id][1]
        for receipt_id, index in enumerate(indexes, start=last + 1):
            fact = facts[index]
            receipt_ids[index] = receipt_id
            rows.append(
                {
                    "instance_id": instance_id,
                    "receipt_id": receipt_id,
                    "type": fact.type.value,
                    "payload": _stored(fact),
                    "created_at": fact.at,
                    "attempts": 0,
                    "next_attempt_at": fact.at,
                }
            )
        counters.append({"w_id": instance_id, "v_last": last + len(indexes)})
        db.announce(conn, instance_id)
    if counters:
        conn.execute(_SET_LAST_RECEIPT_ID, counters)
        conn.execute(_INSERT, rows)
    return receipt_ids


def _settings_and_counters(
    conn: Connection, instance_ids: Sequence[int]
) -> dict[int, tuple[InstanceSettings, int]]:
    """Each existing instance's settings and the last receiptId it handed out, its row locked."""
    found: dict[int, tuple[InstanceSettings, int]] = {}
    statement = _settings_and_counters_statement(conn.dialect.name)
    for start in range(0, len(instance_ids), 500):
        for row in conn.execute(statement, {"instance_ids": instance_ids[start : start + 500]}):
            found[row.id_instance] = (settings_from_text(row.settings), int(row.last_receipt_id))
    return found


@functools.cache
def _settings_and_counters_statement(dialect: str) -> sa.Select[tuple[int, Any, int]]:
    query = sa.select(instances.c.id_instance, SETTINGS_TEXT, instances.c.last_receipt_id).where(
        instances.c.id_instance.in_(sa.bindparam("instance_ids", expanding=True))
    )
    if dialect == "postgresql":
        # NO KEY UPDATE, as the UPDATE that follows takes: statuses inserted meanwhile (their foreign key
        # takes KEY SHARE on the instance) do not wait for it
        query = query.order_by(instances.c.id_instance).with_for_update(key_share=True)
    return query


def _stored(fact: Notification) -> dict[str, Any]:
    """The fact as the row's JSON."""
    match fact:
        case OutgoingStatusChanged():
            stored: dict[str, Any] = {"idMessage": fact.id_message, "status": fact.outcome.value}
            if fact.description is not None:
                stored["description"] = fact.description
            return stored
        case StatusReceiptChanged():
            return {
                "idMessage": fact.id_message,
                "participant": fact.participant,
                "status": fact.status.value,
            }
        case IncomingStatusReceived():
            stored = {
                "idMessage": fact.id_message,
                "sender": fact.sender,
                "senderName": fact.sender_name,
                "senderContactName": fact.sender_contact_name,
            }
            match fact.content:
                case IncomingText():
                    return stored | {
                        "typeMessage": IncomingText.type_message,
                        "media_id": None,
                        "text": fact.content.text,
                        "backgroundColor": fact.content.background_color,
                        "font": fact.content.font,
                    }
                case IncomingFile():
                    return stored | {
                        "typeMessage": fact.content.type_message,
                        "media_id": fact.content.media_id,
                        "caption": fact.content.caption,
                        "fileName": fact.content.file_name,
                    }
        case InstanceStateChanged():
            return {"stateInstance": fact.state.value}


def _fact(instance_id: int, type_: NotificationType, stored: dict[str, Any], at: float) -> Notification:
    """The row's fact (a row of an earlier release may lack what it had no value for: the defaults)."""
    match type_:
        case NotificationType.OUTGOING_MESSAGE_STATUS:
            return OutgoingStatusChanged(
                instance_id, stored["idMessage"], Outcome(stored["status"]), at, stored.get("description")
            )
        case NotificationType.OUTGOING_STATUS_RECEIPT:
            return StatusReceiptChanged(
                instance_id, stored["idMessage"], stored["participant"], ReceiptStatus(stored["status"]), at
            )
        case NotificationType.INCOMING_STATUS_RECEIVED:
            content = incoming_content(
                stored.get("typeMessage", IncomingText.type_message), stored, stored.get("media_id")
            )
            return IncomingStatusReceived(
                instance_id,
                stored["idMessage"],
                stored["sender"],
                stored.get("senderName", ""),
                stored.get("senderContactName", ""),
                content,
                at,
            )
        case NotificationType.STATE_INSTANCE_CHANGED:
            return InstanceStateChanged(instance_id, InstanceState(stored["stateInstance"]), at)


def incoming_content(
    type_message: str, given: dict[str, Any], media_id: str | None
) -> IncomingText | IncomingFile:
    """What a contact's status shows, from the keys engines give it under (the incoming journal and this
    one store it so too); what is missing is the default."""
    if type_message == IncomingText.type_message:
        plain = IncomingText()
        return IncomingText(
            given.get("text", plain.text),
            given.get("backgroundColor", plain.background_color),
            given.get("font", plain.font),
        )
    return IncomingFile(type_message, given.get("caption", ""), given.get("fileName", ""), media_id)


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
    return [r.id_instance for r in conn.execute(_WITH_PENDING) if settings_from_text(r.settings).webhook_url]


# Asked every poll interval on the event loop: a probe of the journal's key per instance and the settings
# parsed once per distinct text, where a DISTINCT scan of the whole journal and a JSON decode of every
# instance's settings held the loop for milliseconds at a thousand instances.
_WITH_PENDING = sa.select(instances.c.id_instance, SETTINGS_TEXT).where(
    sa.exists().where(notifications.c.instance_id == instances.c.id_instance)
)


def webhook_backlog(conn: Connection) -> int:
    """How many notifications wait for instances that have a webhookUrl to send them to."""
    pending = (
        sa.select(notifications.c.instance_id, sa.func.count().label("waiting"))
        .group_by(notifications.c.instance_id)
        .subquery()
    )
    rows = conn.execute(
        sa.select(instances.c.settings, pending.c.waiting).join(
            pending, pending.c.instance_id == instances.c.id_instance
        )
    )
    return sum(int(r.waiting) for r in rows if (r.settings or {}).get("webhookUrl"))


def expire(conn: Connection, created_before: float) -> int:
    """Drop notifications nobody took within the retention (Green keeps them 24 h)."""
    return conn.execute(notifications.delete().where(notifications.c.created_at < created_before)).rowcount
