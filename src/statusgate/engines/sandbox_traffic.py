"""Status traffic on the simulated network: deliveries (with WhatsApp's repeat check), revocations,
views, statuses other accounts post, and injected faults."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.states import InstanceState, ReceiptStatus
from statusgate.engines.sandbox_records import (
    FAULT_MODES,
    Fault,
    SandboxError,
    emit_event,
    load_account,
)
from statusgate.ids import new_incoming_id
from statusgate.store.db import Database
from statusgate.store.schema import (
    sandbox_contacts,
    sandbox_deliveries,
    sandbox_events,
    sandbox_faults,
    sandbox_messages,
    sandbox_users,
)


class SandboxTraffic:
    db: Database
    dedupe: bool

    # --- statuses -------------------------------------------------------------------------------------

    async def add_fault(self, instance_id: int, mode: str, count: int) -> None:
        if mode not in FAULT_MODES:
            raise SandboxError(f"unknown fault mode {mode!r}")

        def _tx(conn: Connection) -> None:
            load_account(conn, instance_id, time.time())
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
            account = load_account(conn, instance_id, now)
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

    async def revoke(self, instance_id: int, message_id: str) -> None:
        """The sender deletes a status: its recipients no longer see it."""
        now = time.time()

        def _tx(conn: Connection) -> None:
            account = load_account(conn, instance_id, now)
            if account.state is not InstanceState.AUTHORIZED:
                raise SandboxError(f"account is {account.state.value}")
            conn.execute(
                sandbox_messages.update()
                .where(
                    sandbox_messages.c.instance_id == instance_id,
                    sandbox_messages.c.message_id == message_id,
                    sandbox_messages.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )

        await self.db.write(_tx)

    async def revoked(self, instance_id: int, message_id: str) -> bool:
        def _tx(conn: Connection) -> bool:
            found = conn.scalar(
                sa.select(sa.func.count())
                .select_from(sandbox_messages)
                .where(
                    sandbox_messages.c.instance_id == instance_id,
                    sandbox_messages.c.message_id == message_id,
                    sandbox_messages.c.revoked_at.is_not(None),
                )
            )
            return bool(found)

        return await self.db.read(_tx)

    async def view(self, instance_id: int, message_id: str, participant: str) -> None:
        """A recipient opens the status: a ``read`` receipt goes back to the sender."""
        now = time.time()

        def _tx(conn: Connection) -> None:
            load_account(conn, instance_id, now)
            received = conn.scalar(
                sa.select(sa.func.count())
                .select_from(sandbox_deliveries.join(sandbox_messages))
                .where(
                    sandbox_messages.c.instance_id == instance_id,
                    sandbox_messages.c.message_id == message_id,
                    sandbox_messages.c.revoked_at.is_(None),
                    sandbox_deliveries.c.recipient == participant,
                )
            )
            if not received:
                raise SandboxError(f"{participant} did not receive status {message_id} (or it was deleted)")
            emit_event(
                conn,
                instance_id,
                "receipt",
                {"message_id": message_id, "participant": participant, "status": ReceiptStatus.READ.value},
                now,
            )

        return await self.db.write(_tx)

    async def post_incoming(self, instance_id: int, sender: str, payload: dict[str, Any]) -> str:
        """A contact posts a status; the account sees it if the contact is in its address book."""
        now = time.time()
        message_id = new_incoming_id()

        def _tx(conn: Connection) -> str:
            load_account(conn, instance_id, now)
            contact = conn.execute(
                sa.select(sandbox_contacts).where(
                    sandbox_contacts.c.instance_id == instance_id, sandbox_contacts.c.wid == sender
                )
            ).first()
            if contact is None or not contact.in_address_book:
                raise SandboxError(f"{sender} is not in the address book of instance {instance_id}")
            push_name = conn.scalar(sa.select(sandbox_users.c.push_name).where(sandbox_users.c.wid == sender))
            emit_event(
                conn,
                instance_id,
                "incoming",
                {
                    "message_id": message_id,
                    "sender": sender,
                    "sender_name": push_name or contact.name,
                    "sender_contact_name": contact.contact_name,
                    **payload,
                },
                now,
            )
            return message_id

        return await self.db.write(_tx)
