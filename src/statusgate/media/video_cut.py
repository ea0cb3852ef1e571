"""The one pass that cuts a video to ``max_seconds``: its packets copied (H.264 in MP4) or its frames
re-encoded with libx264, and its audio copied (AAC) or re-encoded to AAC, each stream ending at the limit
exactly (docs/decisions.md, "Media")."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av
import av.container
import av.stream
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.packet import Packet
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from statusgate.errors import MediaError
from statusgate.media.convert_common import ConversionSettings, Deadline, first_samples
from statusgate.media.video_rotation import Unrotator

_AAC_RATES = frozenset({16000, 22050, 24000, 32000, 44100, 48000})
_AAC_BIT_RATE = 128_000
_DEFAULT_RATE = Fraction(25)
_COARSEST_TIME_BASE = Fraction(1, 1000)
_FINE_TIME_BASE = Fraction(1, 90_000)
# Float seconds from integer timestamps: a frame starting exactly at the limit is cut even when rounding puts
# it a hair before.
_EPSILON = 1e-6


class Cut:
    """One pass over the source: video and audio up to the limit, then stop reading.

    Times are measured from the earliest stream start, so a file whose timestamps begin at 10 s is cut at
    70 s. A stream keeps every frame (or audio sample) that starts before the limit, and the one that
    straddles it is shortened to end there: a longer source gives video and audio of ``max_seconds``
    exactly, neither a frame less nor more (docs/decisions.md, "Media").
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
        self.limit = float(settings.max_seconds)
        self.deadline = deadline
        starts = [
            float(s.start_time * s.time_base)
            for s in (video, audio)
            if s is not None and s.start_time is not None and s.time_base is not None
        ]
        self.origin = min(starts, default=0.0)
        self.audio_stream = audio
        self.audio: CopyPackets | EncodeAudio | None = None

    def at(self, ts: int | None, time_base: Fraction | None) -> float | None:
        """A timestamp as seconds since the origin."""
        if ts is None or time_base is None:
            return None
        return float(ts * time_base) - self.origin

    def past(self, start: float) -> bool:
        """Whether something starting at ``start`` is cut off (a frame starting exactly at the limit is)."""
        return start > self.limit - _EPSILON

    def ticks_to_limit(self, start: float, time_base: Fraction) -> int:
        """The duration, in ``time_base`` units, of a frame starting at ``start`` that must end at the limit."""
        return max(1, round((self.limit - start) / time_base))

    def run(self, video: CopyPackets | EncodeVideo) -> None:
        """Cut with ``video`` (which has added its output stream, so the MP4 lists video first)."""
        streams: list[av.stream.Stream] = [self.video]
        if self.audio_stream is not None:
            self.audio = audio_handler(self.out, self.audio_stream, self)
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


class CopyPackets:
    """Packets re-wrapped as they are: every packet shown before the limit, and the ones they need.

    Packets are kept in decode order, so every kept video frame still has the frames it references. With
    B-frames, a reference frame shown past the limit is decoded before B-frames shown before it: such a
    packet is kept when a packet shown before the limit follows it, hidden in a one-tick slot just before
    the limit, and dropped otherwise. Reading stops at the first packet decoded past the limit,
    as nothing after it can be shown before. The packet that straddles the limit is shortened to end there.
    """

    def __init__(
        self,
        out: av.container.OutputContainer,
        source: VideoStream | AudioStream,
        cut: Cut,
        *,
        required: bool,
    ) -> None:
        self.out = out
        self.cut = cut
        self.stream = out.add_stream_from_template(source)
        self.required = required
        self.kept = 0
        self.done = False
        #: shown past the limit but decoded before it: kept only if a packet shown before the limit follows
        self.beyond: list[Packet[Any]] = []
        self.hidden = 0

    def feed(self, packet: Packet[Any]) -> None:
        if self.done or packet.size == 0:
            return
        start = _packet_start(packet, self.cut)
        if start is not None and self.cut.past(start):
            decoded = self.cut.at(packet.dts, packet.time_base)
            if decoded is None or self.cut.past(decoded):
                self.done = True
            else:
                self.beyond.append(packet)
            return
        for reference in self.beyond:
            self._hide(reference)
        self.beyond.clear()
        time_base = packet.time_base
        if start is not None and time_base is not None and packet.duration:
            packet.duration = min(packet.duration, self.cut.ticks_to_limit(start, time_base))
        self._mux(packet)
        self.kept += 1

    def _hide(self, packet: Packet[Any]) -> None:
        assert packet.time_base is not None and packet.dts is not None
        # One tick each, just before the limit, so the track still ends at the limit (the muxer would give
        # a packet without a duration the nominal one). In these short runs a reference decoded later is
        # one shown earlier, hence the descending ticks.
        limit = round((self.cut.limit + self.cut.origin) / packet.time_base)
        packet.pts = max(limit - 1 - self.hidden, packet.dts)
        packet.duration = 1
        self.hidden += 1
        self._mux(packet)

    def _mux(self, packet: Packet[Any]) -> None:
        packet.stream = self.stream
        self.out.mux(packet)

    def finish(self) -> None:
        if self.required and not self.kept:
            raise MediaError(f"urlFile video has no frame within its first {self.cut.limit:g} seconds")


def _packet_start(packet: Packet[Any], cut: Cut) -> float | None:
    return cut.at(packet.pts if packet.pts is not None else packet.dts, packet.time_base)


class EncodeVideo:
    """Decoded frames up to the limit, turned upright, scaled and encoded with libx264."""

    def __init__(
        self,
        out: av.container.OutputContainer,
        video: VideoStream,
        cut: Cut,
        rotation: int,
        width: int,
        height: int,
        settings: ConversionSettings,
    ) -> None:
        self.out = out
        self.cut = cut
        self.unrotate = Unrotator(rotation)
        self.width = width
        self.height = height
        # Frame threads as well as slice threads: VP9, HEVC and MPEG-4 decode on every core only this way
        # (PyAV's default is slices alone, the ffmpeg CLI's is both).
        video.codec_context.thread_type = "AUTO"
        self.rate = video.average_rate or video.guessed_rate or _DEFAULT_RATE
        source_base = video.time_base
        # A time base as coarse as the frame rate (AVI's is one tick per frame) cannot say that the frame
        # straddling the limit is shortened; 1/90000 s counts every common frame rate exactly.
        self.time_base = (
            source_base if source_base is not None and source_base <= _COARSEST_TIME_BASE else _FINE_TIME_BASE
        )
        self.stream = out.add_stream("libx264", rate=self.rate)
        self.stream.width = width
        self.stream.height = height
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = self.time_base
        self.stream.options = {"preset": settings.video_preset, "crf": str(settings.video_crf)}
        self.last_pts: int | None = None
        #: pts → duration of the frames given to the encoder whose packets have not come out yet; the one
        #: straddling the limit is shortened to end at it
        self.durations: dict[int, int] = {}
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
            if self.cut.past(start):
                self.done = True
                return
            length = (
                float(frame.duration * frame.time_base) if frame.duration and frame.time_base else nominal
            )
            pts = round(start / self.time_base)
            if self.last_pts is not None and pts <= self.last_pts:
                continue  # a repeated timestamp: libx264 refuses non-increasing ones
            shaped = self.unrotate(frame).reformat(
                width=self.width, height=self.height, format="yuv420p", interpolation="BICUBIC"
            )
            shaped.pts = pts
            shaped.time_base = self.time_base
            self.durations[pts] = min(
                max(1, round(length / self.time_base)), self.cut.ticks_to_limit(start, self.time_base)
            )
            self._mux(self.stream.encode(shaped))
            self.last_pts = pts
            self.kept += 1

    def _mux(self, packets: list[Packet[Any]]) -> None:
        for packet in packets:
            # libx264 leaves packet durations unset, and the muxer would give every frame the nominal one:
            # the MP4 would then end where the last frame's nominal end is, not at the limit.
            if packet.pts is not None and packet.pts in self.durations:
                packet.duration = self.durations.pop(packet.pts)
            self.out.mux(packet)

    def finish(self) -> None:
        if not self.kept:
            raise MediaError(f"urlFile video has no frame within its first {self.cut.limit:g} seconds")
        self._mux(self.stream.encode(None))


class EncodeAudio:
    def __init__(self, out: av.container.OutputContainer, audio: AudioStream, cut: Cut) -> None:
        self.out = out
        self.cut = cut
        ctx = audio.codec_context
        rate = ctx.sample_rate if ctx.sample_rate in _AAC_RATES else 48_000
        layout = "mono" if ctx.channels == 1 else "stereo"
        self.out_stream = out.add_stream("aac", rate=rate, layout=layout)
        self.out_stream.bit_rate = _AAC_BIT_RATE
        #: seconds of sound given to the encoder
        self.sent = Fraction(0)
        self.done = False

    def feed(self, packet: Packet[Any]) -> None:
        if self.done:
            return
        for frame in packet.decode():
            if not isinstance(frame, AudioFrame):
                continue
            start = self.cut.at(frame.pts, frame.time_base)
            # What is past the limit in the source is cut; the output's own timeline (samples counted)
            # says how much of the straddling frame is left, as source timestamps may be coarser.
            inside = round((self.cut.limit - self.sent) * frame.sample_rate)
            if (start is not None and self.cut.past(start)) or inside <= 0:
                self.done = True
                return
            if inside < frame.samples:
                # The AAC encoder pads its last frame but marks its real length, which the MP4 keeps.
                frame = first_samples(frame, inside)
                self.done = True
            # Timestamps counted in samples keep the audio continuous across gaps and jitter in the
            # source's; without any, the AAC encoder's priming samples would delay and lengthen the sound
            # by 1024 samples instead of being marked for the player to skip.
            frame.pts = round(self.sent * frame.sample_rate)
            frame.time_base = Fraction(1, frame.sample_rate)
            self.sent += Fraction(frame.samples, frame.sample_rate)
            self.out.mux(self.out_stream.encode(frame))
            if self.done:
                return

    def finish(self) -> None:
        self.out.mux(self.out_stream.encode(None))


def audio_handler(
    out: av.container.OutputContainer, audio: AudioStream, cut: Cut
) -> CopyPackets | EncodeAudio:
    if audio.codec_context.name == "aac":
        return CopyPackets(out, audio, cut, required=False)
    return EncodeAudio(out, audio, cut)
