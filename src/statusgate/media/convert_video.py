"""Any accepted video → MP4 (H.264 + AAC, faststart) of at most ``max_seconds``, with a first-frame thumbnail.

H.264 (8-bit 4:2:0, what every phone plays) in an MP4/MOV/M4V is cut by stream copy: its packets are
re-wrapped untouched, which is as fast as reading the file. Everything else is decoded and re-encoded with
libx264. AAC audio is always copied; other audio is re-encoded to AAC.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import av.stream
from av.video.stream import VideoStream
from PIL import Image

from statusgate.domain.models import MediaKind
from statusgate.errors import MediaError
from statusgate.media.convert_common import (
    ConversionSettings,
    Converted,
    Deadline,
    container_seconds,
    damaged,
    fit_within,
    jpeg_thumbnail,
    open_input,
    output_container,
)
from statusgate.media.convert_image import too_many_pixels
from statusgate.media.probe import ProbeResult
from statusgate.media.video_cut import CopyPackets, Cut, EncodeVideo
from statusgate.media.video_rotation import UNROTATE, Unrotator

_COPY_CONTAINERS = frozenset({"mp4", "mov", "m4v"})
# High 10, 4:2:2 and 4:4:4 H.264 are valid but many phones cannot play them; those are re-encoded.
_COPY_PIXEL_FORMATS = frozenset({"yuv420p", "yuvj420p"})
_MP4_OPTIONS = {"movflags": "+faststart"}


@dataclass(frozen=True)
class _FirstFrame:
    thumbnail: str
    rotation: int
    #: as displayed, rotation applied
    width: int
    height: int


def convert_video(
    source: Path, probed: ProbeResult, dest: Path, settings: ConversionSettings, deadline: Deadline
) -> Converted:
    # A GIF goes out as a (looping) MP4; its demuxer is outside the probe's allow-list, so name it alone.
    container_format = "gif" if probed.extension == "gif" else None
    first = _first_frame(source, settings, deadline, container_format)
    with open_input(source, deadline, container_format=container_format) as src:
        video = _video_stream(src)
        audio = src.streams.audio[0] if src.streams.audio else None
        declared = container_seconds(src)
        ctx = video.codec_context
        copy = (
            probed.extension in _COPY_CONTAINERS and ctx.name == "h264" and ctx.pix_fmt in _COPY_PIXEL_FORMATS
        )
        try:
            with output_container(dest, "mp4", _MP4_OPTIONS) as out:
                cut = Cut(src, video, audio, out, settings, deadline)
                if copy:
                    width, height = first.width, first.height
                    cut.run(CopyPackets(out, video, cut, required=True))
                else:
                    width, height = _encoded_size(first, settings.video_max_side_px)
                    cut.run(EncodeVideo(out, video, cut, first.rotation, width, height, settings))
        except av.FFmpegError:
            raise damaged("video", deadline) from None
    return Converted(
        path=dest,
        kind=MediaKind.VIDEO,
        mime_type="video/mp4",
        extension="mp4",
        jpeg_thumbnail=first.thumbnail,
        width=width,
        height=height,
        duration_seconds=_duration(dest, deadline),
        source_duration_seconds=declared,
    )


def _video_stream(src: av.container.InputContainer) -> VideoStream:
    for stream in src.streams.video:
        # Cover art in a video file is a one-picture "video" stream; never the one to convert.
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise MediaError("urlFile video has no video stream")


def _first_frame(
    source: Path, settings: ConversionSettings, deadline: Deadline, container_format: str | None
) -> _FirstFrame:
    """Decode the first picture (its own short pass): thumbnail, rotation and size are known before any
    output stream is created."""
    with open_input(source, deadline, container_format=container_format) as src:
        video = _video_stream(src)
        ctx = video.codec_context
        if ctx.width * ctx.height > settings.max_image_pixels:
            raise too_many_pixels(ctx.width, ctx.height, settings.max_image_pixels, "video")
        try:
            for frame in src.decode(video):
                deadline.check()
                rotation = frame.rotation if frame.rotation in UNROTATE else 0
                # PyAV's stub leaves to_image unannotated; it returns a PIL RGB image.
                picture: Image.Image = Unrotator(rotation)(frame).to_image()  # type: ignore[no-untyped-call]
                return _FirstFrame(
                    thumbnail=jpeg_thumbnail(picture, settings.thumbnail_max_side_px),
                    rotation=rotation,
                    width=picture.width,
                    height=picture.height,
                )
        except av.FFmpegError:
            raise damaged("video", deadline) from None
    raise MediaError("urlFile video has no frames")


def _encoded_size(first: _FirstFrame, max_side: int) -> tuple[int, int]:
    width, height = fit_within(first.width, first.height, max_side)
    # 4:2:0 chroma is sampled per 2×2 pixels, so libx264 wants even dimensions.
    return max(2, width - width % 2), max(2, height - height % 2)


def _duration(path: Path, deadline: Deadline) -> float:
    with open_input(path, deadline) as out:
        return (out.duration or 0) / av.time_base
