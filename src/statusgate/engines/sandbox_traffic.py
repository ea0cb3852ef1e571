"""Status traffic on the simulated network: deliveries (recorded by ``sandbox_arrivals``), revocations,
views, statuses other accounts post, and injected faults.

Every send that gets through is a new arrival, a repeat of a message id included: the network keeps no
repeat check, so its records count exactly what it received (the exactly-once oracle). Whether a status
arrived is answered from the same records (:meth:`SandboxTraffic.first_arrival`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.ownership import Fence
from statusgate.domain.states import InstanceState, ReceiptStatus
from statusgate.engines import sandbox_arrivals
from statusgate.engines.sandbox_accounts import emit_event, load_account
from statusgate.engines.sandbox_arrivals import Arrival, Outcome, Post
from statusgate.engines.sandbox_records import (
    FAULT_MODES,
    Arrivals,
    Fault,
    SandboxError,
)
from statusgate.ids import new_incoming_id
from statusgate.store.batch import Batcher
from statusgate.store.db import Database
from statusgate.store.schema.sandbox import (
    sandbox_contacts,
    sandbox_deliveries,
    sandbox_faults,
    sandbox_messages,
    sandbox_users,
)


def _retrieve(future: asyncio.Future[Outcome]) -> None:
    """A post nobody waits for any more (its sender timed out) must not log "exception never retrieved"."""
    if not future.cancelled():
        future.exception()


class SandboxTraffic:
    db: Database
    _posts: Batcher[Post, Outcome]
    #: posts of this process on their way into the network's records, by (instance, message id)
    _arriving: dict[tuple[int, str], asyncio.Future[Outcome]]

    # --- statuses -------------------------------------------------------------------------------------

    async def add_fault(self, instance_id: int, mode: str, count: int) -> None:
        if mode not in FAULT_MODES:
            raise SandboxError(f"unknown fault mode {mode!r}")

        def _tx(conn: Connection) -> None:
            load_account(conn, instance_id, time.time())
            conn.execute(sandbox_faults.delete().where(sandbox_faults.c.instance_id == instance_id))
            conn.execute(sandbox_faults.insert().values(instance_id=instance_id, mode=mode, remaining=count))

        return await self.db.write(_tx)

    async def deliver(
        self,
        instance_id: int,
        message_id: str,
        kind: str,
        payload: dict[str, Any],
        recipients: Sequence[str],
        fence: Fence | None = None,
    ) -> Arrival | Fault:
        """Post a status: whom it reached and when, or the injected fault that spoiled this attempt (consumed and
        committed, so the next attempt goes through). Each post that gets through is a new arrival, a repeat
        of an id included. Posts arriving together are recorded in one transaction (each its own
        savepoint-free unit: they are independent); a post whose sender gives up is recorded all the same,
        and :meth:`first_arrival` waits for it."""
        post = Post(instance_id, message_id, kind, payload, tuple(recipients), fence)
        key = (instance_id, message_id)
        arriving = asyncio.ensure_future(self._posts.submit(post))
        self._arriving[key] = arriving

        def settled(future: asyncio.Future[Outcome]) -> None:
            _retrieve(future)
            if self._arriving.get(key) is future:
                del self._arriving[key]

        arriving.add_done_callback(settled)
        outcome = await asyncio.shield(arriving)
        if isinstance(outcome, SandboxError):
            raise outcome
        return outcome

    async def first_arrival(self, instance_id: int, message_id: str) -> list[str] | None:
        """Who the status' first arrival reached; None if the network never received it.

        A post is one transaction: once it has settled it is in the records or not. A post of this status
        still on its way in this process is waited for first (a post of a dead process settled with it)."""
        arriving = self._arriving.get((instance_id, message_id))
        if arriving is not None:
            await asyncio.wait([arriving])
        return await self.db.read(sandbox_arrivals.first_arrival, instance_id, message_id)

    async def arrivals(self, instance_id: int) -> list[Arrivals]:
        """Per status and recipient: how often the network received it (repeats included) and when first;
        in the order of the first arrivals."""
        return await self.db.read(sandbox_arrivals.arrivals, instance_id)

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
