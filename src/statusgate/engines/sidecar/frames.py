"""The frames every engine child speaks beyond its own ``Hello`` (framing: ``engines.sidecar.framing``).

An engine's protocol module adds its ``Hello`` (what a child needs to start its account) and any frames of its
own, and builds its codec from :data:`FRAMES` plus those. The requests, results and events here mean the
same whatever library runs in the child: docs/engines.md, "The child protocol", describes each.
Only the standard library is used: a child written in Python imports this module.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, ClassVar

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
    """A status for ``status@broadcast``; the child builds its library's message from it."""

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
    #: the raw QR string the library shows; rotates every 20-60 s
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
    """The connection dropped; the child reconnects by itself."""

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
class ContactChange:
    #: ``digits@c.us``
    chat_id: str
    #: the name saved in the phone's address book; None: this change does not say
    full_name: str | None = None
    #: the contact's own profile name; None: this change does not say
    push_name: str | None = None
    #: the phone's address book no longer has it
    removed: bool = False


@dataclass(frozen=True)
class AddressBook:
    """The phone's address book changed, or a contact's profile name was seen: changes in the order the
    library learnt them (a first sync lists the book in the phone's order). ``synced``: the first sync
    after linking is complete (sent once per connection, possibly with no changes)."""

    changes: list[ContactChange]
    synced: bool = False


@dataclass(frozen=True)
class Fatal:
    """The child cannot work at all (its library missing, a bad Hello); it exits after this."""

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
    | AddressBook
    | Fatal
)

#: the events that are the account's traffic (the engine's business), not its life (the account's)
Traffic = Receipt | Incoming | AddressBook


#: every frame of this module, for an engine's codec
FRAMES: tuple[type, ...] = (
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
    ContactChange,
    AddressBook,
    Fatal,
)
EVENT_TYPES: tuple[type, ...] = typing.get_args(Event)


def is_event(frame: object) -> typing.TypeGuard[Event]:
    return isinstance(frame, EVENT_TYPES)


def is_request(frame: object) -> typing.TypeGuard[Request]:
    return isinstance(frame, REQUEST_TYPES)
