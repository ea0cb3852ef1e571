"""Conversion to what a WhatsApp status carries, on media generated here with PyAV and Pillow."""

from __future__ import annotations

import base64
import io
import struct
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pillow_heif
import pytest
from av.video.stream import VideoStream
from PIL import Image, ImageChops, ImageCms, ImageStat

from statusgate.domain.models import MediaKind
from statusgate.errors import MediaError
from statusgate.media import image_decode
from statusgate.media.convert import ConversionSettings, Converted, convert_media
from statusgate.media.probe import DECODE_MAX_BYTES, ProbeResult, probe_file
from statusgate.settings import Settings
from tests.mediagen import (
    color_frames,
    image_bytes,
    interlaced_png,
    png_bomb,
    png_with_bad_pixels,
    set_rotation,
    write_audio,
    write_video,
)

SETTINGS = ConversionSettings()
LIMIT = SETTINGS.max_seconds
TOLERANCE = 0.1


def convert(source: Path, kind: MediaKind, settings: ConversionSettings = SETTINGS) -> Converted:
    probed = probe_file(source, kind)
    return convert_media(source, probed, source.with_name(source.name + ".out"), settings)


def container_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        return (container.duration or 0) / av.time_base


def codecs(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [stream.codec_context.name for stream in container.streams]


def video_payloads(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]


def thumbnail(result: Converted) -> Image.Image:
    assert result.jpeg_thumbnail is not None
    image = Image.open(io.BytesIO(base64.b64decode(result.jpeg_thumbnail)))
    assert image.format == "JPEG"
    return image


def assert_mp4(result: Converted, *, width: int, height: int) -> None:
    assert (result.kind, result.mime_type, result.extension) == (MediaKind.VIDEO, "video/mp4", "mp4")
    assert codecs(result.path) == ["h264", "aac"]
    duration = container_duration(result.path)
    assert LIMIT - 1 <= duration <= LIMIT + TOLERANCE
    assert result.duration_seconds == pytest.approx(duration)
    assert (result.width, result.height) == (width, height)
    assert max(thumbnail(result).size) <= SETTINGS.thumbnail_max_side_px
    head = result.path.read_bytes()[:4096]
    assert b"moov" in head, "faststart: the index comes before the media data"


# --- video ---------------------------------------------------------------------------------------------


def test_long_h264_aac_mp4_is_cut_by_stream_copy(tmp_path: Path) -> None:
    source = write_video(tmp_path / "long.mp4", container="mp4", video_codec="libx264", audio_codec="aac")
    assert container_duration(source) > 74

    result = convert(source, MediaKind.VIDEO)

    assert_mp4(result, width=64, height=36)
    kept = video_payloads(result.path)
    original = video_payloads(source)
    # 5 fps: the 300 frames that start before 60 s, and any reference frame they need from after it (at
    # most x264's 3 B-frames' worth).
    assert 300 <= len(kept) <= 303
    # Stream copy: the kept packets are the source's first packets, byte for byte.
    assert kept == original[: len(kept)]


def test_h264_mov_without_audio_is_copied_and_keeps_its_rotation(tmp_path: Path) -> None:
    source = write_video(tmp_path / "portrait.mov", container="mov", video_codec="libx264", seconds=3)
    set_rotation(source, 90)

    result = convert(source, MediaKind.VIDEO)

    assert codecs(result.path) == ["h264"]
    assert video_payloads(result.path) == video_payloads(source)
    assert (result.width, result.height) == (36, 64)  # as displayed
    assert thumbnail(result).size == (36, 64)
    with av.open(str(result.path)) as out:
        assert next(out.decode(video=0)).rotation == -90


def test_vp9_opus_webm_is_reencoded_to_h264_aac(tmp_path: Path) -> None:
    source = write_video(
        tmp_path / "clip.webm", container="webm", video_codec="libvpx-vp9", audio_codec="libopus"
    )
    result = convert(source, MediaKind.VIDEO)
    assert_mp4(result, width=64, height=36)


def test_hevc_mov_is_reencoded_upright(tmp_path: Path) -> None:
    source = write_video(tmp_path / "iphone.mov", container="mov", video_codec="libx265", audio_codec="aac")
    set_rotation(source, 90)

    result = convert(source, MediaKind.VIDEO)

    # The pixels are turned (not just flagged) because they are re-encoded anyway.
    assert_mp4(result, width=36, height=64)
    with av.open(str(result.path)) as out:
        frame = next(out.decode(video=0))
        assert (frame.width, frame.height, frame.rotation) == (36, 64, 0)


def test_mpeg4_part2_avi_with_mp3_is_reencoded(tmp_path: Path) -> None:
    source = write_video(tmp_path / "old.avi", container="avi", video_codec="mpeg4", audio_codec="libmp3lame")
    result = convert(source, MediaKind.VIDEO)
    assert_mp4(result, width=64, height=36)


def test_large_video_is_scaled_down_on_reencode(tmp_path: Path) -> None:
    source = write_video(
        tmp_path / "wide.webm", container="webm", video_codec="libvpx-vp9", seconds=1, width=400
    )
    settings = ConversionSettings(video_max_side_px=200)
    result = convert(source, MediaKind.VIDEO, settings)
    assert (result.width, result.height) == (200, 18)


def test_animated_gif_becomes_an_mp4(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (40, 30), (i * 60, 0, 0)) for i in range(4)]
    source = tmp_path / "loop.gif"
    source.write_bytes(
        image_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    )

    result = convert(source, MediaKind.VIDEO)

    assert (result.mime_type, result.extension, result.width, result.height) == ("video/mp4", "mp4", 40, 30)
    assert codecs(result.path) == ["h264"]
    assert result.duration_seconds == pytest.approx(0.8, abs=0.05)


@pytest.mark.parametrize(
    ("name", "container", "codec"), [("jump.mp4", "mp4", "libx264"), ("jump.webm", "webm", "libvpx-vp9")]
)
def test_timestamps_jumping_by_hours_are_cut_without_waiting(
    tmp_path: Path, name: str, container: str, codec: str
) -> None:
    source = tmp_path / name
    with av.open(str(source), "w", format=container) as out:
        stream = out.add_stream(codec, rate=5)
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 5)
        for i, frame in enumerate(color_frames(64, 36, 6)):
            # Three pictures, then the clock jumps ten hours ahead.
            frame.pts = i if i < 3 else 5 * 36_000 + i
            frame.time_base = Fraction(1, 5)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))

    result = convert(source, MediaKind.VIDEO)

    assert container_duration(result.path) <= 1.0
    assert result.duration_seconds is not None and result.duration_seconds <= 1.0


def test_video_stream_without_frames_is_a_media_error(tmp_path: Path) -> None:
    source = tmp_path / "empty.mp4"
    with av.open(str(source), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=5)
        stream.width, stream.height = 64, 36
        out.start_encoding()
    probed = ProbeResult(kind=MediaKind.VIDEO, mime_type="video/mp4", extension="mp4")
    with pytest.raises(MediaError):
        convert_media(source, probed, tmp_path / "out", SETTINGS)


def test_corrupt_video_is_a_media_error_or_a_valid_mp4(tmp_path: Path) -> None:
    source = write_video(tmp_path / "clip.webm", container="webm", video_codec="libvpx-vp9", seconds=10)
    data = bytearray(source.read_bytes())
    tail = len(data) - len(data) // 3
    data[len(data) // 3 :] = (bytes(range(256)) * (tail // 256 + 1))[:tail]
    source.write_bytes(bytes(data))
    probed = ProbeResult(kind=MediaKind.VIDEO, mime_type="video/webm", extension="webm")
    # FFmpeg's decoders conceal some damage; either way the outcome is a MediaError or a playable MP4.
    outcome: MediaError | Converted
    try:
        outcome = convert_media(source, probed, tmp_path / "out", SETTINGS)
    except MediaError as exc:
        outcome = exc
    if isinstance(outcome, MediaError):
        assert "damaged" in outcome.message or "no frame" in outcome.message
    else:
        assert codecs(outcome.path)[0] == "h264"


def test_truncated_mp4_is_a_media_error(tmp_path: Path) -> None:
    source = write_video(tmp_path / "clip.mp4", container="mp4", video_codec="libx264", seconds=5)
    source.write_bytes(source.read_bytes()[:600])
    probed = ProbeResult(kind=MediaKind.VIDEO, mime_type="video/mp4", extension="mp4")
    with pytest.raises(MediaError, match="damaged"):
        convert_media(source, probed, tmp_path / "out", SETTINGS)


def test_conversion_over_its_time_budget_stops_with_a_media_error(tmp_path: Path) -> None:
    source = write_video(tmp_path / "clip.webm", container="webm", video_codec="libvpx-vp9", seconds=20)
    probed = probe_file(source, MediaKind.VIDEO)
    with pytest.raises(MediaError, match=r"took longer than 1e-06 s and was stopped"):
        convert_media(source, probed, tmp_path / "out", ConversionSettings(timeout_seconds=0.000001))


# --- audio ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "container", "codec", "rate"),
    [("voice.wav", "wav", "pcm_s16le", 44_100), ("song.mp3", "mp3", "libmp3lame", 22_050)],
)
def test_audio_becomes_60_s_of_mono_opus_with_a_waveform(
    tmp_path: Path, name: str, container: str, codec: str, rate: int
) -> None:
    # Mono at LAME's fastest setting keeps the 75 s MP3 quick to make.
    source = write_audio(
        tmp_path / name,
        container=container,
        codec=codec,
        rate=rate,
        layout="mono",
        options={"compression_level": "9"},
    )

    result = convert(source, MediaKind.AUDIO)

    assert (result.kind, result.mime_type, result.extension) == (MediaKind.AUDIO, "audio/ogg", "ogg")
    with av.open(str(result.path)) as out:
        assert out.format.name == "ogg"
        stream = out.streams.audio[0]
        assert (stream.codec_context.name, stream.codec_context.channels, stream.sample_rate) == (
            "opus",
            1,
            48_000,
        )
        assert (out.duration or 0) / av.time_base <= LIMIT + TOLERANCE
    assert result.duration_seconds == pytest.approx(LIMIT, abs=0.05)
    waveform = result.waveform
    assert waveform is not None
    assert len(waveform) == 64
    assert all(0 <= v <= 100 for v in waveform)
    # The source fades in over 75 s: the kept 60 s rise, and the loudest moment is near the end.
    assert waveform[0] < 10
    assert max(waveform) == 100
    assert waveform[-1] >= 75
    assert all(b >= a - 3 for a, b in zip(waveform, waveform[1:], strict=False))


def test_wav_that_claims_hours_but_holds_two_seconds(tmp_path: Path) -> None:
    source = write_audio(tmp_path / "liar.wav", container="wav", codec="pcm_s16le", seconds=2)
    data = bytearray(source.read_bytes())
    chunk = data.index(b"data") + 4
    data[4:8] = data[chunk : chunk + 4] = b"\xff\xff\xff\x7f"  # RIFF and data sizes: hours of sound
    source.write_bytes(bytes(data))
    result = convert(source, MediaKind.AUDIO)
    assert result.duration_seconds == pytest.approx(2.0, abs=0.05)


def test_audio_without_samples_is_a_media_error(tmp_path: Path) -> None:
    source = tmp_path / "empty.wav"
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, 48_000, 96_000, 2, 16)  # PCM, mono, 48 kHz, 16 bit
    source.write_bytes(b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", 0))
    probed = ProbeResult(kind=MediaKind.AUDIO, mime_type="audio/wav", extension="wav")
    with pytest.raises(MediaError, match="no sound"):
        convert_media(source, probed, tmp_path / "out", SETTINGS)


def test_silence_has_a_flat_waveform(tmp_path: Path) -> None:
    source = tmp_path / "quiet.wav"
    with av.open(str(source), "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=48_000, layout="mono")
        frame = av.AudioFrame(format="s16", layout="mono", samples=4800)
        frame.planes[0].update(bytes(frame.planes[0].buffer_size))
        frame.sample_rate = 48_000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    result = convert(source, MediaKind.AUDIO)
    assert result.waveform == bytes(64)
    assert result.duration_seconds == pytest.approx(0.1, abs=0.03)


# --- images --------------------------------------------------------------------------------------------


def jpeg_output(result: Converted) -> Image.Image:
    assert (result.kind, result.mime_type, result.extension) == (MediaKind.IMAGE, "image/jpeg", "jpg")
    with Image.open(result.path) as image:
        assert image.format == "JPEG"
        assert (result.width, result.height) == image.size
        assert max(thumbnail(result).size) <= SETTINGS.thumbnail_max_side_px
        image.load()
        return image.copy()


def test_png_alpha_is_flattened_onto_white(tmp_path: Path) -> None:
    picture = Image.new("RGBA", (80, 40), (0, 0, 0, 0))
    picture.paste((200, 0, 0, 255), (0, 0, 40, 40))
    source = tmp_path / "logo.png"
    source.write_bytes(image_bytes(picture, "PNG"))

    image = jpeg_output(convert(source, MediaKind.IMAGE)).convert("RGB")

    assert image.size == (80, 40)
    red, white = image.getpixel((10, 20)), image.getpixel((70, 20))
    assert isinstance(red, tuple) and isinstance(white, tuple)
    assert red[0] > 180 and red[1] < 40
    assert min(white) > 245


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored landscape, red on the left; orientation 6 means "turn 90° clockwise to display".
    picture = Image.new("RGB", (60, 30), (0, 0, 255))
    picture.paste((255, 0, 0), (0, 0, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    source = tmp_path / "phone.jpg"
    source.write_bytes(image_bytes(picture, "JPEG", exif=exif.tobytes(), quality=95))

    result = convert(source, MediaKind.IMAGE)
    image = jpeg_output(result).convert("RGB")

    assert image.size == (30, 60)
    top = image.getpixel((15, 5))
    assert isinstance(top, tuple) and top[0] > 200 and top[2] < 60  # the left edge is now on top
    with Image.open(result.path) as stored:
        assert not stored.getexif()  # no EXIF at all: not re-applied, no location published


def test_large_picture_is_scaled_whole_to_the_long_side_limit(tmp_path: Path) -> None:
    source = tmp_path / "panorama.jpg"
    source.write_bytes(image_bytes(Image.new("RGB", (4000, 1000), (10, 120, 10)), "JPEG"))
    result = convert(source, MediaKind.IMAGE)
    assert jpeg_output(result).size == (1920, 480)  # not cropped to 9:16


def test_heic_is_converted_to_jpeg(tmp_path: Path) -> None:
    pillow_heif.register_heif_opener()
    source = tmp_path / "iphone.heic"
    source.write_bytes(image_bytes(Image.new("RGB", (64, 48), (30, 160, 90)), "HEIF", quality=90))
    with Image.open(source) as heic:
        assert heic.format == "HEIF"

    image = jpeg_output(convert(source, MediaKind.IMAGE)).convert("RGB")

    assert image.size == (64, 48)
    pixel = image.getpixel((32, 24))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) < 12 for a, b in zip(pixel, (30, 160, 90), strict=True))


def test_image_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    source = tmp_path / "bomb.png"
    source.write_bytes(png_bomb())
    with pytest.raises(MediaError, match="too large"):
        probe_file(source, MediaKind.IMAGE)
    # The converter checks on its own too (a caller may skip the probe).
    probed = ProbeResult(kind=MediaKind.IMAGE, mime_type="image/png", extension="png")
    with pytest.raises(MediaError, match="too large"):
        convert_media(source, probed, tmp_path / "out", SETTINGS)


def test_truncated_image_is_a_media_error(tmp_path: Path) -> None:
    data = image_bytes(Image.effect_noise((200, 200), 50).convert("RGB"), "PNG")
    source = tmp_path / "cut.png"
    source.write_bytes(data[: len(data) // 2])
    probed = ProbeResult(kind=MediaKind.IMAGE, mime_type="image/png", extension="png")
    with pytest.raises(MediaError, match="damaged or truncated image"):
        convert_media(source, probed, tmp_path / "out", SETTINGS)


# --- images too big to decode whole ----------------------------------------------------------------------

# Every test picture here is over this budget, so it is decoded streaming (or refused); 16 KiB still lets an
# uncompressed TIFF, read a row at a time, qualify.
STREAMING = ConversionSettings(image_decode_max_bytes=16 * 1024)
PNG_PROBED = ProbeResult(kind=MediaKind.IMAGE, mime_type="image/png", extension="png")


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The libvips loaders the conversions of the test used."""
    loaders: list[str] = []
    real = image_decode.shrink_streaming

    def spy(path: Path, loader: str, *args: Any) -> Image.Image:
        loaders.append(loader)
        return real(path, loader, *args)

    monkeypatch.setattr(image_decode, "shrink_streaming", spy)
    return loaders


def ramp(mode: str, size: tuple[int, int]) -> Image.Image:
    """Colour ramps (and an alpha ramp, for modes with alpha): resampling has something to average.
    In I;16 the ramp spans the 16-bit range."""
    width, height = size
    red = Image.linear_gradient("L").resize(size)
    green = red.transpose(Image.Transpose.ROTATE_90).resize(size)
    picture = Image.merge("RGB", [red, green, Image.new("L", size, 90)])
    if mode == "RGB":
        return picture
    if mode == "RGBA":
        picture.putalpha(
            Image.linear_gradient("L").resize((height, width)).transpose(Image.Transpose.ROTATE_90)
        )
        return picture
    if mode == "LA":
        return Image.merge("LA", [red, green])
    if mode == "I;16":
        return red.convert("I").point(lambda value: value * 257).convert("I;16")
    return picture.convert(mode)


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return max(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean)


@pytest.mark.parametrize(
    ("mode", "image_format", "params", "loader"),
    [
        ("RGB", "PNG", {}, "pngload"),
        ("RGBA", "PNG", {}, "pngload"),
        ("LA", "PNG", {}, "pngload"),
        ("L", "PNG", {}, "pngload"),
        ("I;16", "PNG", {}, "pngload"),
        ("P", "PNG", {"transparency": 0}, "pngload"),
        ("RGB", "JPEG", {"quality": 95}, "jpegload"),
        ("RGB", "WEBP", {"quality": 95}, "webpload"),
        ("RGB", "TIFF", {}, "tiffload"),
    ],
)
def test_picture_too_big_to_decode_whole_is_shrunk_while_read_like_in_memory(
    tmp_path: Path, streamed: list[str], mode: str, image_format: str, params: dict[str, Any], loader: str
) -> None:
    source = tmp_path / f"big.{image_format.lower()}"
    source.write_bytes(image_bytes(ramp(mode, (2400, 1200)), image_format, **params))

    in_memory = jpeg_output(convert(source, MediaKind.IMAGE))
    assert streamed == []
    result = convert(source, MediaKind.IMAGE, STREAMING)

    assert streamed == [loader]
    assert jpeg_output(result).size == in_memory.size == (1920, 960)
    assert mean_difference(jpeg_output(result), in_memory) < 3  # another resampler, the same picture


def test_streamed_cmyk_picture_becomes_rgb(tmp_path: Path, streamed: list[str]) -> None:
    # Through libvips' fallback CMYK profile, where Pillow converts without one: close, not equal.
    source = tmp_path / "print.jpg"
    source.write_bytes(image_bytes(Image.new("CMYK", (400, 200), (50, 100, 150, 30)), "JPEG", quality=95))
    image = jpeg_output(convert(source, MediaKind.IMAGE, STREAMING))
    assert streamed == ["jpegload"]
    assert image.mode == "RGB"
    pixel = image.getpixel((200, 100))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) < 16 for a, b in zip(pixel, (181, 137, 93), strict=True))


def test_streamed_picture_is_flattened_onto_white_and_turned_upright(
    tmp_path: Path, streamed: list[str]
) -> None:
    # Stored landscape, opaque red on the left, transparent on the right; orientation 6 means "turn 90°
    # clockwise to display".
    picture = Image.new("RGBA", (120, 60), (0, 0, 0, 0))
    picture.paste((200, 0, 0, 255), (0, 0, 60, 60))
    exif = Image.Exif()
    exif[0x0112] = 6
    source = tmp_path / "logo.png"
    source.write_bytes(image_bytes(picture, "PNG", exif=exif.tobytes()))

    image = jpeg_output(convert(source, MediaKind.IMAGE, STREAMING)).convert("RGB")

    assert streamed == ["pngload"]
    assert image.size == (60, 120)
    red, white = image.getpixel((30, 20)), image.getpixel((30, 100))
    assert isinstance(red, tuple) and isinstance(white, tuple)
    assert red[0] > 180 and red[1] < 40
    assert min(white) > 245


def test_streamed_picture_keeps_its_colour_profile(tmp_path: Path, streamed: list[str]) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = tmp_path / "profiled.png"
    source.write_bytes(image_bytes(ramp("RGB", (200, 100)), "PNG", icc_profile=profile))
    result = convert(source, MediaKind.IMAGE, STREAMING)
    assert streamed == ["pngload"]
    with Image.open(result.path) as stored:
        assert stored.info.get("icc_profile") == profile


@pytest.mark.parametrize("damage", ["truncated", "bad pixels"])
def test_damaged_picture_too_big_to_decode_whole_is_a_media_error(
    tmp_path: Path, streamed: list[str], damage: str
) -> None:
    data = image_bytes(Image.effect_noise((200, 200), 50).convert("RGB"), "PNG")
    source = tmp_path / "bad.png"
    source.write_bytes(data[: len(data) // 2] if damage == "truncated" else png_with_bad_pixels(data))
    with pytest.raises(MediaError, match="damaged or truncated image"):
        convert_media(source, PNG_PROBED, tmp_path / "out", STREAMING)
    assert streamed == ["pngload"]


def test_picture_wider_or_taller_than_the_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    for size in ((30_001, 4), (4, 30_001)):
        source = tmp_path / "thin.png"
        source.write_bytes(png_bomb(*size))
        with pytest.raises(MediaError, match=r"wider or taller than 30000 pixels \(max_image_dimension_px\)"):
            convert_media(source, PNG_PROBED, tmp_path / "out", SETTINGS)


@pytest.mark.parametrize(
    ("make", "described"),
    [
        (lambda picture: image_bytes(picture, "JPEG", progressive=True), "progressive JPEG"),
        (interlaced_png, "interlaced PNG"),
        (lambda picture: image_bytes(picture, "GIF"), "GIF"),
        (
            lambda picture: image_bytes(picture, "WEBP", lossless=True),
            "lossless, transparent or animated WebP",
        ),
        (
            lambda picture: image_bytes(ramp("RGBA", picture.size), "WEBP", quality=90),
            "lossless, transparent or animated WebP",
        ),
    ],
    ids=["progressive-jpeg", "interlaced-png", "gif", "lossless-webp", "transparent-webp"],
)
def test_picture_that_cannot_be_decoded_streaming_is_refused_above_the_budget(
    tmp_path: Path, make: Callable[[Image.Image], bytes], described: str
) -> None:
    source = tmp_path / "big.img"
    source.write_bytes(make(ramp("RGB", (200, 100))))
    with pytest.raises(MediaError) as caught:
        convert(source, MediaKind.IMAGE, STREAMING)
    assert f"decoding this {described} of 200×100 would take about" in caught.value.message
    assert "(image_decode_max_bytes)" in caught.value.message
    assert convert(source, MediaKind.IMAGE).width == 200  # within the default budget it converts


def test_conversion_defaults_are_the_server_settings_defaults() -> None:
    assert ConversionSettings.from_settings(Settings()) == ConversionSettings()
    assert Settings().image_decode_max_bytes == DECODE_MAX_BYTES  # the probe's, until it is passed one


def test_settings_version_changes_with_what_shapes_the_output() -> None:
    base = ConversionSettings()
    assert ConversionSettings(timeout_seconds=5).version == base.version
    for changed in (
        ConversionSettings(max_seconds=30),
        ConversionSettings(image_max_side_px=1280),
        ConversionSettings(video_crf=28),
        ConversionSettings(video_preset="fast"),
        ConversionSettings(thumbnail_max_side_px=64),
        # Which of Pillow or libvips resizes a picture changes its pixels.
        ConversionSettings(image_decode_max_bytes=1 << 20),
    ):
        assert changed.version != base.version
    assert ConversionSettings(max_image_dimension_px=1000).version == base.version
