"""Probed media → what a WhatsApp status carries: JPEG, MP4 (H.264 + AAC) or Ogg/Opus, in-process.

Images go through Pillow (HEIC/HEIF through pillow-heif), audio and video through PyAV (FFmpeg's libraries);
no ffmpeg program is run. Each conversion is blocking (run it in a thread) and has a time budget.
"""

from __future__ import annotations

from pathlib import Path

from pillow_heif import register_heif_opener

from statusgate.domain.models import MediaKind
from statusgate.media.convert_audio import convert_audio
from statusgate.media.convert_common import ConversionSettings, Converted, Deadline
from statusgate.media.convert_image import convert_image
from statusgate.media.convert_video import convert_video
from statusgate.media.probe import ProbeResult

__all__ = ["ConversionSettings", "Converted", "convert_media"]

# iPhone photos are HEIC; Pillow reads them only with this plugin registered (idempotent).
register_heif_opener()

_NOUN = {MediaKind.IMAGE: "image", MediaKind.VIDEO: "video", MediaKind.AUDIO: "audio"}


def convert_media(source: Path, probed: ProbeResult, dest: Path, settings: ConversionSettings) -> Converted:
    """Convert ``source`` (already probed as ``probed``) into ``dest``; ``source`` is left unchanged.

    Raises :class:`~statusgate.errors.MediaError` with a user-facing text when it cannot be converted or
    the conversion outlives ``settings.timeout_seconds``. ``dest`` may be left behind on error (the caller
    owns it).
    """
    deadline = Deadline(settings.timeout_seconds, _NOUN[probed.kind])
    if probed.kind is MediaKind.IMAGE:
        return convert_image(source, dest, settings, deadline)
    if probed.kind is MediaKind.VIDEO:
        return convert_video(source, probed, dest, settings, deadline)
    return convert_audio(source, dest, settings, deadline)
