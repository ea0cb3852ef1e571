"""The ``baileys`` engine, server side: the Engine Protocol over supervised Node children running Baileys 7.

Linking and the account's life — QR codes, a pairing code, the keys in the database (any worker can take an
account over), a login with them after a restart, logout (keys wiped), reboot, the state published for other
processes; posting to an explicit audience in acknowledged chunks under our own message id (``sends.py``),
which numbers exist, receipts, revoke, the address book we keep (``address_book.py``), incoming statuses.

Only the worker supervises children (:meth:`start`); other processes read what it published in
``engine_states``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Coroutine, Sequence
from typing import Any

from statusgate.domain.models import (
    Contact,
    DeliveryCheck,
    EngineName,
    IncomingStatusEvent,
    QrAnswer,
    ReceiptEvent,
    SendOutcome,
    StateEvent,
)
from statusgate.domain.posts import OutgoingStatus
from statusgate.domain.states import InstanceState, ReceiptStatus
from statusgate.engines.baileys import install
from statusgate.engines.baileys.address_book import AddressBooks
from statusgate.engines.baileys.launcher import FenceOf, Launcher, limits, root_key_refusal
from statusgate.engines.baileys.sends import ChunkedSends
from statusgate.engines.base import EngineCapabilities, EventHandler
from statusgate.engines.sidecar.account import Account
from statusgate.engines.sidecar.events import EventBuffer
from statusgate.engines.sidecar.frames import (
    CheckNumbers,
    CheckNumbersResult,
    Incoming,
    PairPhone,
    PairPhoneResult,
    Receipt,
    Traffic,
)
from statusgate.engines.sidecar.framing import PERMANENT, Response, from_dict
from statusgate.engines.sidecar.lifecycle import AccountPhase
from statusgate.engines.sidecar.qr import qr_answer
from statusgate.errors import EnginePermanentError, EngineTransientError
from statusgate.settings import Settings
from statusgate.store import engine_states
from statusgate.store.db import Database

log = logging.getLogger("statusgate.engine.baileys")

NOT_IN_SERVER = "the baileys engine runs inside the server's worker; this process only reads its state"
NO_ADDRESS_BOOK = "the baileys engine does not read the address book yet: give the status its participants"


def _no_fences(_instance_id: int) -> None:
    return None


class BaileysEngine:
    name = EngineName.BAILEYS
    capabilities = EngineCapabilities(explicit_audience=True, honours_message_id=True, revoke=True)

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.limits = limits(settings)
        self.launcher = Launcher(settings, db, _no_fences)
        self.supervising = False
        self.accounts: dict[int, Account] = {}
        # our ids are the wire's: no receipt waits for an id to be mapped
        self.events = EventBuffer(settings.baileys_event_buffer, 0.0)
        self.sends = ChunkedSends(settings, db)
        self.address_books = AddressBooks(
            db, settings.baileys_contacts_sync_seconds, lambda i: self.launcher.fence_of(i)
        )
        self._tasks: set[asyncio.Task[None]] = set()

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def start(self, fence_of: FenceOf | None = None) -> None:
        """Supervise children from now on, for the instances ``fence_of`` says this worker holds."""
        refusal = root_key_refusal(self.settings)
        if refusal is not None:
            raise EnginePermanentError(refusal)
        self.launcher.fence_of = fence_of or _no_fences
        self.supervising = True

    async def hold(self, instance_ids: Sequence[int]) -> None:
        """Start a child for each of these instances whose account is linked (its creds are stored)."""
        linked = await self.launcher.linked([i for i in instance_ids if i not in self.accounts])
        if not linked:
            return
        not_ready = install.not_ready_message(self.settings.effective_engines_dir)
        if not_ready is not None:
            # they stay as recorded (starting, for whoever asks) until the engine is installed here
            log.error("%d linked baileys instance(s) cannot connect: %s", len(linked), not_ready)
            return
        for instance_id in sorted(linked):
            self._account(instance_id, linked=True)

    async def let_go(self, instance_ids: Sequence[int]) -> None:
        accounts = [self.accounts.pop(i) for i in instance_ids if i in self.accounts]
        await asyncio.gather(*(account.close() for account in accounts), return_exceptions=True)

    async def close(self) -> None:
        await self.sends.close()
        await self.address_books.close()
        accounts, self.accounts = list(self.accounts.values()), {}
        await asyncio.gather(*(account.close() for account in accounts), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _account(self, instance_id: int, *, linked: bool = False) -> Account:
        account = self.accounts.get(instance_id)
        if account is None:
            account = Account(
                instance_id,
                self.launcher,
                self.limits,
                linked=linked,
                log=log,
                on_state=self._state_changed,
                on_traffic=self._traffic,
            )
            self.accounts[instance_id] = account
            if linked:
                self._background(account.run_session())
        return account

    async def _live(self, instance_id: int) -> Account:
        """This worker's account of the instance (made on first use, linked if its creds are stored)."""
        if not self.supervising:
            raise EnginePermanentError(NOT_IN_SERVER)
        not_ready = install.not_ready_message(self.settings.effective_engines_dir)
        if not_ready is not None:
            raise EnginePermanentError(not_ready)
        account = self.accounts.get(instance_id)
        if account is None:
            linked = instance_id in await self.launcher.linked([instance_id])
            account = self._account(instance_id, linked=linked)
        return account

    async def provision(self, instance_id: int, *, authorized: bool = False) -> None:
        if authorized:
            raise EnginePermanentError("a baileys instance is authorized by linking a phone, not at creation")
        await self.db.write(
            engine_states.put_state, instance_id, InstanceState.NOT_AUTHORIZED, "", "", time.time()
        )

    async def forget(self, instance_id: int) -> None:
        """The instance is deleted: unlink the device on the phone while we can; its key rows go with the
        instance's row (ON DELETE CASCADE)."""
        account = self.accounts.pop(instance_id, None)
        if account is not None:
            if account.state is InstanceState.AUTHORIZED:
                await account.logout()
            await account.close()

    # --- state -----------------------------------------------------------------------------------------------

    def _state_changed(self, account: Account) -> None:
        log.info("instance %s is %s %s", account.instance_id, account.state.value, account.reason)
        phase = account.lifecycle.phase
        if phase is AccountPhase.PAIRED:
            self.address_books.linked(account.instance_id)
        elif phase is AccountPhase.NOT_LINKED:
            self.address_books.forget(account.instance_id)
        self.events.push(StateEvent(account.instance_id, account.state, time.time()))
        self._background(self._publish(account.instance_id, account.state, account.wid, account.reason))

    async def _publish(self, instance_id: int, state: InstanceState, wid: str, reason: str) -> None:
        try:
            await self.db.write(engine_states.put_state, instance_id, state, wid, reason, time.time())
        except Exception:
            log.exception("recording the state of instance %s failed", instance_id)

    async def state(self, instance_id: int) -> InstanceState:
        account = self.accounts.get(instance_id) if self.supervising else None
        if account is not None:
            return account.state
        stored = await self.db.read(engine_states.get, instance_id)
        return InstanceState.NOT_AUTHORIZED if stored is None else stored.state

    async def wid(self, instance_id: int) -> str:
        account = self.accounts.get(instance_id) if self.supervising else None
        if account is not None:
            return account.wid
        stored = await self.db.read(engine_states.get, instance_id)
        return "" if stored is None else stored.wid

    # --- authorization ---------------------------------------------------------------------------------------

    async def qr(self, instance_id: int) -> QrAnswer:
        try:
            account = await self._live(instance_id)
        except EnginePermanentError as exc:
            return QrAnswer("error", str(exc))
        return await qr_answer(account)

    async def pairing_code(self, instance_id: int, phone_number: str) -> str:
        account = await self._live(instance_id)
        if account.state is InstanceState.AUTHORIZED or account.linked:
            raise EnginePermanentError("the instance is already linked to a phone; logout first")
        await account.begin_pairing()
        await account.wait_for_qr()
        if account.qr_code is None:
            raise EngineTransientError(account.qr_failure or "the pairing connection to WhatsApp is not up")
        request = PairPhone(phone_number)
        answer = await account.request(request)
        result = self._result(answer, request)
        assert isinstance(result, PairPhoneResult)
        return result.code

    async def logout(self, instance_id: int) -> None:
        await (await self._live(instance_id)).logout()

    async def reboot(self, instance_id: int) -> None:
        await (await self._live(instance_id)).reboot()

    @staticmethod
    def _result(answer: Response, request: Any) -> object:
        if answer.ok:
            return from_dict(type(request).result, answer.result)
        if answer.error_kind == PERMANENT:
            raise EnginePermanentError(answer.error)
        raise EngineTransientError(answer.error)

    # --- the audience and sending ---------------------------------------------------------------------------

    def _connected(self, instance_id: int) -> Account:
        if not self.supervising:
            raise EnginePermanentError(NOT_IN_SERVER)
        account = self.accounts.get(instance_id)
        if account is None or account.state is not InstanceState.AUTHORIZED:
            raise EngineTransientError("the account is not connected")
        return account

    async def contacts(self, instance_id: int) -> list[Contact]:
        """The address book as we keep it (``address_book.py``), in the order we learnt it."""
        return await self.address_books.contacts(instance_id)

    async def existing(self, instance_id: int, chat_ids: Sequence[str]) -> set[str]:
        """Which of ``chat_ids`` are on WhatsApp (Baileys' onWhatsApp, in one query)."""
        numbers = sorted({c.split("@", 1)[0] for c in chat_ids if c.endswith("@c.us")})
        if not numbers:
            return set()
        request = CheckNumbers(numbers)
        result = self._result(await self._connected(instance_id).request(request), request)
        assert isinstance(result, CheckNumbersResult)
        registered = set(result.registered)
        return {c for c in chat_ids if c.split("@", 1)[0] in registered}

    async def send_status(
        self, instance_id: int, status: OutgoingStatus, recipients: Sequence[str]
    ) -> SendOutcome:
        """Post to exactly ``recipients`` (and our own devices) under ``status.message_id``."""
        fence = status.fence or self.launcher.fence_of(instance_id)
        return await self.sends.send(self._connected(instance_id), status, recipients, fence)

    async def delivered(self, instance_id: int, message_id: str) -> DeliveryCheck:
        """From the chunks' records (in the database: any worker's attempt counts)."""
        return await self.sends.delivered(instance_id, message_id)

    async def revoke_status(self, instance_id: int, message_id: str, recipients: Sequence[str]) -> None:
        """Revoke to everyone a chunk of the status went to, whatever the address book says now."""
        account = self._connected(instance_id)
        sent_to = await self.sends.sent_to(instance_id, message_id) or list(recipients)
        await self.sends.revoke(account, message_id, sent_to)

    # --- events ----------------------------------------------------------------------------------------------

    def _traffic(self, account: Account, event: Traffic) -> None:
        instance_id = account.instance_id
        if isinstance(event, Receipt):
            # our message ids are WhatsApp's: nothing to map
            status = ReceiptStatus(event.status)
            for message_id in event.wa_message_ids:
                self.events.push(ReceiptEvent(instance_id, message_id, event.participant, status, event.at))
        elif isinstance(event, Incoming):
            self.events.push(
                IncomingStatusEvent(instance_id, event.wa_message_id, event.sender, event.at, event.payload)
            )
        else:
            self._background(self.address_books.apply(instance_id, event.changes, event.synced))

    async def drain_events(
        self, handler: EventHandler, limit: int = 500, *, instance_ids: Collection[int] | None = None
    ) -> int:
        return await self.events.drain(handler, limit)
