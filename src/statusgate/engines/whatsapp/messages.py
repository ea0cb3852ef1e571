"""Our statuses as neonize's protobuf messages, and WhatsApp's incoming statuses as our payloads.

Child side only: this module imports neonize at module level, and only ``child`` (after containing
neonize's import-time effects) and the tests import it.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any, Protocol

from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    ExtendedTextMessage,
    ImageMessage,
    Message,
    VideoMessage,
)
from neonize.utils.enum import MediaType

from statusgate.engines.whatsapp.protocol import SendStatus

FontType = ExtendedTextMessage.FontType

#: Green's font names → WhatsApp's current FontType. WhatsApp retired BRYNDAN_WRITE (3) and OSWALD_HEAVY (5)
#: from its enum (they no longer parse), so those two get the closest current face.
FONTS: dict[str, int] = {
    "SANS_SERIF": FontType.SYSTEM,
    "SERIF": FontType.SYSTEM_TEXT,
    "NORICAN_REGULAR": FontType.FB_SCRIPT,
    "BRYNDAN_WRITE": FontType.MORNINGBREEZE_REGULAR,
    "OSWALD_HEAVY": FontType.SYSTEM_BOLD,
}
#: the way back, for incoming statuses; faces Green has no name for read as the nearest one
FONT_NAMES: dict[int, str] = {
    FontType.SYSTEM: "SANS_SERIF",
    FontType.SYSTEM_TEXT: "SERIF",
    FontType.FB_SCRIPT: "NORICAN_REGULAR",
    FontType.MORNINGBREEZE_REGULAR: "BRYNDAN_WRITE",
    FontType.SYSTEM_BOLD: "OSWALD_HEAVY",
    FontType.EXO2_EXTRABOLD: "OSWALD_HEAVY",
    FontType.CALISTOGA_REGULAR: "SERIF",
    FontType.COURIERPRIME_BOLD: "SERIF",
}
DEFAULT_BACKGROUND = "#000000"
VOICE_BACKGROUND = "#FFFFFF"
WHITE_ARGB = 0xFFFFFFFF
#: WhatsApp plays voice notes only with this exact type
VOICE_MIME = "audio/ogg; codecs=opus"

MEDIA_TYPES = {"image": MediaType.MediaImage, "video": MediaType.MediaVideo, "audio": MediaType.MediaAudio}


class Uploader(Protocol):
    def upload(self, binary: bytes, media_type: Any = None) -> Any: ...


class NotPublishedError(Exception):
    """The message could not be built (file unreadable, upload refused): nothing was sent."""


def argb(colour: str, default: str = DEFAULT_BACKGROUND) -> int:
    """``#RRGGBB`` → opaque ``0xAARRGGBB``."""
    value = colour or default
    return 0xFF000000 | int(value.lstrip("#"), 16)


def hex_colour(value: int) -> str:
    return f"#{value & 0xFFFFFF:06X}"


def build_status(client: Uploader, status: SendStatus) -> Message:
    """The protobuf message for one status; media is uploaded first (raises NotPublishedError on failure)."""
    if status.kind == "text":
        return Message(
            extendedTextMessage=ExtendedTextMessage(
                text=status.text,
                backgroundArgb=argb(status.background),
                textArgb=WHITE_ARGB,
                font=FONTS.get(status.font or "SANS_SERIF", FontType.SYSTEM),
            )
        )
    media_type = MEDIA_TYPES.get(status.kind)
    if media_type is None:
        raise NotPublishedError(f"unknown status kind {status.kind!r}")
    try:
        data = Path(status.media_path).read_bytes()
    except OSError as exc:
        raise NotPublishedError(f"the prepared file cannot be read: {exc}") from exc
    try:
        upload = client.upload(data, media_type)
    except Exception as exc:  # neonize raises UploadError, the Go side anything
        raise NotPublishedError(f"WhatsApp refused the media upload: {exc}") from exc
    common: dict[str, Any] = {
        "URL": upload.url,
        "directPath": upload.DirectPath,
        "mediaKey": upload.MediaKey,
        "fileEncSHA256": upload.FileEncSHA256,
        "fileSHA256": upload.FileSHA256,
        "fileLength": upload.FileLength,
        "mediaKeyTimestamp": int(time.time()),
    }
    thumbnail = base64.b64decode(status.jpeg_thumbnail) if status.jpeg_thumbnail else None
    if status.kind == "image":
        image = ImageMessage(mimetype=status.mime_type or "image/jpeg", **common)
        if status.caption:
            image.caption = status.caption
        if thumbnail:
            image.JPEGThumbnail = thumbnail
        if status.width and status.height:
            image.width, image.height = status.width, status.height
        return Message(imageMessage=image)
    if status.kind == "video":
        video = VideoMessage(mimetype=status.mime_type or "video/mp4", seconds=status.seconds, **common)
        if status.caption:
            video.caption = status.caption
        if thumbnail:
            video.JPEGThumbnail = thumbnail
        if status.width and status.height:
            video.width, video.height = status.width, status.height
        return Message(videoMessage=video)
    audio = AudioMessage(
        mimetype=VOICE_MIME if status.voice else (status.mime_type or "audio/ogg"),
        seconds=status.seconds,
        PTT=status.voice,
        **common,
    )
    if status.waveform:
        audio.waveform = base64.b64decode(status.waveform)
    if status.voice or status.background:
        audio.backgroundArgb = argb(status.background, VOICE_BACKGROUND)
    return Message(audioMessage=audio)


def incoming_payload(message: Message) -> dict[str, Any] | None:
    """A contact's status as the incoming journal stores it; None for what is not a status post
    (a revoke, a sender-key handshake, a reaction…)."""
    if message.HasField("extendedTextMessage"):
        text = message.extendedTextMessage
        return {
            "typeMessage": "extendedTextMessage",
            "text": text.text,
            "backgroundColor": hex_colour(text.backgroundArgb)
            if text.HasField("backgroundArgb")
            else DEFAULT_BACKGROUND,
            "font": FONT_NAMES.get(text.font, "SANS_SERIF"),
        }
    if message.HasField("conversation") and message.conversation:
        return {
            "typeMessage": "extendedTextMessage",
            "text": message.conversation,
            "backgroundColor": DEFAULT_BACKGROUND,
            "font": "SANS_SERIF",
        }
    for field, type_message in (
        ("imageMessage", "imageMessage"),
        ("videoMessage", "videoMessage"),
        ("audioMessage", "audioMessage"),
    ):
        if message.HasField(field):
            media = getattr(message, field)
            payload: dict[str, Any] = {"typeMessage": type_message, "mimeType": media.mimetype}
            if getattr(media, "caption", ""):
                payload["caption"] = media.caption
            if field != "imageMessage" and media.seconds:
                payload["seconds"] = media.seconds
            thumbnail = getattr(media, "JPEGThumbnail", b"")
            if thumbnail:
                payload["jpegThumbnail"] = base64.b64encode(thumbnail).decode("ascii")
            return payload
    return None
