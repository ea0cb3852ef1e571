"""Any accepted video → MP4 (H.264 + AAC, faststart) of at most ``max_seconds``, with a first-frame thumbnail.

H.264 (8-bit 4:2:0, what every phone plays) in an MP4/MOV/M4V is cut by stream copy: its packets are
re-wrapped untouched, which is as fast as reading the file. Everything else is decoded and re-encoded with
libx264. AAC audio is always copied; other audio is re-encoded to AAC.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.container
import av.filter
import av.stream
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.packet import Packet
from av.video.frame import VideoFrame
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

_COPY_CONTAINERS = frozenset({"mp4", "mov", "m4v"})
# High 10, 4:2:2 and 4:4:4 H.264 are valid but many phones cannot play them; those are re-encoded.
_COPY_PIXEL_FORMATS = frozenset({"yuv420p", "yuvj420p"})
_AAC_RATES = frozenset({16000, 22050, 24000, 32000, 44100, 48000})
_AAC_BIT_RATE = 128_000
_MP4_OPTIONS = {"movflags": "+faststart"}
_DEFAULT_RATE = Fraction(25)
# Float seconds from integer timestamps: a packet ending exactly at the limit must not be dropped.
_EPSILON = 1e-6
# Display rotation (counter-clockwise degrees, as PyAV reports it) → the filters that undo it; what the
# ffmpeg CLI's autorotate does.
_UNROTATE: dict[int, list[tuple[str, str | None]]] = {
    -90: [("transpose", "clock")],
    270: [("transpose", "clock")],
    90: [("transpose", "cclock")],
    -270: [("transpose", "cclock")],
    180: [("hflip", None), ("vflip", None)],
    -180: [("hflip", None), ("vflip", None)],
}


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
                cut = _Cut(src, video, audio, out, settings, deadline)
                if copy:
                    width, height = first.width, first.height
                    cut.run(_CopyPackets(out, video, cut, required=True))
                else:
                    width, height = _encoded_size(first, settings.video_max_side_px)
                    cut.run(_EncodeVideo(out, video, cut, first.rotation, width, height, settings))
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
                rotation = frame.rotation if frame.rotation in _UNROTATE else 0
                # PyAV's stub leaves to_image unannotated; it returns a PIL RGB image.
                picture: Image.Image = _Unrotator(rotation)(frame).to_image()  # type: ignore[no-untyped-call]
                return _FirstFrame(
                    thumbnail=jpeg_thumbnail(picture, settings.thumbnail_max_side_px),
                    rotation=rotation,
                    width=picture.width,
                    height=picture.height,
                )
        except av.FFmpegError:
            raise damaged("video", deadline) from None
    raise MediaError("urlFile video has no frames")


class _Unrotator:
    """Turns frames upright with FFmpeg's transpose/flip filters (one graph, rebuilt if the size changes)."""

    def __init__(self, rotation: int) -> None:
        self.rotation = rotation
        self._graph: av.filter.Graph | None = None
        self._shape: tuple[int, int, str] | None = None

    def __call__(self, frame: VideoFrame) -> VideoFrame:
        if not self.rotation:
            return frame
        shape = (frame.width, frame.height, frame.format.name)
        if self._graph is None or shape != self._shape:
            graph = av.filter.Graph()
            # The graph's time base is irrelevant: callers set the output timestamps themselves.
            nodes = [
                graph.add_buffer(
                    width=frame.width, height=frame.height, format=frame.format, time_base=Fraction(1, 90_000)
                )
            ]
            nodes += [graph.add(name, args) for name, args in _UNROTATE[self.rotation]]
            nodes.append(graph.add("buffersink"))
            graph.link_nodes(*nodes).configure()
            self._graph, self._shape = graph, shape
        self._graph.vpush(frame)
        return self._graph.vpull()


def _encoded_size(first: _FirstFrame, max_side: int) -> tuple[int, int]:
    width, height = fit_within(first.width, first.height, max_side)
    # 4:2:0 chroma is sampled per 2×2 pixels, so libx264 wants even dimensions.
    return max(2, width - width % 2), max(2, height - height % 2)


def _duration(path: Path, deadline: Deadline) -> float:
    with open_input(path, deadline) as out:
        return (out.duration or 0) / av.time_base


class _Cut:
    """One pass over the source: video and audio up to the limit, then stop reading.

    Times are measured from the earliest stream start, so a file whose timestamps begin at 10 s is cut at
    70 s; a stream is closed at its first packet or frame ending past the limit.
    """

    def __init__(
        self,
        src: av.container.InputContainer,
        video: VideoStream,
        audio: AudioStream | None,
        out: av.container.OutputContainer,
        settings: ConversionSettings,
        deadline: Deadline,
    ) -> None:
        self.src = src
        self.video = video
        self.out = out
        self.limit = settings.max_seconds + _EPSILON
        self.deadline = deadline
        starts = [
            float(s.start_time * s.time_base)
            for s in (video, audio)
            if s is not None and s.start_time is not None and s.time_base is not None
        ]
        self.origin = min(starts, default=0.0)
        self.audio_stream = audio
        self.audio: _CopyPackets | _EncodeAudio | None = None

    def at(self, ts: int | None, time_base: Fraction | None) -> float | None:
        """A timestamp as seconds since the origin."""
        if ts is None or time_base is None:
            return None
        return float(ts * time_base) - self.origin

    def run(self, video: _CopyPackets | _EncodeVideo) -> None:
        """Cut with ``video`` (which has added its output stream, so the MP4 lists video first)."""
        streams: list[av.stream.Stream] = [self.video]
        if self.audio_stream is not None:
            self.audio = _audio_handler(self.out, self.audio_stream, self)
            streams.append(self.audio_stream)
        for packet in self.src.demux(streams):
            self.deadline.check()
            if packet.stream is self.video:
                video.feed(packet)
            elif self.audio is not None:
                self.audio.feed(packet)
            if video.done and (self.audio is None or self.audio.done):
                break
        video.finish()
        if self.audio is not None:
            self.audio.finish()


class _CopyPackets:
    """Packets re-wrapped as they are: the longest run, in decode order, that ends by the limit.

    Stopping at the first packet (in decode order) that ends past the limit keeps a prefix of the stream,
    so every kept video frame still has the frames it references. Video must keep at least one packet.
    """

    def __init__(
        self,
        out: av.container.OutputContainer,
        source: VideoStream | AudioStream,
        cut: _Cut,
        *,
        required: bool,
    ) -> None:
        self.out = out
        self.cut = cut
        self.stream = out.add_stream_from_template(source)
        self.required = required
        self.kept = 0
        self.done = False

    def feed(self, packet: Packet[Any]) -> None:
        if self.done or packet.size == 0:
            return
        end = _packet_end(packet, self.cut)
        if end is not None and end > self.cut.limit:
            self.done = True
            return
        packet.stream = self.stream
        self.out.mux(packet)
        self.kept += 1

    def finish(self) -> None:
        if self.required and not self.kept:
            raise MediaError(
                f"urlFile video has no frame within its first {self.cut.limit - _EPSILON:g} seconds"
            )


def _packet_end(packet: Packet[Any], cut: _Cut) -> float | None:
    start = cut.at(packet.pts if packet.pts is not None else packet.dts, packet.time_base)
    if start is None or packet.time_base is None:
        return None
    return start + float((packet.duration or 0) * packet.time_base)


class _EncodeVideo:
    """Decoded frames up to the limit, turned upright, scaled and encoded with libx264."""

    def __init__(
        self,
        out: av.container.OutputContainer,
        video: VideoStream,
        cut: _Cut,
        rotation: int,
        width: int,
        height: int,
        settings: ConversionSettings,
    ) -> None:
        self.out = out
        self.cut = cut
        self.unrotate = _Unrotator(rotation)
        self.width = width
        self.height = height
        # Frame threads as well as slice threads: VP9, HEVC and MPEG-4 decode on every core only this way
        # (PyAV's default is slices alone, the ffmpeg CLI's is both).
        video.codec_context.thread_type = "AUTO"
        self.rate = video.average_rate or video.guessed_rate or _DEFAULT_RATE
        self.time_base = video.time_base or Fraction(1, 90_000)
        self.stream = out.add_stream("libx264", rate=self.rate)
        self.stream.width = width
        self.stream.height = height
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = self.time_base
        self.stream.options = {"preset": settings.video_preset, "crf": str(settings.video_crf)}
        self.last_pts: int | None = None
        self.kept = 0
        self.done = False

    def feed(self, packet: Packet[Any]) -> None:
        if self.done:
            return
        for frame in packet.decode():
            if not isinstance(frame, VideoFrame):
                continue
            self.cut.deadline.check()
            nominal = float(1 / self.rate)
            start = self.cut.at(frame.pts, frame.time_base)
            if start is None:
                # No timestamp (some AVI/raw streams): the frame follows the previous one at the nominal rate.
                start = 0.0 if self.last_pts is None else float(self.last_pts * self.time_base) + nominal
            length = (
                float(frame.duration * frame.time_base) if frame.duration and frame.time_base else nominal
            )
            if start + length > self.cut.limit:
                self.done = True
                return
            pts = round(start / self.time_base)
            if self.last_pts is not None and pts <= self.last_pts:
                continue  # a repeated timestamp: libx264 refuses non-increasing ones
            shaped = self.unrotate(frame).reformat(
                width=self.width, height=self.height, format="yuv420p", interpolation="BICUBIC"
            )
            shaped.pts = pts
            shaped.time_base = self.time_base
            self.out.mux(self.stream.encode(shaped))
            self.last_pts = pts
            self.kept += 1

    def finish(self) -> None:
        if not self.kept:
            raise MediaError(
                f"urlFile video has no frame within its first {self.cut.limit - _EPSILON:g} seconds"
            )
        self.out.mux(self.stream.encode(None))


class _EncodeAudio:
    def __init__(self, out: av.container.OutputContainer, audio: AudioStream, cut: _Cut) -> None:
        self.out = out
        self.cut = cut
        ctx = audio.codec_context
        rate = ctx.sample_rate if ctx.sample_rate in _AAC_RATES else 48_000
        layout = "mono" if ctx.channels == 1 else "stereo"
        self.out_stream = out.add_stream("aac", rate=rate, layout=layout)
        self.out_stream.bit_rate = _AAC_BIT_RATE
        self.done = False

    def feed(self, packet: Packet[Any]) -> None:
        if self.done:
            return
        for frame in packet.decode():
            if not isinstance(frame, AudioFrame):
                continue
            start = self.cut.at(frame.pts, frame.time_base)
            if start is not None and start + frame.samples / frame.sample_rate > self.cut.limit:
                self.done = True
                return
            # No pts: PyAV's encoder then resamples and counts samples itself, so the audio is continuous.
            frame.pts = None
            self.out.mux(self.out_stream.encode(frame))

    def finish(self) -> None:
        self.out.mux(self.out_stream.encode(None))


def _audio_handler(
    out: av.container.OutputContainer, audio: AudioStream, cut: _Cut
) -> _CopyPackets | _EncodeAudio:
    if audio.codec_context.name == "aac":
        return _CopyPackets(out, audio, cut, required=False)
    return _EncodeAudio(out, audio, cut)
