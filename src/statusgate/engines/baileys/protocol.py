"""The frames of the baileys child's protocol, on the sidecar framing (docs/engines.md, "The child protocol").

The requests and events are the engine-neutral ones (``engines.sidecar.frames``); beside them the child's
own :class:`Hello`, and the child's requests for its account's keys (``child/auth_state.mjs`` sends them,
``keys.py`` answers them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from statusgate.engines.sidecar.frames import FRAMES as COMMON_FRAMES
from statusgate.engines.sidecar.frames import Fatal, SendStatus, Shutdown, is_event
from statusgate.engines.sidecar.framing import Codec

__all__ = ["CODEC", "PROTOCOL_VERSION", "Fatal", "Hello", "Shutdown", "is_event"]

PROTOCOL_VERSION = 1


@dataclass(frozen=True)
class Hello:
    version: int
    instance_id: int
    #: the machine's install of the child's Node packages (``statusgate engines install baileys``)
    install_dir: str
    #: WhatsApp's chat server (a loopback stand-in in tests)
    ws_url: str
    #: link a new device (QR codes, a pairing code) rather than log in with the stored creds
    pair: bool
    #: shown on the phone, in its linked devices
    browser: str
    #: base64 of a Noise root key replacing Baileys' pinned one; only with a loopback IP-literal ``ws_url``
    test_root_key: str = ""
    query_timeout_ms: int = 30_000
    #: how long Baileys shows each QR code before the next (0: its own default)
    qr_timeout_ms: int = 0
    #: reconnect backoff of a linked account inside the child
    restart_base_ms: int = 1000
    restart_cap_ms: int = 60_000
    #: Baileys' logger level, never above warn (its debug output dumps key material)
    log_level: str = "warn"
    #: the WhatsApp Web version to announce, "a.b.c" (empty: Baileys' own)
    wa_version: str = ""


@dataclass(frozen=True)
class KeysGet:
    """The child asks for the values of ``ids`` in ``category``; the reply's result is ``{"values": {id:
    text}}``, an id with no value left out."""

    category: str
    ids: list[str]


@dataclass(frozen=True)
class KeyValue:
    """One key to store (``value``: the engine's serialisation) or, with ``value`` null, to delete."""

    category: str
    id: str
    value: str | None


@dataclass(frozen=True)
class KeysSet:
    """The child stores and deletes these keys, in order, in one transaction; refused (``fenced``) unless
    its worker still holds the account's lease. The reply's result is empty."""

    writes: list[KeyValue]


@dataclass(frozen=True)
class KeysWipe:
    """The child deletes every key of its account (logged out); fenced as :class:`KeysSet`."""


@dataclass(frozen=True)
class ChunkResult:
    #: the server's ack carried this error code ("479", …): nobody in the chunk got the status
    ack_error: str
    #: recipients (``digits@c.us``) none of whose devices Baileys could encrypt for: left out of the stanza
    dropped: list[str]
    #: every device Baileys could not encrypt for (a recipient may still have it on another device)
    failed_devices: list[str]
    #: when the stanza left (unix seconds, the child's clock)
    sent_at: float


@dataclass(frozen=True)
class SendChunk:
    """Send ``status`` to one chunk of its audience under ``status.message_id`` and wait for the server's
    ack. The child builds the message (and uploads its media) at the status' first chunk and keeps it for
    the others, so every chunk carries the same content under the same id. An answer with error kind
    ``uncertain``: the stanza may have left, and no ack came in time."""

    result: ClassVar[type] = ChunkResult
    status: SendStatus
    index: int
    #: chat ids (``digits@c.us``), never our own: the child adds the account's own JID to the first chunk
    recipients: list[str]
    #: ``lid`` or ``pn``
    addressing: str
    ack_timeout_ms: int
    #: the last chunk: the child forgets the built message after it (it keeps a few, in case)
    last: bool


@dataclass(frozen=True)
class RevokeChunk:
    """Revoke ``message_id`` for one chunk of those it went to (same rules as :class:`SendChunk`)."""

    result: ClassVar[type] = ChunkResult
    message_id: str
    index: int
    recipients: list[str]
    addressing: str
    ack_timeout_ms: int


#: the requests a baileys child sends the server
KEY_REQUESTS: tuple[type, ...] = (KeysGet, KeysSet, KeysWipe)
#: the key frames, for a codec (the auth-state tests build their own child's)
FRAMES: tuple[type, ...] = (KeyValue, *KEY_REQUESTS, ChunkResult, SendChunk, RevokeChunk)
CODEC = Codec(PROTOCOL_VERSION, (Hello, *COMMON_FRAMES, *FRAMES))
