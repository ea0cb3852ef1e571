"""The whatsapp engine's frames on the child wire (the framing, JSON lines, is ``engines.sidecar.framing``).

One frame per line, ``{"v": 1, "t": "<type>", "id": <int|null>, "d": {fields}}``:

- server → child: :class:`Hello` first, then requests (each with a fresh ``id``).
- child → server: :class:`Welcome` (the answer to Hello), a :class:`Response` per request (same ``id``),
  and unsolicited events (``id`` null) in the order the library produced them.

The child speaks on a dedicated file descriptor (its original stdout, once Go and neonize, which both print
there, have been moved to stderr). ``PROTOCOL_VERSION`` changes with any incompatible change of a frame;
the child refuses a Hello of another version, so a server never talks to a child it does not understand.
Only the standard library is used: both sides import this module, and the server must not need neonize.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from statusgate.engines.sidecar.frames import (
    EVENT_TYPES,
    FRAMES,
    REQUEST_TYPES,
    Banned,
    CheckNumbers,
    CheckNumbersResult,
    Connected,
    ConnectFailed,
    ContactRecord,
    Contacts,
    ContactsResult,
    Disconnected,
    Done,
    Event,
    Fatal,
    Incoming,
    LoggedOut,
    Logout,
    Paired,
    PairPhone,
    PairPhoneResult,
    QrCode,
    Receipt,
    Request,
    Revoke,
    SendResult,
    SendStatus,
    Shutdown,
    is_event,
    is_request,
)
from statusgate.engines.sidecar.framing import (
    MAX_LINE_BYTES,
    PERMANENT,
    TRANSIENT,
    UNCERTAIN,
    Codec,
    Envelope,
    ProtocolError,
    Response,
    Welcome,
    from_dict,
)

__all__ = [
    "EVENT_TYPES",
    "MAX_LINE_BYTES",
    "PERMANENT",
    "REQUEST_TYPES",
    "TRANSIENT",
    "UNCERTAIN",
    "Banned",
    "CheckNumbers",
    "CheckNumbersResult",
    "ConnectFailed",
    "Connected",
    "ContactRecord",
    "Contacts",
    "ContactsResult",
    "Disconnected",
    "Done",
    "Envelope",
    "Event",
    "Fatal",
    "Incoming",
    "LoggedOut",
    "Logout",
    "PairPhone",
    "PairPhoneResult",
    "Paired",
    "ProtocolError",
    "QrCode",
    "Receipt",
    "Request",
    "Response",
    "Revoke",
    "SendResult",
    "SendStatus",
    "Shutdown",
    "Welcome",
    "from_dict",
    "is_event",
    "is_request",
]

PROTOCOL_VERSION = 1


# --- handshake -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    version: int
    instance_id: int
    #: ``<data_dir>/sessions/<idInstance>``: whatsmeow's SQLite store lives here
    session_dir: str
    #: pair a new device (show QR codes) rather than resume the stored session
    pair: bool
    #: proxy URL for every connection neonize makes (``socks5://host:port``); empty: direct
    proxy: str = ""
    #: ``module:callable`` building the client instead of ``neonize.client.NewClient`` (tests only)
    client_factory: str = ""
    log_level: str = "INFO"


CODEC = Codec(PROTOCOL_VERSION, (Hello, *FRAMES))


def encode(frame: Any, id: int | None = None) -> bytes:
    """One line (newline included)."""
    return CODEC.encode(frame, id)


def decode(line: bytes) -> Envelope:
    return CODEC.decode(line)


def result_of(request: Request, response: Response) -> Any:
    """The typed result of a successful response to ``request``."""
    return from_dict(type(request).result, response.result)
