"""probe_file on real media made here with Pillow and PyAV (no binary fixtures)."""

from __future__ import annotations

import fractions
import io
import math
import struct
import zipfile
from pathlib import Path

import av
import av.stream
import pytest
from PIL import Image

from statusgate.domain.models import MediaKind
from statusgate.errors import MediaError
from statusgate.media.probe import ProbeResult, probe_file
from tests.mediagen import png_with_bad_pixels

IMAGE, VIDEO, AUDIO = MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.AUDIO


def make_image(path: Path, image_format: str, size: tuple[int, int] = (48, 32)) -> Path:
    Image.new("RGB", size, (200, 40, 90)).save(path, image_format)
    return path


def jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    # Noise-free gradients still give the JPEG enough entropy-coded data to truncate meaningfully.
    image = Image.new("RGB", (64, 64))
    image.putdata([(x * 4, y * 4, (x * y) % 256) for y in range(64) for x in range(64)])
    image.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_audio(path: Path, container: str, codec: str, rate: int, cover: bool = False) -> Path:
    """Half a second of a 440 Hz tone; with ``cover``, an attached JPEG picture like an MP3's album art."""
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        if cover:
            art = out.add_stream("mjpeg")
            art.width = art.height = 16
            art.pix_fmt = "yuvj420p"
            art.disposition = av.stream.Disposition.attached_pic
            buf = io.BytesIO()
            Image.new("RGB", (16, 16), "red").save(buf, "JPEG")
            packet = av.Packet(buf.getvalue())
            packet.stream = art
            packet.pts = 0
            out.mux(packet)
        frame_size = stream.codec_context.frame_size or 1024
        total, done = rate // 2, 0
        while done < total:
            count = min(frame_size, total - done)
            samples = [int(8000 * math.sin(2 * math.pi * 440 * (done + i) / rate)) for i in range(count)]
            frame = av.AudioFrame(format="s16", layout="mono", samples=count)
            frame.planes[0].update(struct.pack(f"<{count}h", *samples))
            frame.sample_rate = rate
            frame.pts = done
            frame.time_base = fractions.Fraction(1, rate)
            done += count
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def make_video(path: Path, container: str = "mp4", seconds: int = 1, fps: int = 10) -> Path:
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(seconds * fps):
            picture = Image.new("RGBA", (64, 64), (i * 20 % 256, 120, 60, 255))
            out.mux(stream.encode(av.VideoFrame.from_bytes(picture.tobytes(), 64, 64, format="rgba")))
        out.mux(stream.encode(None))
    return path


def probe_error(path: Path, expected: MediaKind) -> str:
    with pytest.raises(MediaError) as caught:
        probe_file(path, expected)
    return caught.value.message


# --- images ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "name", "result"),
    [
        ("JPEG", "a.jpg", ProbeResult(IMAGE, "image/jpeg", "jpg")),
        ("PNG", "a.png", ProbeResult(IMAGE, "image/png", "png")),
        ("WEBP", "a.webp", ProbeResult(IMAGE, "image/webp", "webp")),
        # Misnamed: the bytes decide.
        ("PNG", "photo.jpg", ProbeResult(IMAGE, "image/png", "png")),
        ("JPEG", "photo.png", ProbeResult(IMAGE, "image/jpeg", "jpg")),
    ],
)
def test_images_are_recognised_by_their_bytes(
    tmp_path: Path, image_format: str, name: str, result: ProbeResult
) -> None:
    assert probe_file(make_image(tmp_path / name, image_format), IMAGE) == result


def test_gif_is_a_video_when_the_file_name_says_video(tmp_path: Path) -> None:
    gif = make_image(tmp_path / "loop.gif", "GIF")
    assert probe_file(gif, VIDEO) == ProbeResult(VIDEO, "image/gif", "gif")
    assert probe_file(gif, IMAGE) == ProbeResult(IMAGE, "image/gif", "gif")
    assert probe_error(gif, AUDIO) == "fileName says audio but urlFile returned an image"


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    data = jpeg_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert probe_error(path, IMAGE) == "urlFile returned a damaged or truncated image file"


def test_image_with_corrupt_pixel_data_is_refused(tmp_path: Path) -> None:
    data = bytearray(make_image(tmp_path / "a.png", "PNG").read_bytes())
    data[-20] ^= 0xFF  # inside the IDAT chunk (the last 12 bytes are IEND), so its CRC no longer matches
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    assert probe_error(path, IMAGE) == "urlFile returned a damaged or truncated image file"


def test_image_over_the_pixel_limit_is_a_media_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    # 40×40 = 1600 pixels: past the limit but under twice it, where Pillow only warns.
    warned = make_image(tmp_path / "warn.png", "PNG", size=(40, 40))
    assert "too large (more than 1000 pixels)" in probe_error(warned, IMAGE)
    # 100×100: past twice the limit, where Pillow raises DecompressionBombError.
    refused = make_image(tmp_path / "bomb.png", "PNG", size=(100, 100))
    assert "too large (more than 1000 pixels)" in probe_error(refused, IMAGE)
    small = make_image(tmp_path / "ok.png", "PNG", size=(20, 20))
    assert probe_file(small, IMAGE).kind is IMAGE


def test_image_too_big_to_decode_whole_is_left_to_the_conversion(tmp_path: Path) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(png_with_bad_pixels(make_image(tmp_path / "a.png", "PNG", size=(64, 64)).read_bytes()))
    assert probe_error(path, IMAGE) == "urlFile returned a damaged or truncated image file"
    # 64×64 RGB is 16 kB decoded: over this budget the probe checks the header and chunks only; the
    # conversion decodes it streaming and finds the damage (test_media_convert).
    assert probe_file(path, IMAGE, decode_max_bytes=8192) == ProbeResult(IMAGE, "image/png", "png")


# --- audio and video -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "container", "codec", "rate", "result"),
    [
        ("a.wav", "wav", "pcm_s16le", 8000, ProbeResult(AUDIO, "audio/wav", "wav")),
        ("a.mp3", "mp3", "libmp3lame", 22050, ProbeResult(AUDIO, "audio/mpeg", "mp3")),
        ("a.ogg", "ogg", "libopus", 48000, ProbeResult(AUDIO, "audio/ogg", "opus")),
        ("a.m4a", "ipod", "aac", 22050, ProbeResult(AUDIO, "audio/mp4", "m4a")),
    ],
)
def test_audio_files_are_audio(
    tmp_path: Path, name: str, container: str, codec: str, rate: int, result: ProbeResult
) -> None:
    assert probe_file(make_audio(tmp_path / name, container, codec, rate), AUDIO) == result


def test_mp3_with_cover_art_is_audio_not_video(tmp_path: Path) -> None:
    song = make_audio(tmp_path / "song.mp3", "mp3", "libmp3lame", 22050, cover=True)
    with av.open(str(song)) as container:
        assert len(container.streams.video) == 1  # the picture is there, as a video stream
    assert probe_file(song, AUDIO) == ProbeResult(AUDIO, "audio/mpeg", "mp3")
    assert probe_error(song, VIDEO) == "fileName says video but urlFile returned audio"


def test_mp4_is_video(tmp_path: Path) -> None:
    assert probe_file(make_video(tmp_path / "clip.mp4"), VIDEO) == ProbeResult(VIDEO, "video/mp4", "mp4")


def test_video_named_as_another_container_reports_what_it_is(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.webm", container="matroska")
    assert probe_file(clip, VIDEO) == ProbeResult(VIDEO, "video/x-matroska", "mkv")


def test_video_when_an_image_is_expected_names_both_kinds(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "photo.jpg")
    assert probe_error(clip, IMAGE) == "fileName says image but urlFile returned a video"


def test_image_when_a_video_is_expected_names_both_kinds(tmp_path: Path) -> None:
    photo = make_image(tmp_path / "clip.mp4", "JPEG")
    assert probe_error(photo, VIDEO) == "fileName says video but urlFile returned an image"


def test_audio_when_a_video_is_expected_names_both_kinds(tmp_path: Path) -> None:
    song = make_audio(tmp_path / "clip.mp4", "wav", "pcm_s16le", 8000)
    assert probe_error(song, VIDEO) == "fileName says video but urlFile returned audio"


def test_truncated_mp4_is_refused(tmp_path: Path) -> None:
    data = make_video(tmp_path / "clip.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    probe_error(cut, VIDEO)


# --- not media at all ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "expected", "noun"),
    [
        (b"<!DOCTYPE html>\n<html><body>Sign in</body></html>", IMAGE, "an image"),
        (b"\xef\xbb\xbf  <html lang='en'><head></head></html>", VIDEO, "a video"),
        (b"<!-- login -->\n<HTML><BODY>x</BODY></HTML>", AUDIO, "an audio file"),
    ],
)
def test_html_page_gets_the_login_hint(tmp_path: Path, page: bytes, expected: MediaKind, noun: str) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(page)
    assert probe_error(path, expected) == (
        f"urlFile returned an HTML page, not {noun} — is it a download link behind a login?"
    )


def test_zip_is_not_image_data(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("photo.jpg", jpeg_bytes())
    assert probe_error(path, IMAGE) == "urlFile did not return image data"
    assert probe_error(path, VIDEO) == "urlFile did not return video data"


def test_playlist_is_not_followed(tmp_path: Path) -> None:
    # FFmpeg would play this playlist by opening the file it lists (or a URL); it must be refused instead.
    target = make_video(tmp_path / "secret.ts", container="mpegts")
    playlist = tmp_path / "clip.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{target}\n#EXT-X-ENDLIST\n")
    assert probe_error(playlist, VIDEO) == "urlFile did not return video data"


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert probe_error(path, IMAGE) == "urlFile returned an empty file"
