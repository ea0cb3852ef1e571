"""Where a long video or sound is cut: at the limit, to within a frame, on both video paths and for audio.

A source longer than ``max_seconds`` keeps every frame that starts before the limit; the one straddling it
is shortened, so the output lasts the limit (docs/decisions.md, "Media"). These tests measure what comes
out: the durations the MP4 declares, the decoded frames and the decoded sound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import pytest

from statusgate.domain.models import MediaKind
from statusgate.errors import MediaError
from statusgate.media.convert import ConversionSettings, Converted, convert_media
from statusgate.media.probe import probe_file
from tests.mediagen import ToneWriter, color_frames, write_audio, write_video

SETTINGS = ConversionSettings()
LIMIT = SETTINGS.max_seconds
AAC_FRAME = 1024
# The MP4 header counts milliseconds, rounded up: an exact cut can read as the limit plus up to 1 ms.
HEADER = 0.001


def seconds(ts: int | None, time_base: Fraction | None) -> float:
    assert ts is not None and time_base is not None
    return float(ts * time_base)


def convert(source: Path, kind: MediaKind, settings: ConversionSettings = SETTINGS) -> Converted:
    return convert_media(source, probe_file(source, kind), source.with_name(source.name + ".out"), settings)


@dataclass(frozen=True)
class Measured:
    container: float
    video: float
    audio: float
    #: start of every decoded picture, in presentation order
    starts: list[float]
    #: end (pts + duration) of the picture shown last
    last_end: float
    audio_rate: int
    audio_decoded: float
    video_codec: str


def measure(path: Path) -> Measured:
    with av.open(str(path)) as out:
        video, audio = out.streams.video[0], out.streams.audio[0]
        container = (out.duration or 0) / av.time_base
        video_seconds = seconds(video.duration, video.time_base)
        audio_seconds = seconds(audio.duration, audio.time_base)
        codec = video.codec_context.name
    with av.open(str(path)) as out:
        frames = [
            (seconds(f.pts, f.time_base), seconds(f.duration, f.time_base)) for f in out.decode(video=0)
        ]
    with av.open(str(path)) as out:
        rate = out.streams.audio[0].sample_rate
        samples = sum(f.samples for f in out.decode(audio=0))
    return Measured(
        container=container,
        video=video_seconds,
        audio=audio_seconds,
        starts=[start for start, _ in frames],
        last_end=sum(frames[-1]),
        audio_rate=rate,
        audio_decoded=samples / rate,
        video_codec=codec,
    )


def starts(path: Path) -> list[float]:
    with av.open(str(path)) as media:
        return [seconds(f.pts, f.time_base) for f in media.decode(video=0)]


def assert_cut_at_the_limit(result: Converted, source: Path, fps: Fraction) -> Measured:
    frame = float(1 / fps)
    m = measure(result.path)
    for what, seconds in (("container", m.container), ("video", m.video), ("audio", m.audio)):
        assert LIMIT - frame < seconds <= LIMIT + HEADER, f"{what} lasts {seconds:.4f} s"
    assert result.duration_seconds == pytest.approx(m.container)
    # Every picture that starts before the limit is there: none lost to the cut, none past it. (A copied
    # B-frame's reference shown past the limit is kept hidden in the last millisecond, hence the margin.)
    shown = [start for start in m.starts if start < LIMIT - HEADER]
    assert shown == pytest.approx([start for start in starts(source) if start < LIMIT], abs=HEADER)
    assert max(m.starts) < LIMIT
    assert m.last_end <= LIMIT + frame
    # The sound ends with the picture; a decoder that ignores the MP4's end trim plays at most the rest
    # of the last AAC frame.
    audio_frame = AAC_FRAME / m.audio_rate
    assert abs(m.audio - m.video) <= HEADER
    assert m.video - audio_frame < m.audio_decoded <= m.video + audio_frame
    return m


RATES = [pytest.param(Fraction(25), id="25fps"), pytest.param(Fraction(30000, 1001), id="29.97fps")]


@pytest.mark.parametrize(
    "fps",
    # 59.94 fps: the cut falls inside a group of B-frames, whose reference is shown after the limit.
    [*RATES, pytest.param(Fraction(60000, 1001), id="59.94fps")],
)
def test_stream_copy_ends_at_the_limit(tmp_path: Path, fps: Fraction) -> None:
    source = write_video(
        tmp_path / "long.mp4", container="mp4", video_codec="libx264", audio_codec="aac", fps=fps
    )

    result = convert(source, MediaKind.VIDEO)

    assert_cut_at_the_limit(result, source, fps)
    # Copied, and each picture decodes as in the source: the references it needs were kept.
    with av.open(str(source)) as src:
        original = {f.pts: bytes(f.planes[0]) for f in src.decode(video=0)}
    with av.open(str(result.path)) as out:
        assert out.streams.video[0].codec_context.name == "h264"
        for f in out.decode(video=0):
            if seconds(f.pts, f.time_base) < LIMIT - HEADER:
                assert bytes(f.planes[0]) == original[f.pts]


@pytest.mark.parametrize("fps", RATES)
@pytest.mark.parametrize(
    ("name", "container", "video_codec", "audio_codec"),
    [
        # AAC audio is copied; Opus and MP3 are re-encoded. AVI counts time in whole frames.
        ("old.mp4", "mp4", "mpeg4", "aac"),
        ("clip.webm", "webm", "libvpx-vp9", "libopus"),
        ("old.avi", "avi", "mpeg4", "libmp3lame"),
    ],
)
def test_reencode_ends_at_the_limit(
    tmp_path: Path, fps: Fraction, name: str, container: str, video_codec: str, audio_codec: str
) -> None:
    source = write_video(
        tmp_path / name,
        container=container,
        video_codec=video_codec,
        audio_codec=audio_codec,
        fps=fps,
        audio_rate=16_000 if audio_codec == "libmp3lame" else 48_000,
    )

    result = convert(source, MediaKind.VIDEO)

    m = assert_cut_at_the_limit(result, source, fps)
    assert m.video_codec == "h264"
    if container != "avi":  # the AVI source has gaps in its own timestamps
        assert len([start for start in m.starts if start < LIMIT]) == math.ceil(LIMIT * fps)


def test_source_shorter_than_the_limit_keeps_its_length(tmp_path: Path) -> None:
    fps = Fraction(30000, 1001)
    source = write_video(
        tmp_path / "short.mp4", container="mp4", video_codec="libx264", audio_codec="aac", fps=fps, seconds=10
    )
    with av.open(str(source)) as src:
        video = src.streams.video[0]
        length = seconds(video.duration, video.time_base)

    m = measure(convert(source, MediaKind.VIDEO).path)

    assert m.video == pytest.approx(length, abs=1e-6)
    assert len(m.starts) == int(10 * fps)


def test_picture_lasting_past_the_limit_is_shown_until_it(tmp_path: Path) -> None:
    # Each picture lasts 1 s; the first starts before a 0.5 s limit, so it is kept for those 0.5 s.
    source = write_video(
        tmp_path / "still.webm", container="webm", video_codec="libvpx-vp9", seconds=2, fps=1
    )
    result = convert(source, MediaKind.VIDEO, ConversionSettings(max_seconds=0.5))
    assert result.duration_seconds == pytest.approx(0.5, abs=HEADER)


def test_video_with_no_frame_before_the_limit_fails_cleanly(tmp_path: Path) -> None:
    # The sound starts at 0, the picture only at 1 s: nothing of the video is inside a 0.5 s limit.
    source = tmp_path / "late.webm"
    with av.open(str(source), "w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        sound = ToneWriter(out, "libopus", 2)
        for i, frame in enumerate(color_frames(64, 36, 5)):
            frame.pts, frame.time_base = 5 + i, Fraction(1, 5)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        sound.finish()

    with pytest.raises(MediaError, match=r"no frame within its first 0\.5 seconds"):
        convert(source, MediaKind.VIDEO, ConversionSettings(max_seconds=0.5))


@pytest.mark.parametrize(
    ("name", "container", "codec", "rate"),
    [("song.mp3", "mp3", "libmp3lame", 22_050), ("voice.m4a", "mp4", "aac", 44_100)],
)
def test_audio_is_cut_to_the_limit_to_the_sample(
    tmp_path: Path, name: str, container: str, codec: str, rate: int
) -> None:
    source = write_audio(
        tmp_path / name,
        container=container,
        codec=codec,
        rate=rate,
        layout="mono",
        options={"compression_level": "9"} if codec == "libmp3lame" else None,
    )

    result = convert(source, MediaKind.AUDIO)

    assert result.duration_seconds == LIMIT
    with av.open(str(result.path)) as out:
        samples = sum(f.samples for f in out.decode(audio=0))
    assert samples == LIMIT * 48_000
