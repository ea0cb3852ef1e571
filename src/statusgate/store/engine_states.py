"""An account's state as its live session reports it, for every process to read.

Engines whose state lives in a live session (whatsapp) write it here as it changes; the API reads it here
and never asks the session itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.models import Contact
from statusgate.domain.ownership import Fence
from statusgate.domain.states import InstanceState
from statusgate.store import ownership
from statusgate.store.schema.instances import engine_states


@dataclass(frozen=True)
class EngineStateRow:
    instance_id: int
    state: InstanceState
    wid: str
    reason: str
    #: None until the session has read the address book once
    contacts: list[Contact] | None
    updated_at: float


def _contacts(raw: Any) -> list[Contact] | None:
    if raw is None:
        return None
    return [Contact(c["id"], c["name"], c["contact_name"], c.get("type", "user")) for c in raw]


def get(conn: Connection, instance_id: int) -> EngineStateRow | None:
    row = conn.execute(sa.select(engine_states).where(engine_states.c.instance_id == instance_id)).first()
    if row is None:
        return None
    return EngineStateRow(
        row.instance_id,
        InstanceState(row.state),
        row.wid,
        row.reason,
        _contacts(row.contacts),
        row.updated_at,
    )


def put_state(
    conn: Connection, instance_id: int, state: InstanceState, wid: str, reason: str, now: float
) -> None:
    """Record the session's state (the row is made on first use; the contacts copy is kept)."""
    changed = conn.execute(
        engine_states.update()
        .where(engine_states.c.instance_id == instance_id)
        .values(state=state.value, wid=wid, reason=reason, updated_at=now)
    )
    if changed.rowcount == 0:
        conn.execute(
            engine_states.insert().values(
                instance_id=instance_id, state=state.value, wid=wid, reason=reason, updated_at=now
            )
        )


def put_contacts(
    conn: Connection, instance_id: int, contacts: list[Contact], now: float, fence: Fence | None = None
) -> bool:
    """Replace the copy of the address book; False if the instance has no state row (it is gone), or if
    ``fence`` is given and its worker no longer holds the instance (a stale owner's book is not written
    over the new owner's)."""
    if fence is not None and not ownership.holds(conn, fence):
        return False
    raw = [{"id": c.id, "name": c.name, "contact_name": c.contact_name, "type": c.type} for c in contacts]
    result = conn.execute(
        engine_states.update()
        .where(engine_states.c.instance_id == instance_id)
        .values(contacts=raw, contacts_at=now, updated_at=now)
    )
    return result.rowcount == 1
