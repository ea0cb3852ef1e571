"""The whatsapp engine's child processes: ``python -m statusgate.engines.whatsapp.child``, supervised by the
engine-neutral ``sidecar.process``."""

from __future__ import annotations

import asyncio
import logging
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from statusgate.engines.sidecar.account import Limits
from statusgate.engines.sidecar.framing import Response
from statusgate.engines.sidecar.process import DIED, Child, ChildKind, ChildProcess, ChildStartError
from statusgate.engines.whatsapp import files
from statusgate.engines.whatsapp.protocol import (
    CODEC,
    PROTOCOL_VERSION,
    Event,
    Fatal,
    Hello,
    SendStatus,
    Shutdown,
    is_event,
)
from statusgate.settings import Settings

__all__ = ["DIED", "ChildProcess", "ChildStartError", "Launcher", "in_flight", "limits", "whatsapp_child"]

CHILD_MODULE = "statusgate.engines.whatsapp.child"

_KIND = ChildKind(
    codec=CODEC,
    is_event=is_event,
    fatal_reason=lambda frame: frame.reason if isinstance(frame, Fatal) else None,
    shutdown=Shutdown(),
)


def whatsapp_child(
    instance_id: int,
    *,
    prefix: Sequence[str] = (),
    on_event: Callable[[Event], None],
    on_exit: Callable[[int], None],
) -> ChildProcess:
    return ChildProcess(
        f"whatsapp[{instance_id}]",
        [*prefix, sys.executable, "-m", CHILD_MODULE],
        _KIND,
        log=logging.getLogger(f"statusgate.engine.whatsapp.{instance_id}"),
        on_event=on_event,
        on_exit=on_exit,
    )


def in_flight(child: Child, message_id: str) -> asyncio.Future[Response] | None:
    """The unanswered send of this status, if any."""
    return child.in_flight(
        lambda request: isinstance(request, SendStatus) and request.message_id == message_id
    )


def limits(s: Settings) -> Limits:
    return Limits(
        start_timeout=s.whatsapp_start_timeout_seconds,
        qr_timeout=s.whatsapp_qr_timeout_seconds,
        pairing_timeout=s.whatsapp_pairing_timeout_seconds,
        request_timeout=s.whatsapp_request_timeout_seconds,
        restart_base=s.whatsapp_restart_base_seconds,
        restart_cap=s.whatsapp_restart_cap_seconds,
        stop_timeout=s.whatsapp_stop_timeout_seconds,
    )


class Launcher:
    """The whatsapp engine's children (``sidecar.account.Launcher``): one per account, its whatsmeow store in
    the account's session dir."""

    def __init__(self, settings: Settings, session_dir: Callable[[int], Path]) -> None:
        self.session_dir = session_dir
        self.proxy = settings.test_whatsapp_proxy
        self.client_factory = settings.test_whatsapp_client
        self.prefix = tuple(shlex.split(settings.test_whatsapp_child_prefix))

    def child(
        self, instance_id: int, on_event: Callable[[Event], None], on_exit: Callable[[int], None]
    ) -> ChildProcess:
        return whatsapp_child(instance_id, prefix=self.prefix, on_event=on_event, on_exit=on_exit)

    def hello(self, instance_id: int, pair: bool) -> Hello:
        level = logging.getLogger("statusgate.engine.whatsapp").getEffectiveLevel()
        return Hello(
            version=PROTOCOL_VERSION,
            instance_id=instance_id,
            session_dir=str(self.session_dir(instance_id).resolve()),
            pair=pair,
            proxy=self.proxy,
            client_factory=self.client_factory,
            log_level=logging.getLevelName(max(level, logging.INFO)),
        )

    async def wipe(self, instance_id: int) -> None:
        await asyncio.to_thread(files.remove_store, self.session_dir(instance_id))
