"""Sending under WhatsApp's message ids: intents before, outcomes after, and never a second publish.

WhatsApp (not us) chooses a status' id. So each send is bracketed: an intent "about to send <our id>" is on
disk before the child is asked; the child's answer turns it into "sent as <WhatsApp's id>", or removes it
when nothing was published. The same records answer whether a status was delivered (:meth:`Sends.delivered`):
sent as WhatsApp's id, delivered; an attempt in flight or its outcome still being written, pending; no
intent, not delivered. An intent that stays open — the child died, or the server stopped, between the two —
is a send whose outcome nobody knows: unknown, and never sent again (no duplicate status).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from statusgate.domain.models import DeliveryCheck, DeliveryState, SendOutcome
from statusgate.domain.posts import OutgoingStatus
from statusgate.engines.sidecar.account import Account
from statusgate.engines.sidecar.outgoing import send_request
from statusgate.engines.whatsapp.files import Intents
from statusgate.engines.whatsapp.process import DIED, in_flight
from statusgate.engines.whatsapp.protocol import (
    PERMANENT,
    TRANSIENT,
    UNCERTAIN,
    Response,
    SendResult,
    SendStatus,
    result_of,
)
from statusgate.errors import EnginePermanentError, EngineTransientError

DIED_WHILE_SENDING = (
    "the engine process died while sending; WhatsApp may or may not have published the status — not resent "
    "to avoid a duplicate"
)
CUT_OFF = (
    "an earlier attempt at this status was cut off (the server or the engine process stopped while "
    "sending); WhatsApp may or may not have published it — not resent to avoid a duplicate"
)
NOT_CONNECTED = "the account is not connected"


class Sends:
    def __init__(self, session_dir: Callable[[int], Path], timeout: float) -> None:
        self.session_dir = session_dir
        self.timeout = timeout
        self._stores: dict[int, Intents] = {}
        #: outcomes being written, by our message id: a send returns only once its outcome is on disk
        self._recordings: dict[str, asyncio.Task[None]] = {}
        #: our message ids whose intent is being written and request handed to the child
        self._starting: set[str] = set()

    def store(self, instance_id: int) -> Intents:
        store = self._stores.get(instance_id)
        if store is None:
            store = self._stores[instance_id] = Intents(self.session_dir(instance_id))
        return store

    async def send(self, account: Account, status: OutgoingStatus) -> SendOutcome:
        request = send_request(status)
        store = self.store(account.instance_id)
        message_id = status.message_id
        earlier = self._recordings.get(message_id)
        if earlier is not None:  # an earlier try's answer is being written: judge by it, once on disk
            await asyncio.shield(earlier)
        known = await asyncio.to_thread(store.get, message_id)
        if known is not None and known.wa_message_id:
            return SendOutcome(())  # published already: never a second time
        future = in_flight(account.child, message_id) if account.child is not None else None
        if known is not None and future is None:
            raise EnginePermanentError(CUT_OFF)
        if future is None:
            # shielded: once the intent is on disk the request must leave, even if our caller gives up now
            future = await asyncio.shield(self._start(account, store, request))
        # else: an earlier try timed out while its send goes on; this try waits for that one's outcome
        try:
            answer = await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            raise EngineTransientError(
                f"WhatsApp did not answer within {self.timeout:g} s; the attempt goes on and the next try "
                "waits for its outcome"
            ) from None
        recording = self._recordings.get(message_id)
        if recording is not None:
            await asyncio.shield(recording)
        if answer.ok:
            return SendOutcome(())  # who got it: the receipts will tell
        if answer.error_kind == DIED:
            raise EnginePermanentError(DIED_WHILE_SENDING)
        if answer.error_kind == UNCERTAIN:
            raise EnginePermanentError(
                f"{answer.error}; WhatsApp may or may not have published the status — not resent to avoid a "
                "duplicate"
            )
        if answer.error_kind == PERMANENT:
            raise EnginePermanentError(answer.error)
        raise EngineTransientError(answer.error)

    async def _start(self, account: Account, store: Intents, request: SendStatus) -> asyncio.Future[Response]:
        message_id = request.message_id
        self._starting.add(message_id)
        try:
            await asyncio.to_thread(store.begin, message_id)
            child = account.child
            if child is None or not child.alive:
                await asyncio.to_thread(store.clear, message_id)
                failed: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
                failed.set_result(Response(ok=False, error=NOT_CONNECTED, error_kind=TRANSIENT))
                return failed

            def on_response(answer: Response) -> None:
                task = asyncio.create_task(self._record(store, message_id, answer))
                self._recordings[message_id] = task
                task.add_done_callback(lambda _t: self._recordings.pop(message_id, None))

            return await child.submit(request, on_response=on_response)
        finally:
            self._starting.discard(message_id)

    def _under_way(self, account: Account | None, message_id: str) -> bool:
        """An attempt at this status is being started, waits for WhatsApp, or has its outcome being written."""
        if message_id in self._starting or message_id in self._recordings:
            return True
        child = account.child if account is not None else None
        return child is not None and in_flight(child, message_id) is not None

    async def delivered(self, account: Account | None, instance_id: int, message_id: str) -> DeliveryCheck:
        """From the intents: WhatsApp's id recorded, delivered (who got it: the receipts tell); an attempt
        under way, pending; an intent with no outcome and nothing under way, unknown; none, not delivered.

        Whether an attempt is under way is asked before and after the intent is read, so an answer that
        arrives meanwhile is never mistaken for an outcome nobody knows."""
        if self._under_way(account, message_id):
            return DeliveryCheck(DeliveryState.PENDING)
        known = await asyncio.to_thread(self.store(instance_id).get, message_id)
        if known is not None and known.wa_message_id:
            return DeliveryCheck(DeliveryState.DELIVERED)
        if self._under_way(account, message_id):
            return DeliveryCheck(DeliveryState.PENDING)
        if known is not None:
            return DeliveryCheck(DeliveryState.UNKNOWN)
        return DeliveryCheck(DeliveryState.NOT_DELIVERED)

    @staticmethod
    async def _record(store: Intents, message_id: str, answer: Response) -> None:
        """The outcome of a send, whoever still waits for it: WhatsApp's id, or "nothing was published"."""
        if answer.ok:
            result = result_of(SendStatus("", message_id), answer)
            assert isinstance(result, SendResult)
            await asyncio.to_thread(store.sent, message_id, result.wa_message_id)
        elif answer.error_kind in (TRANSIENT, PERMANENT):
            await asyncio.to_thread(store.clear, message_id)
        # DIED / UNCERTAIN: the intent stays open — unknown outcome, never resent

    async def whatsapp_id(self, instance_id: int, message_id: str) -> str:
        known = await asyncio.to_thread(self.store(instance_id).get, message_id)
        if known is None or not known.wa_message_id:
            raise EnginePermanentError("WhatsApp's id of this status is unknown (its send did not complete)")
        return known.wa_message_id

    async def ours(self, instance_id: int, wa_message_ids: list[str]) -> dict[str, str]:
        return await asyncio.to_thread(self.store(instance_id).ours, wa_message_ids)

    def forget(self, instance_id: int) -> None:
        store = self._stores.pop(instance_id, None)
        if store is not None:
            store.close()

    async def close(self) -> None:
        await asyncio.gather(*self._recordings.values(), return_exceptions=True)
        for store in self._stores.values():
            store.close()
        self._stores.clear()
