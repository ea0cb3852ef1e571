"""The simulated network's account rows and event log, shared by its modules."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.states import InstanceState
from statusgate.engines.sandbox_records import Account, SandboxError
from statusgate.store.schema.sandbox import sandbox_accounts, sandbox_events

_ACCOUNT = sa.select(sandbox_accounts).where(sandbox_accounts.c.instance_id == sa.bindparam("instance_id"))
_ACCOUNTS = sa.select(sandbox_accounts).where(
    sandbox_accounts.c.instance_id.in_(sa.bindparam("instance_ids", expanding=True))
)


def load_account(conn: Connection, instance_id: int, now: float) -> Account:
    row = conn.execute(_ACCOUNT, {"instance_id": instance_id}).first()
    if row is None:
        raise SandboxError(no_account(instance_id))
    return account_from_row(row, now)


def no_account(instance_id: int) -> str:
    return f"instance {instance_id} has no sandbox account"


def account_rows(conn: Connection, instance_ids: Sequence[int]) -> dict[int, sa.Row[Any]]:
    """The accounts of ``instance_ids`` that exist, as rows for :func:`account_from_row`."""
    found: dict[int, sa.Row[Any]] = {}
    ids = sorted(set(instance_ids))
    for start in range(0, len(ids), 500):
        for row in conn.execute(_ACCOUNTS, {"instance_ids": ids[start : start + 500]}):
            found[row.instance_id] = row
    return found


def account_from_row(row: sa.Row[Any], now: float) -> Account:
    """The account as it is at ``now`` (a reboot under way makes it ``starting``)."""
    state = InstanceState(row.state)
    if row.starting_until is not None and row.starting_until > now:
        state = InstanceState.STARTING
    return Account(row.instance_id, row.wid, state, row.pairing_ref)


def emit_event(conn: Connection, instance_id: int, kind: str, payload: dict[str, Any], at: float) -> None:
    conn.execute(sandbox_events.insert().values(instance_id=instance_id, kind=kind, payload=payload, at=at))


def set_account_state(conn: Connection, instance_id: int, state: InstanceState, now: float) -> None:
    values: dict[str, Any] = {"state": state.value, "state_changed_at": now, "starting_until": None}
    if state is InstanceState.NOT_AUTHORIZED:
        values["pairing_ref"] = secrets.token_hex(16)  # a new QR after each logout
    conn.execute(
        sandbox_accounts.update().where(sandbox_accounts.c.instance_id == instance_id).values(**values)
    )
    emit_event(conn, instance_id, "state", {"state": state.value}, now)
