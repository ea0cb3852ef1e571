"""The sandbox engine: statusgate's embedded default, speaking to the simulated network in our database."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
from collections.abc import Collection, Sequence
from typing import Any, NoReturn

from statusgate.domain.models import (
    Contact,
    DeliveryCheck,
    DeliveryState,
    EngineEvent,
    EngineName,
    IncomingStatusEvent,
    QrAnswer,
    ReceiptEvent,
    SendOutcome,
    StateEvent,
)
from statusgate.domain.posts import OutgoingStatus, status_type
from statusgate.domain.states import InstanceState, ReceiptStatus
from statusgate.engines.base import EngineCapabilities, EventHandler
from statusgate.engines.sandbox_network import Fault, SandboxError, SandboxNetwork
from statusgate.errors import EnginePermanentError, EngineTransientError


def qr_png_base64(data: str) -> str:
    # imported at the first QR code, not with the engine: every CLI command builds the engines
    import segno

    buffer = io.BytesIO()
    segno.make_qr(data, error="m").save(buffer, kind="png", scale=6, border=4)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class SandboxEngine:
    name = EngineName.SANDBOX
    capabilities = EngineCapabilities(explicit_audience=True, honours_message_id=True, revoke=True)

    def __init__(self, network: SandboxNetwork, *, timeout_seconds: float) -> None:
        self.network = network
        self.timeout_seconds = timeout_seconds

    async def provision(self, instance_id: int, *, authorized: bool = False) -> None:
        await self.network.provision(instance_id, authorized=authorized)

    async def forget(self, instance_id: int) -> None:
        # the account's rows go with the instance (foreign keys cascade)
        return None

    async def state(self, instance_id: int) -> InstanceState:
        try:
            return (await self.network.account(instance_id)).state
        except SandboxError:
            return InstanceState.NOT_AUTHORIZED

    async def wid(self, instance_id: int) -> str:
        return (await self.network.account(instance_id)).wid

    async def contacts(self, instance_id: int) -> list[Contact]:
        return await self.network.contacts(instance_id)

    async def existing(self, instance_id: int, chat_ids: Sequence[str]) -> set[str]:
        return await self.network.registered(chat_ids)

    async def send_status(
        self, instance_id: int, status: OutgoingStatus, recipients: Sequence[str]
    ) -> SendOutcome:
        kind = status_type(status.post).value
        payload: dict[str, Any] = {"type": kind, "post": dataclasses.asdict(status.post)}
        if status.media is not None:
            payload["media"] = {
                "media_id": status.media.media_id,
                "kind": status.media.kind.value,
                "mime_type": status.media.mime_type,
            }
        try:
            result = await self.network.deliver(
                instance_id, status.message_id, kind, payload, recipients, status.fence
            )
        except SandboxError as exc:
            raise EngineTransientError(f"sandbox: {exc}") from exc
        if isinstance(result, Fault):
            await self._fail(result)
        return SendOutcome(recipients=tuple(result.recipients), received_at=result.at)

    async def delivered(self, instance_id: int, message_id: str) -> DeliveryCheck:
        """Exactly what the network's records say: a send is one transaction there, recorded or not."""
        try:
            first = await self.network.first_arrival(instance_id, message_id)
        except SandboxError as exc:
            raise EngineTransientError(f"sandbox: {exc}") from exc
        if first is None:
            return DeliveryCheck(DeliveryState.NOT_DELIVERED)
        return DeliveryCheck(DeliveryState.DELIVERED, tuple(first))

    async def revoke_status(self, instance_id: int, message_id: str, recipients: Sequence[str]) -> None:
        try:
            await self.network.revoke(instance_id, message_id)
        except SandboxError as exc:
            raise EngineTransientError(f"sandbox: {exc}") from exc

    async def _fail(self, fault: Fault) -> NoReturn:
        if fault.mode == "transient":
            raise EngineTransientError("sandbox: the network dropped the connection (injected fault)")
        if fault.mode == "permanent":
            raise EnginePermanentError("sandbox: WhatsApp rejected the status (injected fault)")
        # timeout: no answer at all, nothing delivered; the caller's deadline decides
        await asyncio.sleep(self.timeout_seconds * 2 + 1)
        raise EngineTransientError("sandbox: no answer (injected timeout)")

    async def qr(self, instance_id: int) -> QrAnswer:
        account = await self.network.account(instance_id)
        if account.state is InstanceState.AUTHORIZED:
            return QrAnswer("alreadyLogged", "instance account already authorized")
        if account.state is InstanceState.NOT_AUTHORIZED:
            pairing = f"statusgate-sandbox:{instance_id}:{account.pairing_ref}"
            return QrAnswer("qrCode", qr_png_base64(pairing))
        return QrAnswer("error", f"instance is {account.state.value}, try again in a few seconds")

    async def pairing_code(self, instance_id: int, phone_number: str) -> str:
        """A simulated 8-character code; on the sandbox the phone "types" it with `statusgate sandbox scan`."""
        account = await self.network.account(instance_id)
        if account.state is InstanceState.AUTHORIZED:
            raise EnginePermanentError("instance account already authorized")
        if account.state is not InstanceState.NOT_AUTHORIZED:
            raise EngineTransientError(f"instance is {account.state.value}, try again in a few seconds")
        return account.pairing_ref[:8].upper()

    async def logout(self, instance_id: int) -> None:
        await self.network.logout(instance_id)

    async def reboot(self, instance_id: int) -> None:
        await self.network.reboot(instance_id)

    async def drain_events(
        self, handler: EventHandler, limit: int = 500, *, instance_ids: Collection[int] | None = None
    ) -> int:
        await self.network.finish_reboots(instance_ids)
        pending = await self.network.pending_events(limit, instance_ids)
        if not pending:
            return 0
        events: list[EngineEvent] = []
        for _event_id, instance_id, kind, payload, at in pending:
            if kind == "receipt":
                events.append(
                    ReceiptEvent(
                        instance_id,
                        payload["message_id"],
                        payload["participant"],
                        ReceiptStatus(payload["status"]),
                        at,
                    )
                )
            elif kind == "state":
                events.append(StateEvent(instance_id, InstanceState(payload["state"]), at))
            else:
                events.append(
                    IncomingStatusEvent(instance_id, payload["message_id"], payload["sender"], at, payload)
                )
        handled = await handler(events)
        done = [row[0] for row, ok in zip(pending, handled, strict=True) if ok]
        await self.network.mark_consumed(done)
        return len(done)

    async def close(self) -> None:
        return None
