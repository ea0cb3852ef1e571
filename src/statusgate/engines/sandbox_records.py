"""Records and helpers shared by the simulated network's modules (accounts, events, errors)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.states import InstanceState
from statusgate.store.schema.sandbox import sandbox_accounts, sandbox_events


class SandboxError(Exception):
    """A sandbox command could not be carried out (unknown account, message, participant…)."""


@dataclass(frozen=True)
class ImportedContact:
    id: str
    name: str
    contact_name: str
    in_address_book: bool


@dataclass(frozen=True)
class Account:
    instance_id: int
    wid: str
    state: InstanceState
    pairing_ref: str


@dataclass(frozen=True)
class Arrivals:
    """How often the network received one status for one recipient (repeats included), and when first."""

    message_id: str
    participant: str
    count: int
    first_at: float


@dataclass(frozen=True)
class Fault:
    mode: str  # transient | permanent | timeout


FAULT_MODES = ("transient", "permanent", "timeout")


def chat_id_of(number: str) -> str:
    return f"{number}@c.us"


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
