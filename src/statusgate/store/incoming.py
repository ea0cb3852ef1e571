"""The incoming-status journal: statuses the account's contacts posted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from statusgate.domain.notifications import IncomingStatusReceived
from statusgate.store import notifications
from statusgate.store.schema.statuses import incoming_statuses


@dataclass(frozen=True)
class IncomingRow:
    instance_id: int
    id_message: str
    received_at: float
    type_message: str
    sender: str
    sender_name: str
    sender_contact_name: str
    payload: dict[str, Any]
    media_id: str | None


#: the length of the sender name columns
NAME_CHARS = 200


def record(conn: Connection, row: IncomingRow) -> bool:
    """Store an incoming status once (a repeated event is ignored); True if it is new. One statement: a
    repeat that races this one is ignored by the unique key, never an error."""
    values = {
        "instance_id": row.instance_id,
        "id_message": row.id_message,
        "received_at": row.received_at,
        "type_message": row.type_message,
        "sender": row.sender,
        # names come from other people's phones: kept to what the columns hold (PostgreSQL enforces it)
        "sender_name": row.sender_name[:NAME_CHARS],
        "sender_contact_name": row.sender_contact_name[:NAME_CHARS],
        "payload": row.payload,
        "media_id": row.media_id,
    }
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(incoming_statuses)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=[incoming_statuses.c.instance_id, incoming_statuses.c.id_message]
        )
        .returning(incoming_statuses.c.row_id)
    )
    # a row back: inserted (the rowcount PostgreSQL's driver reports here is not reliable)
    if conn.execute(statement).first() is None:
        return False
    content = notifications.incoming_content(row.type_message, row.payload, row.media_id)
    # the names as they came: the columns' limit is this table's, not the notification's
    received = IncomingStatusReceived(
        instance_id=row.instance_id,
        id_message=row.id_message,
        sender=row.sender,
        sender_name=row.sender_name,
        sender_contact_name=row.sender_contact_name,
        content=content,
        at=row.received_at,
    )
    notifications.journal(conn, received)
    return True


def since(conn: Connection, instance_id: int, cutoff: float) -> list[IncomingRow]:
    rows = conn.execute(
        sa.select(incoming_statuses)
        .where(incoming_statuses.c.instance_id == instance_id, incoming_statuses.c.received_at >= cutoff)
        .order_by(incoming_statuses.c.received_at, incoming_statuses.c.row_id)
    )
    return [
        IncomingRow(
            r.instance_id,
            r.id_message,
            r.received_at,
            r.type_message,
            r.sender,
            r.sender_name,
            r.sender_contact_name,
            dict(r.payload),
            r.media_id,
        )
        for r in rows
    ]
