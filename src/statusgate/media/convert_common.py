"""What every converter shares: its settings, its result, its time budget and the JPEG thumbnail."""

from __future__ import annotations

import base64
import contextlib
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.container
from av.audio.frame import AudioFrame
from PIL import Image

from statusgate.domain.models import MediaKind
from statusgate.errors import MediaError
from statusgate.media.probe import AV_OPTIONS
from statusgate.settings import Settings

#: Bumped whenever a converter's output changes for the same input and settings, so the source → media
#: cache stops handing out files made the old way.
CONVERTER_VERSION = "3"

_THUMBNAIL_QUALITY = 70


@dataclass(frozen=True)
class ConversionSettings:
    max_seconds: float = 60
    image_max_side_px: int = 1920
    thumbnail_max_side_px: int = 100
    jpeg_quality: int = 85
    max_image_pixels: int = 100_000_000
    max_image_dimension_px: int = 30_000
    image_decode_max_bytes: int = 192 * 1024 * 1024
    video_max_side_px: int = 1280
    video_preset: str = "veryfast"
    video_crf: int = 23
    timeout_seconds: float = 180

    @classmethod
    def from_settings(cls, settings: Settings) -> ConversionSettings:
        return cls(
            max_seconds=settings.max_media_seconds,
            image_max_side_px=settings.image_max_side_px,
            thumbnail_max_side_px=settings.thumbnail_max_side_px,
            jpeg_quality=settings.jpeg_quality,
            max_image_pixels=settings.max_image_pixels,
            max_image_dimension_px=settings.max_image_dimension_px,
            image_decode_max_bytes=settings.image_decode_max_bytes,
            video_max_side_px=settings.video_max_side_px,
            video_preset=settings.video_preset,
            video_crf=settings.video_crf,
            timeout_seconds=settings.conversion_timeout_seconds,
        )

    @property
    def version(self) -> str:
        """Everything that shapes the output; part of the cache key. The time budget and the largest
        dimension are not: they only decide whether there is an output at all. The decode budget is: it
        decides whether Pillow or libvips resizes."""
        return (
            f"c{CONVERTER_VERSION};s{self.max_seconds:g};i{self.image_max_side_px},q{self.jpeg_quality};"
            f"t{self.thumbnail_max_side_px};p{self.max_image_pixels};d{self.image_decode_max_bytes};"
            f"v{self.video_max_side_px},{self.video_preset},{self.video_crf}"
        )


@dataclass(frozen=True)
class Converted:
    """A converted file (``path``, owned by the caller) and what is known about it."""

    path: Path
    kind: MediaKind
    mime_type: str
    extension: str
    jpeg_thumbnail: str | None = None
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    waveform: bytes | None = None
    #: audio and video: how long the source said it was (its container's duration), when it said
    source_duration_seconds: float | None = None


class Deadline:
    """The time budget of one conversion.

    A conversion runs in a worker thread, which cannot be killed from outside; the converters' loops call
    :meth:`check` once per packet or frame, so a pathological input ends with an error instead of holding a
    worker forever.
    """

    def __init__(self, seconds: float, noun: str) -> None:
        self.seconds = seconds
        self.noun = noun
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self._end

    def error(self) -> MediaError:
        return MediaError(
            f"converting the {self.noun} took longer than {self.seconds:g} s and was stopped "
            "(conversion_timeout_seconds)"
        )

    def check(self) -> None:
        if self.expired():
            raise self.error()


def damaged(noun: str, deadline: Deadline) -> MediaError:
    """The error for an FFmpeg failure mid-conversion: a timeout if that caused it, else damaged data."""
    if deadline.expired():
        return deadline.error()
    return MediaError(f"urlFile returned a damaged or truncated {noun} file (it could not be converted)")


def container_seconds(container: av.container.InputContainer) -> float | None:
    """The duration an input container declares, if it declares one."""
    return container.duration / av.time_base if container.duration else None


def open_input(
    path: Path, deadline: Deadline, *, container_format: str | None = None
) -> av.container.InputContainer:
    """Open a probed file for decoding, under the probe's format allow-list.

    ``timeout`` makes FFmpeg's own I/O give up when the budget is spent, for the rare demuxer that could
    spin inside a single read where our loops cannot check the clock.
    """
    options = dict(AV_OPTIONS)
    if container_format is not None:
        options["format_whitelist"] = container_format
    remaining = max(deadline.remaining(), 0.001)
    try:
        return av.open(
            str(path),
            format=container_format,
            container_options=options,
            timeout=(remaining, remaining),
        )
    except av.FFmpegError:
        raise damaged(deadline.noun, deadline) from None


@contextlib.contextmanager
def output_container(
    path: Path, container_format: str, options: dict[str, str] | None = None
) -> Iterator[av.container.OutputContainer]:
    """An output file that is finished (trailer, faststart) on success and merely closed on failure.

    PyAV's own ``with`` writes the trailer on failure too, and an error from that would replace the one
    that explains what went wrong.
    """
    out = av.open(str(path), "w", format=container_format, options=options or {})
    try:
        yield out
    except BaseException:
        with contextlib.suppress(Exception):
            out.close()
        raise
    out.close()


def first_samples(frame: AudioFrame, samples: int) -> AudioFrame:
    """The first ``samples`` of ``frame`` (fewer than it has), with its timing: how a cut ends exactly at
    the limit instead of at the last whole frame before it."""
    cut = AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=samples)
    per_plane = samples * frame.format.bytes * (1 if frame.format.is_planar else frame.layout.nb_channels)
    for source, plane in zip(frame.planes, cut.planes, strict=True):
        # A plane's buffer may be padded past the sound; update() wants it whole.
        plane.update(bytes(source)[:per_plane].ljust(plane.buffer_size, b"\0"))
    cut.sample_rate = frame.sample_rate
    cut.pts = frame.pts
    cut.time_base = frame.time_base
    return cut


def jpeg_thumbnail(image: Image.Image, max_side: int) -> str:
    """A small base64 JPEG of ``image`` (RGB), long side at most ``max_side``."""
    thumb = image.copy()
    thumb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    thumb.save(buf, "JPEG", quality=_THUMBNAIL_QUALITY)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    """``width`` × ``height`` scaled down (never up) so the long side is at most ``max_side``."""
    long_side = max(width, height)
    if long_side <= max_side:
        return width, height
    scale = max_side / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))
