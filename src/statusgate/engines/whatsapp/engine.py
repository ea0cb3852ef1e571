"""The ``whatsapp`` engine, server side: the Engine Protocol over supervised neonize child processes.

Limits this engine states in its capabilities (see docs/engines.md):

- ``explicit_audience=False``: whatsmeow posts to the phone's status audience and cannot take a list.
- ``honours_message_id=False``: WhatsApp chooses the id. A send intent is recorded before each send and
  its outcome after, so :meth:`WhatsAppEngine.delivered` answers from them, and a send whose outcome is
  unknown (the child or the server died in between) is never repeated.
- ``revoke=True``: a revoke goes to the phone's *current* status audience.

Only the worker supervises children (:meth:`start`). Other processes (an API node, the CLI) build this
engine too, but only read what the worker recorded — the account's state, wid and a copy of its address
book in ``engine_states`` (the session dir's state file when there is no database row) — and provision or
remove session dirs.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable, Collection, Coroutine, Sequence
from pathlib import Path
from typing import Any

from statusgate.domain.models import (
    Contact,
    DeliveryCheck,
    EngineName,
    IncomingStatusEvent,
    QrAnswer,
    SendOutcome,
    StateEvent,
)
from statusgate.domain.ownership import Fence
from statusgate.domain.posts import OutgoingStatus
from statusgate.domain.states import InstanceState
from statusgate.engines.base import EngineCapabilities, EventHandler
from statusgate.engines.sidecar.account import Account
from statusgate.engines.sidecar.events import EventBuffer
from statusgate.engines.sidecar.frames import Traffic
from statusgate.engines.sidecar.qr import qr_answer
from statusgate.engines.whatsapp import files
from statusgate.engines.whatsapp.process import Launcher, limits
from statusgate.engines.whatsapp.protocol import (
    PERMANENT,
    CheckNumbers,
    CheckNumbersResult,
    Contacts,
    ContactsResult,
    Incoming,
    PairPhone,
    PairPhoneResult,
    Receipt,
    Request,
    Response,
    Revoke,
    result_of,
)
from statusgate.engines.whatsapp.sends import Sends
from statusgate.errors import EnginePermanentError, EngineTransientError
from statusgate.settings import Settings
from statusgate.store import engine_states
from statusgate.store.db import Database

log = logging.getLogger("statusgate.engine.whatsapp")

NOT_IN_SERVER = (
    "the whatsapp engine runs inside the server (statusgate serve); this process only reads its state"
)


def _digits(chat_id: str) -> str:
    return chat_id.split("@", 1)[0]


class WhatsAppEngine:
    name = EngineName.WHATSAPP
    capabilities = EngineCapabilities(explicit_audience=False, honours_message_id=False, revoke=True)

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        #: where the account's state is published for other processes (None: session files only)
        self.db = db
        self.sessions = settings.data_dir / "sessions"
        self.limits = limits(settings)
        self.launcher = Launcher(settings, self.session_dir)
        self.supervising = False
        self.accounts: dict[int, Account] = {}
        self.sends = Sends(self.session_dir, settings.whatsapp_send_timeout_seconds)
        self.events = EventBuffer(settings.whatsapp_event_buffer, settings.whatsapp_receipt_hold_seconds)
        self._tasks: set[asyncio.Task[None]] = set()
        #: when each account's address book was last copied to the database
        self._contacts_copied: dict[int, float] = {}

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def session_dir(self, instance_id: int) -> Path:
        return self.sessions / str(instance_id)

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def start(self, fence_of: Callable[[int], Fence | None] | None = None) -> None:
        """Supervise: from now on this process runs children, for the sessions it is given (:meth:`hold`).
        Its session files are fenced by ownership alone (``fence_of`` is not needed)."""
        self.supervising = True

    async def hold(self, instance_ids: Sequence[int]) -> None:
        """Start a child for each of these instances that has a linked session in the data dir."""
        for instance_id in instance_ids:
            session_dir = self.session_dir(instance_id)
            if instance_id not in self.accounts and await asyncio.to_thread(files.has_device, session_dir):
                self._account(instance_id)  # a linked account starts its child at once

    async def let_go(self, instance_ids: Sequence[int]) -> None:
        """Stop these instances' children: the session files stay, for the next owner."""
        accounts = [self.accounts.pop(i) for i in instance_ids if i in self.accounts]
        await asyncio.gather(*(account.close() for account in accounts), return_exceptions=True)
        for account in accounts:
            self.sends.forget(account.instance_id)

    async def close(self) -> None:
        accounts, self.accounts = list(self.accounts.values()), {}
        await asyncio.gather(*(account.close() for account in accounts), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.sends.close()

    def _account(self, instance_id: int) -> Account:
        account = self.accounts.get(instance_id)
        if account is None:
            session_dir = self.session_dir(instance_id)
            account = Account(
                instance_id,
                self.launcher,
                self.limits,
                linked=files.has_device(session_dir),
                log=log,
                on_state=self._state_changed,
                on_traffic=self._traffic,
            )
            self.accounts[instance_id] = account
            if account.linked:
                self._background(account.run_session())
        return account

    async def provision(self, instance_id: int, *, authorized: bool = False) -> None:
        if authorized:
            raise EnginePermanentError(
                "a whatsapp instance is authorized by linking a phone, not at creation"
            )
        session_dir = self.session_dir(instance_id)
        session_dir.mkdir(parents=True, exist_ok=True)
        files.write_state(session_dir, {"state": InstanceState.NOT_AUTHORIZED.value, "wid": ""})
        if self.db is not None:
            state = InstanceState.NOT_AUTHORIZED
            await self.db.write(engine_states.put_state, instance_id, state, "", "", time.time())

    async def forget(self, instance_id: int) -> None:
        account = self.accounts.pop(instance_id, None)
        if account is not None:
            if account.state is InstanceState.AUTHORIZED:
                await account.logout()  # unlink the device on the phone too, while we can
            await account.close()
        self.sends.forget(instance_id)
        await asyncio.to_thread(shutil.rmtree, self.session_dir(instance_id), True)

    # --- state -----------------------------------------------------------------------------------------------

    def _state_changed(self, account: Account) -> None:
        log.info("instance %s is %s %s", account.instance_id, account.state.value, account.reason)
        self.events.push(StateEvent(account.instance_id, account.state, time.time()))
        files.write_state(self.session_dir(account.instance_id), account.snapshot())
        if self.db is not None:
            self._background(
                self._publish_state(account.instance_id, account.state, account.wid, account.reason)
            )
            if account.state is InstanceState.AUTHORIZED:
                self._background(self._copy_contacts(account.instance_id))

    async def _publish_state(self, instance_id: int, state: InstanceState, wid: str, reason: str) -> None:
        assert self.db is not None
        try:
            await self.db.write(engine_states.put_state, instance_id, state, wid, reason, time.time())
        except Exception:
            log.exception("recording the state of instance %s failed", instance_id)

    async def _copy_contacts(self, instance_id: int) -> None:
        """Keep a copy of the address book in the database: getContacts is answered from it, anywhere."""
        assert self.db is not None
        self._contacts_copied[instance_id] = time.time()
        try:
            found = await self._live_contacts(instance_id)
            await self.db.write(engine_states.put_contacts, instance_id, found, time.time())
        except Exception as exc:  # the next refresh tries again
            log.warning("copying the address book of instance %s failed: %s", instance_id, exc)

    async def _stored(self, instance_id: int) -> engine_states.EngineStateRow | None:
        return None if self.db is None else await self.db.read(engine_states.get, instance_id)

    def _recorded(self, instance_id: int) -> dict[str, object]:
        session_dir = self.session_dir(instance_id)
        recorded = files.read_state(session_dir)
        if not recorded:
            linked = files.has_device(session_dir)
            return {"state": (InstanceState.STARTING if linked else InstanceState.NOT_AUTHORIZED).value}
        return recorded

    async def state(self, instance_id: int) -> InstanceState:
        if self.supervising:
            return self._account(instance_id).state
        stored = await self._stored(instance_id)
        if stored is not None:
            return stored.state
        return InstanceState(
            str(self._recorded(instance_id).get("state", InstanceState.NOT_AUTHORIZED.value))
        )

    async def wid(self, instance_id: int) -> str:
        if self.supervising:
            return self._account(instance_id).wid
        stored = await self._stored(instance_id)
        if stored is not None:
            return stored.wid
        return str(self._recorded(instance_id).get("wid", ""))

    # --- authorization ---------------------------------------------------------------------------------------

    async def qr(self, instance_id: int) -> QrAnswer:
        if not self.supervising:
            return QrAnswer("error", NOT_IN_SERVER)
        account = self._account(instance_id)
        return await qr_answer(account)

    async def pairing_code(self, instance_id: int, phone_number: str) -> str:
        if not self.supervising:
            raise EnginePermanentError(NOT_IN_SERVER)
        account = self._account(instance_id)
        if account.state is InstanceState.AUTHORIZED or account.linked:
            raise EnginePermanentError("the instance is already linked to a phone; logout first")
        if account.state is InstanceState.BLOCKED:
            raise EnginePermanentError(f"the account is blocked: {account.reason}")
        await account.begin_pairing()
        await account.wait_for_qr()
        if account.qr_code is None:
            raise EngineTransientError(account.qr_failure or "the pairing connection to WhatsApp is not up")
        answer = await account.request(PairPhone(phone_number))
        result = self._result(answer, PairPhone(phone_number))
        assert isinstance(result, PairPhoneResult)
        return result.code

    async def logout(self, instance_id: int) -> None:
        if self.supervising:
            await self._account(instance_id).logout()
        else:
            raise EnginePermanentError(NOT_IN_SERVER)

    async def reboot(self, instance_id: int) -> None:
        if self.supervising:
            await self._account(instance_id).reboot()
        else:
            raise EnginePermanentError(NOT_IN_SERVER)

    # --- address book ----------------------------------------------------------------------------------------

    def _connected(self, instance_id: int) -> Account:
        if not self.supervising:
            raise EngineTransientError(NOT_IN_SERVER)
        account = self._account(instance_id)
        if account.state is not InstanceState.AUTHORIZED:
            raise EngineTransientError(f"instance is {account.state.value}")
        return account

    @staticmethod
    def _result(answer: Response, request: Request) -> object:
        if answer.ok:
            return result_of(request, answer)
        if answer.error_kind == PERMANENT:
            raise EnginePermanentError(answer.error)
        raise EngineTransientError(answer.error)

    async def contacts(self, instance_id: int) -> list[Contact]:
        """The worker reads the phone's address book; every other process reads the worker's copy."""
        if self.supervising or self.db is None:
            return await self._live_contacts(instance_id)
        stored = await self._stored(instance_id)
        if stored is None or stored.contacts is None:
            raise EngineTransientError(
                "the address book has not been read from the phone yet; try again soon"
            )
        return stored.contacts

    async def _live_contacts(self, instance_id: int) -> list[Contact]:
        answer = await self._connected(instance_id).request(Contacts())
        result = self._result(answer, Contacts())
        assert isinstance(result, ContactsResult)
        return [Contact(r.chat_id, r.push_name, r.full_name) for r in result.contacts]

    async def existing(self, instance_id: int, chat_ids: Sequence[str]) -> set[str]:
        if not chat_ids:
            return set()
        request = CheckNumbers([_digits(c) for c in chat_ids])
        result = self._result(await self._connected(instance_id).request(request), request)
        assert isinstance(result, CheckNumbersResult)
        return {f"{digits}@c.us" for digits in result.registered}

    # --- sending ---------------------------------------------------------------------------------------------

    async def send_status(
        self, instance_id: int, status: OutgoingStatus, recipients: Sequence[str]
    ) -> SendOutcome:
        """Post to the phone's status audience; ``recipients`` is ignored (whatsmeow cannot take a list)."""
        return await self.sends.send(self._connected(instance_id), status)

    async def delivered(self, instance_id: int, message_id: str) -> DeliveryCheck:
        """From the send intents (any state of the account: they are on disk, in the session dir)."""
        return await self.sends.delivered(self.accounts.get(instance_id), instance_id, message_id)

    async def revoke_status(self, instance_id: int, message_id: str, recipients: Sequence[str]) -> None:
        """Revoke to the phone's current status audience (it may differ from the one the status reached)."""
        account = self._connected(instance_id)
        request = Revoke(await self.sends.whatsapp_id(instance_id, message_id))
        self._result(await account.request(request), request)

    # --- events ----------------------------------------------------------------------------------------------

    def _traffic(self, account: Account, event: Traffic) -> None:
        if isinstance(event, Receipt):
            self.events.receipt(account.instance_id, event)
        elif isinstance(event, Incoming):
            self.events.push(
                IncomingStatusEvent(
                    account.instance_id, event.wa_message_id, event.sender, event.at, event.payload
                )
            )

    async def _ours(self, instance_id: int, wa_message_ids: list[str]) -> dict[str, str] | None:
        if instance_id not in self.accounts:
            return None  # the instance is gone
        return await self.sends.ours(instance_id, wa_message_ids)

    def _watch_deleted(self) -> None:
        """An instance deleted by another process (the CLI): stop its child."""
        for instance_id, account in list(self.accounts.items()):
            if not self.session_dir(instance_id).is_dir():
                del self.accounts[instance_id]
                self._background(account.close())

    def _refresh_copies(self) -> None:
        """The address book changes on the phone: copy it again now and then."""
        if self.db is None:
            return
        due = time.time() - self.settings.whatsapp_contacts_refresh_seconds
        for instance_id, account in self.accounts.items():
            if account.state is InstanceState.AUTHORIZED and self._contacts_copied.get(instance_id, 0) < due:
                self._background(self._copy_contacts(instance_id))

    async def drain_events(
        self, handler: EventHandler, limit: int = 500, *, instance_ids: Collection[int] | None = None
    ) -> int:
        # the events come from this process's own sessions, which run for the instances it owns only
        if self.supervising:
            self._watch_deleted()
            self._refresh_copies()
        await self.events.map_receipts(self._ours)
        return await self.events.drain(handler, limit)
