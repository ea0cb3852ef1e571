"""The simulated WhatsApp network behind the sandbox engine, kept in the project's own database.

Its rules, as WhatsApp's:

- every account has a wid; numbers are registered on the network or not;
- an account has an ordered address book (a contact may lack a contactName; a registered user may not be
  in the address book at all);
- a status goes to the recipients it is sent to, if they are registered and not the sender;
- each delivery is recorded in the network's own transaction, and **every send that gets through arrives**,
  a repeat of a message id the account already sent included: the network keeps no repeat check, so its
  records say how many times each recipient received each status (``statusgate sandbox deliveries``);
- recipients' phones answer with receipts: ``delivered`` at once, ``read`` when a contact views it
  (``statusgate sandbox view``);
- an account is linked by scanning a QR code of a pairing string (``statusgate sandbox scan``).

The gateway never reads these tables directly: only through :class:`statusgate.engines.sandbox.SandboxEngine`
(and the CLI's sandbox commands, which play the part of the phones).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.models import Contact
from statusgate.domain.states import InstanceState
from statusgate.engines.sandbox_accounts import emit_event, load_account, set_account_state
from statusgate.engines.sandbox_arrivals import deliver_posts
from statusgate.engines.sandbox_records import (
    FAULT_MODES,
    Account,
    Arrivals,
    Fault,
    ImportedContact,
    SandboxError,
    chat_id_of,
)
from statusgate.engines.sandbox_traffic import SandboxTraffic
from statusgate.ids import new_wid_number
from statusgate.store.batch import Batcher
from statusgate.store.db import Database
from statusgate.store.schema.sandbox import sandbox_accounts, sandbox_contacts, sandbox_events, sandbox_users

__all__ = ["FAULT_MODES", "Account", "Arrivals", "Fault", "ImportedContact", "SandboxError", "SandboxNetwork"]


# read for every status sent with the default audience
#: how often a worker looks for reboots it did not begin itself (it took the account over meanwhile)
REBOOT_LOOK_SECONDS = 1.0

#: instance ids bound in one statement at most (SQLite allows 32,766 values)
_IDS_PER_QUERY = 10_000

# built once: the worker reads the pending events at every pass of its supervisor
_PENDING_EVENTS = (
    sa.select(sandbox_events)
    .where(sandbox_events.c.consumed.is_(False))
    .order_by(sandbox_events.c.event_id)
    .limit(sa.bindparam("limit"))
)
_PENDING_EVENTS_OF = _PENDING_EVENTS.where(
    sandbox_events.c.instance_id.in_(sa.bindparam("ids", expanding=True))
)

_CONTACTS = (
    sa.select(sandbox_contacts.c.wid, sandbox_contacts.c.name, sandbox_contacts.c.contact_name)
    .where(sandbox_contacts.c.instance_id == sa.bindparam("instance_id"))
    .order_by(sandbox_contacts.c.position)
)


#: what the simulated address book's name columns hold
MAX_NAME_CHARS = 200


#: how long a group of posts waits on the loop for the write lock before the writer thread takes it over
_POST_LOCK_PATIENCE_SECONDS = 0.05


class SandboxNetwork(SandboxTraffic):
    def __init__(self, db: Database, *, reboot_seconds: float = 2.0) -> None:
        self.db = db
        self.reboot_seconds = reboot_seconds
        #: when the earliest pending reboot of this process ends (None: none pending); 0 makes the first pass
        #: look, for a reboot a previous server process started
        self._reboots_end: float | None = 0.0
        self._next_reboot_look = 0.0
        # many accounts post at once: their deliveries share transactions. A post's moment of arrival is
        # when it is recorded, so it is written on the loop, waiting there (rather than behind the writer
        # thread's queue) while a short transaction elsewhere holds the write lock
        self._posts = Batcher(
            db, deliver_posts, "sandbox-posts", inline=True, lock_patience=_POST_LOCK_PATIENCE_SECONDS
        )
        self._arriving = {}

    # --- accounts -------------------------------------------------------------------------------------

    async def provision(self, instance_id: int, *, authorized: bool) -> Account:
        now = time.time()

        def _tx(conn: Connection) -> Account:
            wid = chat_id_of(new_wid_number())
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
            return load_account(conn, instance_id, time.time())

        return await self.db.read(_tx)

    async def scan(self, instance_id: int) -> None:
        """The phone scans the QR code: the account is linked."""
        now = time.time()

        def _tx(conn: Connection) -> None:
            account = load_account(conn, instance_id, now)
            if account.state is not InstanceState.AUTHORIZED:
                set_account_state(conn, instance_id, InstanceState.AUTHORIZED, now)

        return await self.db.write(_tx)

    async def logout(self, instance_id: int) -> None:
        now = time.time()

        def _tx(conn: Connection) -> None:
            account = load_account(conn, instance_id, now)
            if account.state is not InstanceState.NOT_AUTHORIZED:
                set_account_state(conn, instance_id, InstanceState.NOT_AUTHORIZED, now)

        return await self.db.write(_tx)

    async def reboot(self, instance_id: int) -> None:
        """``starting`` for ``reboot_seconds``, then back to the state it had."""
        now = time.time()
        end = now + self.reboot_seconds
        self._reboots_end = end if self._reboots_end is None else min(self._reboots_end, end)

        def _tx(conn: Connection) -> None:
            load_account(conn, instance_id, now)
            conn.execute(
                sandbox_accounts.update()
                .where(sandbox_accounts.c.instance_id == instance_id)
                .values(starting_until=now + self.reboot_seconds)
            )
            emit_event(conn, instance_id, "state", {"state": InstanceState.STARTING.value}, now)

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
            load_account(conn, instance_id, now)
            conn.execute(sandbox_contacts.delete().where(sandbox_contacts.c.instance_id == instance_id))
            seen: set[str] = set()
            rows = []
            for position, contact in enumerate(contacts):
                if contact.id in seen:
                    raise SandboxError(f"{contact.id} is listed twice")
                if max(len(contact.name), len(contact.contact_name)) > MAX_NAME_CHARS:
                    raise SandboxError(f"{contact.id}: names have at most {MAX_NAME_CHARS} characters")
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
            rows = conn.execute(_CONTACTS, {"instance_id": instance_id})
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

    # --- events ---------------------------------------------------------------------------------------

    async def prune(self, before: float) -> int:
        """Forget network events already handed to the gateway before ``before`` (they only grow otherwise)."""

        def _tx(conn: Connection) -> int:
            return conn.execute(
                sandbox_events.delete().where(
                    sandbox_events.c.consumed.is_(True), sandbox_events.c.at < before
                )
            ).rowcount

        return await self.db.write(_tx)

    async def finish_reboots(self, instance_ids: Collection[int] | None = None) -> None:
        """Accounts whose reboot is over are back in their state: the network says so. ``instance_ids``:
        only these accounts (the worker's own; None: all)."""
        now = time.time()
        due = self._reboots_end is not None and now >= self._reboots_end
        # reboots this process carried out it knows the end of; one another worker began before this one
        # took the account over is found by a look every REBOOT_LOOK_SECONDS
        if not due and now < self._next_reboot_look:
            return
        if instance_ids is not None and not instance_ids:
            return
        self._next_reboot_look = now + REBOOT_LOOK_SECONDS
        if due:
            self._reboots_end = None
        over = sa.select(sandbox_accounts.c.instance_id, sandbox_accounts.c.state).where(
            sandbox_accounts.c.starting_until.is_not(None), sandbox_accounts.c.starting_until <= now
        )

        def _any(conn: Connection) -> bool:
            return conn.execute(over.limit(1)).first() is not None

        if not await self.db.read(_any):
            return

        def _tx(conn: Connection) -> None:
            # few accounts reboot at once: the owner's are picked here rather than by a list in SQL
            rows = [r for r in conn.execute(over) if instance_ids is None or r.instance_id in instance_ids]
            for row in rows:
                conn.execute(
                    sandbox_accounts.update()
                    .where(sandbox_accounts.c.instance_id == row.instance_id)
                    .values(starting_until=None, state_changed_at=now)
                )
                emit_event(conn, row.instance_id, "state", {"state": row.state}, now)

        await self.db.write(_tx)

    async def pending_events(
        self, limit: int, instance_ids: Collection[int] | None = None
    ) -> list[tuple[int, int, str, dict[str, Any], float]]:
        """The oldest unconsumed events (of ``instance_ids`` only, unless None)."""
        if instance_ids is None:
            chunks: list[list[int]] = []
        else:
            # within every database's limit on bound values per statement
            ids = sorted(instance_ids)
            chunks = [ids[start : start + _IDS_PER_QUERY] for start in range(0, len(ids), _IDS_PER_QUERY)]

        def _tx(conn: Connection) -> list[tuple[int, int, str, dict[str, Any], float]]:
            if instance_ids is None:
                rows = list(conn.execute(_PENDING_EVENTS, {"limit": limit}))
            else:
                rows = []
                for chunk in chunks:
                    rows += conn.execute(_PENDING_EVENTS_OF, {"limit": limit, "ids": chunk})
                rows = sorted(rows, key=lambda r: r.event_id)[:limit]
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
