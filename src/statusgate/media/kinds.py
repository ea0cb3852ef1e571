"""Which fileName extensions map to which kind of status, and the MIME type of each extension."""

from __future__ import annotations

import posixpath

from statusgate.domain.models import MediaKind

IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp", "heic", "heif"})
# A GIF is sent as a looping video, which is why it is listed here and not with the images.
VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "m4v", "3gp", "webm", "mkv", "avi", "gif"})
AUDIO_EXTENSIONS = frozenset({"mp3", "ogg", "opus", "wav", "m4a", "aac"})

_KIND_BY_EXTENSION: dict[str, MediaKind] = {
    **dict.fromkeys(IMAGE_EXTENSIONS, MediaKind.IMAGE),
    **dict.fromkeys(VIDEO_EXTENSIONS, MediaKind.VIDEO),
    **dict.fromkeys(AUDIO_EXTENSIONS, MediaKind.AUDIO),
}

# Covers the accepted extensions plus what the probe may find inside a misnamed file (avif, bmp, …).
_MIME_BY_EXTENSION: dict[str, str] = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
    "avif": "image/avif",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "gif": "image/gif",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "m4v": "video/x-m4v",
    "3gp": "video/3gpp",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "avi": "video/x-msvideo",
    "ogv": "video/ogg",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    # WhatsApp's own voice notes are Ogg/Opus and are announced as audio/ogg, not audio/opus.
    "opus": "audio/ogg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
}


def extension_of(file_name: str) -> str:
    return posixpath.splitext(file_name)[1].removeprefix(".").lower()


def kind_for_file_name(file_name: str) -> MediaKind | None:
    return _KIND_BY_EXTENSION.get(extension_of(file_name))


def mime_for_extension(ext: str) -> str:
    return _MIME_BY_EXTENSION.get(ext.removeprefix(".").lower(), "application/octet-stream")
