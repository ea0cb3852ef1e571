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

import typing
from dataclasses import dataclass
from typing import Any, ClassVar

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
    "MAX_LINE_BYTES",
    "PERMANENT",
    "TRANSIENT",
    "UNCERTAIN",
    "Envelope",
    "ProtocolError",
    "Response",
    "Welcome",
    "from_dict",
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


# --- requests and their results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    """The result of a request that answers nothing but success."""


@dataclass(frozen=True)
class ContactRecord:
    #: ``digits@c.us``
    chat_id: str
    #: the name saved in the phone's address book (empty: not saved)
    full_name: str
    first_name: str
    #: the contact's own profile name
    push_name: str


@dataclass(frozen=True)
class ContactsResult:
    contacts: list[ContactRecord]


@dataclass(frozen=True)
class CheckNumbersResult:
    #: the queried numbers (digits only) that are on WhatsApp
    registered: list[str]


@dataclass(frozen=True)
class SendResult:
    wa_message_id: str
    timestamp: float


@dataclass(frozen=True)
class PairPhoneResult:
    code: str


@dataclass(frozen=True)
class Contacts:
    result: ClassVar[type] = ContactsResult


@dataclass(frozen=True)
class CheckNumbers:
    result: ClassVar[type] = CheckNumbersResult
    #: digits only, international format
    numbers: list[str]


@dataclass(frozen=True)
class SendStatus:
    """A status for ``status@broadcast``; the child turns it into neonize's protobuf message."""

    result: ClassVar[type] = SendResult
    #: text, image, video or audio
    kind: str
    #: our message id, for the child's log lines only (WhatsApp chooses its own)
    message_id: str
    text: str = ""
    #: ``#RRGGBB`` (text and voice statuses)
    background: str = ""
    #: Green's font name (text statuses)
    font: str = ""
    caption: str = ""
    #: the prepared file, read by the child
    media_path: str = ""
    mime_type: str = ""
    #: base64 JPEG
    jpeg_thumbnail: str = ""
    seconds: int = 0
    #: base64 of 64 samples (voice)
    waveform: str = ""
    width: int = 0
    height: int = 0
    #: a voice note (push-to-talk) rather than an audio file
    voice: bool = False


@dataclass(frozen=True)
class Revoke:
    result: ClassVar[type] = Done
    wa_message_id: str


@dataclass(frozen=True)
class PairPhone:
    result: ClassVar[type] = PairPhoneResult
    #: digits only, international format
    phone: str


@dataclass(frozen=True)
class Logout:
    result: ClassVar[type] = Done


@dataclass(frozen=True)
class Shutdown:
    result: ClassVar[type] = Done


Request = Contacts | CheckNumbers | SendStatus | Revoke | PairPhone | Logout | Shutdown
REQUEST_TYPES: tuple[type, ...] = typing.get_args(Request)


# --- events (child → server, unsolicited) --------------------------------------------------------------------


@dataclass(frozen=True)
class QrCode:
    #: whatsmeow's raw QR string; rotates every 20-60 s
    code: str


@dataclass(frozen=True)
class Paired:
    chat_id: str


@dataclass(frozen=True)
class Connected:
    """Connected and logged in: the account is authorized."""

    chat_id: str
    push_name: str


@dataclass(frozen=True)
class Disconnected:
    """The connection dropped; whatsmeow reconnects by itself."""

    reason: str


@dataclass(frozen=True)
class LoggedOut:
    """The session is gone (unlinked on the phone, or refused by WhatsApp)."""

    reason: str
    banned: bool


@dataclass(frozen=True)
class Banned:
    """A temporary ban: WhatsApp refuses the account until ``expires_at`` (0: unknown)."""

    reason: str
    expires_at: float


@dataclass(frozen=True)
class ConnectFailed:
    """The connection could not be made or ended for good; the child does nothing more."""

    reason: str


@dataclass(frozen=True)
class Receipt:
    wa_message_ids: list[str]
    #: the viewer, ``digits@c.us``
    participant: str
    #: delivered or read
    status: str
    at: float


@dataclass(frozen=True)
class Incoming:
    wa_message_id: str
    #: the poster, ``digits@c.us``
    sender: str
    at: float
    #: as the sandbox's incoming events: typeMessage, text/backgroundColor/font or caption/mimeType, names
    payload: dict[str, Any]


@dataclass(frozen=True)
class Fatal:
    """The child cannot work at all (neonize missing, bad Hello); it exits after this."""

    reason: str


Event = (
    QrCode
    | Paired
    | Connected
    | Disconnected
    | LoggedOut
    | Banned
    | ConnectFailed
    | Receipt
    | Incoming
    | Fatal
)

_FRAMES: tuple[type, ...] = (
    Hello,
    Contacts,
    CheckNumbers,
    SendStatus,
    Revoke,
    PairPhone,
    Logout,
    Shutdown,
    QrCode,
    Paired,
    Connected,
    Disconnected,
    LoggedOut,
    Banned,
    ConnectFailed,
    Receipt,
    Incoming,
    Fatal,
)
CODEC = Codec(PROTOCOL_VERSION, _FRAMES)
EVENT_TYPES: tuple[type, ...] = typing.get_args(Event)


def is_event(frame: object) -> typing.TypeGuard[Event]:
    return isinstance(frame, EVENT_TYPES)


def is_request(frame: object) -> typing.TypeGuard[Request]:
    return isinstance(frame, REQUEST_TYPES)


def encode(frame: Any, id: int | None = None) -> bytes:
    """One line (newline included)."""
    return CODEC.encode(frame, id)


def decode(line: bytes) -> Envelope:
    return CODEC.decode(line)


def result_of(request: Request, response: Response) -> Any:
    """The typed result of a successful response to ``request``."""
    return from_dict(type(request).result, response.result)
