"""The simulated WhatsApp network behind the sandbox engine, kept in the project's own database.

Its rules, as WhatsApp's:

- every account has a wid; numbers are registered on the network or not;
- an account has an ordered address book (a contact may lack a contactName; a registered user may not be
  in the address book at all);
- a status goes to the recipients it is sent to, if they are registered and not the sender;
- each delivery is recorded in the network's own transaction, and **a repeat of a message id the account
  already delivered is ignored** — the network answers as for the first send and delivers nothing again;
- recipients' phones answer with receipts: ``delivered`` at once, ``read`` when a contact views it
  (``statusgate sandbox view``);
- an account is linked by scanning a QR code of a pairing string (``statusgate sandbox scan``).

The gateway never reads these tables directly: only through :class:`statusgate.engines.sandbox.SandboxEngine`
(and the CLI's sandbox commands, which play the part of the phones).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.models import Contact
from statusgate.domain.states import InstanceState, ReceiptStatus
from statusgate.ids import new_wid_number
from statusgate.store.db import Database
from statusgate.store.schema import (
    sandbox_accounts,
    sandbox_contacts,
    sandbox_deliveries,
    sandbox_events,
    sandbox_faults,
    sandbox_messages,
    sandbox_users,
)


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
class Fault:
    mode: str  # transient | permanent | timeout


FAULT_MODES = ("transient", "permanent", "timeout")


def _chat_id(number: str) -> str:
    return f"{number}@c.us"


def _account(conn: Connection, instance_id: int, now: float) -> Account:
    row = (
        conn.execute(sa.select(sandbox_accounts).where(sandbox_accounts.c.instance_id == instance_id))
    ).first()
    if row is None:
        raise SandboxError(f"instance {instance_id} has no sandbox account")
    state = InstanceState(row.state)
    if row.starting_until is not None and row.starting_until > now:
        state = InstanceState.STARTING
    return Account(row.instance_id, row.wid, state, row.pairing_ref)


def _emit(conn: Connection, instance_id: int, kind: str, payload: dict[str, Any], at: float) -> None:
    conn.execute(sandbox_events.insert().values(instance_id=instance_id, kind=kind, payload=payload, at=at))


def _set_state(conn: Connection, instance_id: int, state: InstanceState, now: float) -> None:
    values: dict[str, Any] = {"state": state.value, "state_changed_at": now, "starting_until": None}
    if state is InstanceState.NOT_AUTHORIZED:
        values["pairing_ref"] = secrets.token_hex(16)  # a new QR after each logout
    conn.execute(
        sandbox_accounts.update().where(sandbox_accounts.c.instance_id == instance_id).values(**values)
    )
    _emit(conn, instance_id, "state", {"state": state.value}, now)


class SandboxNetwork:
    def __init__(self, db: Database, *, reboot_seconds: float = 2.0, dedupe: bool = True) -> None:
        self.db = db
        self.reboot_seconds = reboot_seconds
        self.dedupe = dedupe

    # --- accounts -------------------------------------------------------------------------------------

    async def provision(self, instance_id: int, *, authorized: bool) -> Account:
        now = time.time()

        def _tx(conn: Connection) -> Account:
            wid = _chat_id(new_wid_number())
            state = InstanceState.AUTHORIZED if authorized else InstanceState.NOT_AUTHORIZED
            conn.execute(
                sandbox_accounts.insert().values(
                    instance_id=instance_id,
                    wid=wid,
                    state=state.value,
                    pairing_ref=secrets.token_hex(16),
                    state_changed_at=now,
                )
            )
            self._register(conn, wid, "statusgate sandbox")
            return Account(instance_id, wid, state, "")

        return await self.db.write(_tx)

    async def account(self, instance_id: int) -> Account:
        def _tx(conn: Connection) -> Account:
            return _account(conn, instance_id, time.time())

        return await self.db.read(_tx)

    async def scan(self, instance_id: int) -> None:
        """The phone scans the QR code: the account is linked."""
        now = time.time()

        def _tx(conn: Connection) -> None:
            account = _account(conn, instance_id, now)
            if account.state is not InstanceState.AUTHORIZED:
                _set_state(conn, instance_id, InstanceState.AUTHORIZED, now)

        return await self.db.write(_tx)

    async def logout(self, instance_id: int) -> None:
        now = time.time()

        def _tx(conn: Connection) -> None:
            account = _account(conn, instance_id, now)
            if account.state is not InstanceState.NOT_AUTHORIZED:
                _set_state(conn, instance_id, InstanceState.NOT_AUTHORIZED, now)

        return await self.db.write(_tx)

    async def reboot(self, instance_id: int) -> None:
        """``starting`` for ``reboot_seconds``, then back to the state it had."""
        now = time.time()

        def _tx(conn: Connection) -> None:
            _account(conn, instance_id, now)
            conn.execute(
                sandbox_accounts.update()
                .where(sandbox_accounts.c.instance_id == instance_id)
                .values(starting_until=now + self.reboot_seconds)
            )
            _emit(conn, instance_id, "state", {"state": InstanceState.STARTING.value}, now)

        return await self.db.write(_tx)

    # --- address book ---------------------------------------------------------------------------------

    def _register(self, conn: Connection, wid: str, push_name: str) -> None:
        exists = conn.scalar(sa.select(sandbox_users.c.wid).where(sandbox_users.c.wid == wid))
        if exists is None:
            conn.execute(sandbox_users.insert().values(wid=wid, push_name=push_name))
        elif push_name:
            conn.execute(sandbox_users.update().where(sandbox_users.c.wid == wid).values(push_name=push_name))

    async def import_contacts(self, instance_id: int, contacts: Sequence[ImportedContact]) -> int:
        """Replace the address book; every listed number becomes a registered user of the network."""
        now = time.time()

        def _tx(conn: Connection) -> int:
            _account(conn, instance_id, now)
            conn.execute(sandbox_contacts.delete().where(sandbox_contacts.c.instance_id == instance_id))
            seen: set[str] = set()
            rows = []
            for position, contact in enumerate(contacts):
                if contact.id in seen:
                    raise SandboxError(f"{contact.id} is listed twice")
                seen.add(contact.id)
                self._register(conn, contact.id, contact.name)
                rows.append(
                    {
                        "instance_id": instance_id,
                        "wid": contact.id,
                        "position": position,
                        "name": contact.name,
                        "contact_name": contact.contact_name if contact.in_address_book else "",
                        "in_address_book": contact.in_address_book,
                    }
                )
            if rows:
                conn.execute(sandbox_contacts.insert(), rows)
            return len(rows)

        return await self.db.write(_tx)

    async def contacts(self, instance_id: int) -> list[Contact]:
        def _tx(conn: Connection) -> list[Contact]:
            rows = conn.execute(
                sa.select(sandbox_contacts)
                .where(sandbox_contacts.c.instance_id == instance_id)
                .order_by(sandbox_contacts.c.position)
            )
            return [Contact(id=r.wid, name=r.name, contact_name=r.contact_name) for r in rows]

        return await self.db.read(_tx)

    async def registered(self, chat_ids: Sequence[str]) -> set[str]:
        if not chat_ids:
            return set()

        def _tx(conn: Connection) -> set[str]:
            found: set[str] = set()
            unique = list(dict.fromkeys(chat_ids))
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                rows = conn.scalars(sa.select(sandbox_users.c.wid).where(sandbox_users.c.wid.in_(chunk)))
                found.update(rows.all())
            return found

        return await self.db.read(_tx)

    # --- statuses -------------------------------------------------------------------------------------

    async def add_fault(self, instance_id: int, mode: str, count: int) -> None:
        if mode not in FAULT_MODES:
            raise SandboxError(f"unknown fault mode {mode!r}")

        def _tx(conn: Connection) -> None:
            _account(conn, instance_id, time.time())
            conn.execute(sandbox_faults.delete().where(sandbox_faults.c.instance_id == instance_id))
            conn.execute(sandbox_faults.insert().values(instance_id=instance_id, mode=mode, remaining=count))

        return await self.db.write(_tx)

    async def take_fault(self, instance_id: int) -> Fault | None:
        """Consume one injected fault, durably, before the send it spoils."""

        def _tx(conn: Connection) -> Fault | None:
            row = (
                conn.execute(sa.select(sandbox_faults).where(sandbox_faults.c.instance_id == instance_id))
            ).first()
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

        return await self.db.write(_tx)

    async def deliver(
        self, instance_id: int, message_id: str, kind: str, payload: dict[str, Any], recipients: Sequence[str]
    ) -> tuple[list[str], bool]:
        """Post a status; returns (who received it, whether this was an ignored repeat)."""
        now = time.time()

        def _tx(conn: Connection) -> tuple[list[str], bool]:
            account = _account(conn, instance_id, now)
            if account.state is not InstanceState.AUTHORIZED:
                raise SandboxError(f"account is {account.state.value}")
            if self.dedupe:
                first = conn.scalar(
                    sa.select(sandbox_messages.c.row_id)
                    .where(
                        sandbox_messages.c.instance_id == instance_id,
                        sandbox_messages.c.message_id == message_id,
                    )
                    .order_by(sandbox_messages.c.row_id)
                    .limit(1)
                )
                if first is not None:
                    earlier = conn.scalars(
                        sa.select(sandbox_deliveries.c.recipient)
                        .where(sandbox_deliveries.c.message_row == first)
                        .order_by(sandbox_deliveries.c.row_id)
                    )
                    return list(earlier.all()), True
            result = conn.execute(
                sandbox_messages.insert().values(
                    instance_id=instance_id, message_id=message_id, kind=kind, payload=payload, at=now
                )
            )
            row_id = result.inserted_primary_key[0]  # type: ignore[index]
            wanted = [r for r in dict.fromkeys(recipients) if r != account.wid]
            registered: set[str] = set()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = conn.scalars(sa.select(sandbox_users.c.wid).where(sandbox_users.c.wid.in_(chunk)))
                registered.update(rows.all())
            delivered = [r for r in wanted if r in registered]
            if delivered:
                conn.execute(
                    sandbox_deliveries.insert(),
                    [{"message_row": row_id, "recipient": r, "at": now} for r in delivered],
                )
                conn.execute(
                    sandbox_events.insert(),
                    [
                        {
                            "instance_id": instance_id,
                            "kind": "receipt",
                            "payload": {
                                "message_id": message_id,
                                "participant": r,
                                "status": ReceiptStatus.DELIVERED.value,
                            },
                            "at": now,
                        }
                        for r in delivered
                    ],
                )
            return delivered, False

        return await self.db.write(_tx)

    async def deliveries(self, instance_id: int, message_id: str | None = None) -> list[tuple[str, str]]:
        """(message id, recipient) for every delivery this account made, repeats included: the test oracle."""

        def _tx(conn: Connection) -> list[tuple[str, str]]:
            query = (
                sa.select(sandbox_messages.c.message_id, sandbox_deliveries.c.recipient)
                .join(sandbox_deliveries, sandbox_deliveries.c.message_row == sandbox_messages.c.row_id)
                .where(sandbox_messages.c.instance_id == instance_id)
                .order_by(sandbox_deliveries.c.row_id)
            )
            if message_id is not None:
                query = query.where(sandbox_messages.c.message_id == message_id)
            rows = conn.execute(query)
            return [(r.message_id, r.recipient) for r in rows]

        return await self.db.read(_tx)

    async def view(self, instance_id: int, message_id: str, participant: str) -> None:
        """A recipient opens the status: a ``read`` receipt goes back to the sender."""
        now = time.time()

        def _tx(conn: Connection) -> None:
            _account(conn, instance_id, now)
            received = conn.scalar(
                sa.select(sa.func.count())
                .select_from(sandbox_deliveries.join(sandbox_messages))
                .where(
                    sandbox_messages.c.instance_id == instance_id,
                    sandbox_messages.c.message_id == message_id,
                    sandbox_deliveries.c.recipient == participant,
                )
            )
            if not received:
                raise SandboxError(f"{participant} did not receive status {message_id}")
            _emit(
                conn,
                instance_id,
                "receipt",
                {"message_id": message_id, "participant": participant, "status": ReceiptStatus.READ.value},
                now,
            )

        return await self.db.write(_tx)

    # --- events ---------------------------------------------------------------------------------------

    async def pending_events(self, limit: int) -> list[tuple[int, int, str, dict[str, Any], float]]:
        def _tx(conn: Connection) -> list[tuple[int, int, str, dict[str, Any], float]]:
            rows = conn.execute(
                sa.select(sandbox_events)
                .where(sandbox_events.c.consumed.is_(False))
                .order_by(sandbox_events.c.event_id)
                .limit(limit)
            )
            return [(r.event_id, r.instance_id, r.kind, dict(r.payload), r.at) for r in rows]

        return await self.db.read(_tx)

    async def mark_consumed(self, event_ids: Sequence[int]) -> None:
        if event_ids:

            def _tx(conn: Connection) -> None:
                conn.execute(
                    sandbox_events.update()
                    .where(sandbox_events.c.event_id.in_(list(event_ids)))
                    .values(consumed=True)
                )

            return await self.db.write(_tx)
