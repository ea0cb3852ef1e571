"""Frozen value objects shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from statusgate.domain.instance_settings import InstanceSettings
from statusgate.domain.states import InstanceState, ReceiptStatus


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"


class StatusType(StrEnum):
    """The Green method that queued a status; also the ``type`` in showMessagesQueue."""

    TEXT = "sendTextStatus"
    MEDIA = "sendMediaStatus"
    VOICE = "sendVoiceStatus"


class EngineName(StrEnum):
    SANDBOX = "sandbox"
    WHATSAPP = "whatsapp"
    BAILEYS = "baileys"


@dataclass(frozen=True)
class Instance:
    id_instance: int
    name: str | None
    engine: EngineName
    token_hash: str
    status_access: bool
    settings: InstanceSettings
    created_at: float
    #: when the instance's previous send call returned (the pacing clock); None before its first
    last_send_ended_at: float | None = None


@dataclass(frozen=True)
class Contact:
    """One address-book entry or chat, as getContacts shows it."""

    id: str
    name: str
    contact_name: str
    type: str = "user"


@dataclass(frozen=True)
class PreparedMedia:
    """A file made ready for WhatsApp, stored content-addressed in the media store."""

    #: sha256 of the prepared bytes
    media_id: str
    kind: MediaKind
    mime_type: str
    extension: str
    size: int
    path: Path
    #: small JPEG preview, base64 (images and videos)
    jpeg_thumbnail: str | None = None
    width: int | None = None
    height: int | None = None
    #: audio and video
    duration_seconds: float | None = None
    #: audio: 64 loudness samples, each 0..100 (WhatsApp's voice-note waveform)
    waveform: bytes | None = None
    #: what it was made from: the source's bytes and, for audio and video, its duration before the cut
    source_size: int | None = None
    source_duration_seconds: float | None = None


@dataclass(frozen=True)
class QrAnswer:
    """The ``qr`` method's answer: ``type`` is qrCode, alreadyLogged or error."""

    type: str
    message: str


@dataclass(frozen=True)
class SendOutcome:
    """The recipients the engine reports the status went to (empty: it cannot say; receipts will), and, if
    the engine can tell, when the network took the status in, by this machine's clock (``time.time()``):
    an instance's next send is paced from that moment rather than from the call's return."""

    recipients: tuple[str, ...]
    received_at: float | None = None
    #: what the status' record says of a send that reached only part of its audience (empty: all of it)
    note: str = ""


class DeliveryState(StrEnum):
    """What an engine knows of whether the network received a status (``Engine.delivered``)."""

    #: the network has it
    DELIVERED = "delivered"
    #: it never reached the network, and no attempt is under way: sending is safe
    NOT_DELIVERED = "notDelivered"
    #: an attempt is still under way: ask again later
    PENDING = "pending"
    #: the engine cannot tell (an attempt began; nothing says how it ended)
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DeliveryCheck:
    """An engine's answer to "did the network receive this status?"."""

    state: DeliveryState
    #: who received it, when the state is DELIVERED and the engine knows (empty otherwise)
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReceiptEvent:
    instance_id: int
    message_id: str
    participant: str
    status: ReceiptStatus
    at: float


@dataclass(frozen=True)
class StateEvent:
    instance_id: int
    state: InstanceState
    at: float


@dataclass(frozen=True)
class IncomingStatusEvent:
    instance_id: int
    message_id: str
    sender: str
    at: float
    payload: dict[str, Any] = field(default_factory=dict)


EngineEvent = ReceiptEvent | StateEvent | IncomingStatusEvent
