"""The whatsapp engine's child processes: ``python -m statusgate.engines.whatsapp.child``, supervised by the
engine-neutral ``sidecar.process``."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from statusgate.engines.sidecar.framing import Response
from statusgate.engines.sidecar.process import DIED, ChildKind, ChildProcess, ChildStartError
from statusgate.engines.whatsapp.protocol import CODEC, Event, Fatal, SendStatus, Shutdown, is_event

__all__ = ["DIED", "ChildProcess", "ChildStartError", "in_flight", "whatsapp_child"]

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


def in_flight(child: ChildProcess, message_id: str) -> asyncio.Future[Response] | None:
    """The unanswered send of this status, if any."""
    return child.in_flight(
        lambda request: isinstance(request, SendStatus) and request.message_id == message_id
    )
