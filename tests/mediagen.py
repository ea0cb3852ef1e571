"""Media made at test (and bench) time with PyAV and Pillow, so the repository ships no media files.

Tests use tiny pictures (64×36) at low frame rates: a 75 s clip encodes in a fraction of a second.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
from array import array
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.audio.stream import AudioStream
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image

AUDIO_FRAME = 1024


def color_frames(width: int, height: int, count: int = 10) -> list[VideoFrame]:
    """Flat pictures of changing colour (compress to almost nothing)."""
    frames = []
    for i in range(count):
        picture = Image.new("RGB", (width, height), (i * 25 % 256, 100, 255 - i * 25 % 256))
        # PyAV's stub leaves VideoFrame.from_image unannotated.
        frames.append(VideoFrame.from_image(picture))  # type: ignore[no-untyped-call]
    return frames


def noise_frames(width: int, height: int, count: int, block: int = 8) -> list[VideoFrame]:
    """Blocky noise: real encoders spend bits on it, so files reach realistic sizes."""
    frames = []
    for _ in range(count):
        small = Image.frombytes(
            "RGB", (width // block, height // block), os.urandom((width // block) * (height // block) * 3)
        )
        big = small.resize((width, height), Image.Resampling.NEAREST)
        frames.append(VideoFrame.from_image(big))  # type: ignore[no-untyped-call]
    return frames


def _tone(rate: int, channels: int, level: float) -> bytes:
    """One AUDIO_FRAME of a 375 Hz sine (a whole number of periods at 48 kHz), interleaved s16."""
    samples = array("h")
    for n in range(AUDIO_FRAME):
        value = int(level * 32000 * math.sin(2 * math.pi * 375 * n / rate))
        samples.extend([value] * channels)
    return samples.tobytes()


class ToneWriter:
    """Audio for a generated file: a tone, encoded in step with the video (so the file is interleaved)."""

    def __init__(
        self,
        out: av.container.OutputContainer,
        codec: str,
        seconds: float,
        rate: int = 48_000,
        layout: str = "stereo",
        ramp: bool = False,
    ) -> None:
        self.out = out
        stream = out.add_stream(codec, rate=rate, layout=layout)
        assert isinstance(stream, AudioStream)
        self.stream = stream
        self.rate = rate
        self.layout = layout
        self.total = int(seconds * rate)
        self.ramp = ramp
        channels = 1 if layout == "mono" else 2
        # With ramp the tone grows from silence to full scale over the whole file.
        self.levels = [_tone(rate, channels, i / 16) for i in range(17)]
        self.done = 0

    def write_until(self, seconds: float) -> None:
        until = min(self.total, int(seconds * self.rate))
        while self.done < until:
            level = round(16 * self.done / self.total) if self.ramp else 12
            frame = av.AudioFrame(format="s16", layout=self.layout, samples=AUDIO_FRAME)
            size = frame.planes[0].buffer_size
            frame.planes[0].update(self.levels[level][:size].ljust(size, b"\0"))
            frame.sample_rate = self.rate
            frame.pts = self.done
            self.out.mux(self.stream.encode(frame))
            self.done += AUDIO_FRAME

    def finish(self) -> None:
        self.write_until(self.total / self.rate)
        self.out.mux(self.stream.encode(None))


def write_video(
    path: Path,
    *,
    container: str,
    video_codec: str,
    audio_codec: str | None = None,
    seconds: float = 75,
    width: int = 64,
    height: int = 36,
    fps: int | Fraction = 5,
    frames: list[VideoFrame] | None = None,
    options: dict[str, str] | None = None,
    bit_rate: int | None = None,
    audio_rate: int = 16_000,
    audio_layout: str = "mono",
) -> Path:
    """A ``seconds`` long clip; the audio defaults to 16 kHz mono, which keeps the tests' encoders quick."""
    pattern = frames if frames is not None else color_frames(width, height)
    with av.open(str(path), "w", format=container) as out:
        video = out.add_stream(video_codec, rate=fps)
        assert isinstance(video, VideoStream)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        quiet = {"x265-params": "log-level=error"} if video_codec == "libx265" else {}
        video.options = {**quiet, **(options or {})}
        if bit_rate:
            video.bit_rate = bit_rate
        audio = (
            ToneWriter(out, audio_codec, seconds, rate=audio_rate, layout=audio_layout)
            if audio_codec is not None
            else None
        )
        if audio is not None and audio_codec == "libmp3lame":
            audio.stream.options = {"compression_level": "9"}  # LAME's fastest
        for i in range(int(seconds * fps)):
            frame = pattern[i % len(pattern)]
            frame.pts = i
            frame.time_base = 1 / Fraction(fps)
            out.mux(video.encode(frame))
            if audio is not None:
                audio.write_until(float((i + 1) / fps))
        out.mux(video.encode(None))
        if audio is not None:
            audio.finish()
    return path


def write_audio(
    path: Path,
    *,
    container: str,
    codec: str,
    seconds: float = 75,
    rate: int = 48_000,
    layout: str = "stereo",
    options: dict[str, str] | None = None,
) -> Path:
    """``seconds`` of a tone that fades in from silence."""
    with av.open(str(path), "w", format=container) as out:
        writer = ToneWriter(out, codec, seconds, rate=rate, layout=layout, ramp=True)
        writer.stream.options = {**(options or {})}
        writer.finish()
    return path


def image_bytes(image: Image.Image, image_format: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, image_format, **params)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` pixels, with almost no data behind it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + _png_chunk(b"IEND", b"")
    )


def interlaced_png(picture: Image.Image) -> bytes:
    """``picture`` as an Adam7-interlaced RGB PNG, unfiltered (Pillow writes no interlaced PNGs)."""
    rgb = picture.convert("RGB")
    width, height = rgb.size
    pixels = rgb.tobytes()
    passes = [
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ]
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        for y in range(y0, height, dy):
            columns = range(x0, width, dx)
            if columns:
                raw += b"\0" + b"".join(
                    pixels[(y * width + x) * 3 : (y * width + x) * 3 + 3] for x in columns
                )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(raw)))
        + _png_chunk(b"IEND", b"")
    )


def png_with_bad_pixels(png: bytes) -> bytes:
    """``png`` with its first IDAT's compressed pixels replaced by zeros under a correct CRC: the chunks
    check out, only decoding shows the damage (a stored deflate block whose length check fails)."""
    data = bytearray(png)
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    data[start + 2 : start + length] = bytes(length - 2)  # the 2-byte zlib header stays
    data[start + length : start + length + 4] = struct.pack(
        ">I", zlib.crc32(data[start - 4 : start + length])
    )
    return bytes(data)


def write_big_png(path: Path, width: int, height: int, *, colour_type: int = 2) -> Path:
    """A ``width`` × ``height`` PNG (8-bit; colour type 2 RGB, 6 RGBA, 0 grey) written row by row.

    The rows go through zlib as they are made, 1 MB at a time, so neither this process nor the file holds
    the pixels: a 10000×9999 picture is about 1 MB on disk.
    """
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    row_bytes = width * channels
    # A ramp rather than a flat colour, so that resampling has something to average.
    row = b"\0" + (bytes(range(256)) * (row_bytes // 256 + 1))[:row_bytes]
    # Many rows per compress() call: a 1-pixel-wide picture has millions of 4-byte rows.
    rows_per_block = max(1, (1 << 20) // len(row))

    compressor = zlib.compressobj(9)
    with path.open("wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n")
        file.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)))
        for start in range(0, height, rows_per_block):
            data = compressor.compress(row * min(rows_per_block, height - start))
            if data:
                file.write(_png_chunk(b"IDAT", data))
        file.write(_png_chunk(b"IDAT", compressor.flush()))
        file.write(_png_chunk(b"IEND", b""))
    return path


def set_rotation(path: Path, degrees: int) -> None:
    """Give the first track of an MP4/MOV a display rotation, as iPhones do (their pictures are stored
    landscape). Writes the tkhd matrix in place: ``90`` is the iPhone's portrait matrix."""
    data = bytearray(path.read_bytes())
    at = data.index(b"tkhd")
    version = data[at + 4]
    # after "tkhd": version/flags, times, track id, duration (24 bytes in v0, 36 in v1), then reserved,
    # layer, alternate group, volume, reserved (16 bytes), then the 3×3 matrix
    matrix = at + 4 + (24 if version == 0 else 36) + 16
    a, b = {90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees]
    one = 0x10000
    data[matrix : matrix + 36] = struct.pack(
        ">9i", a * one, b * one, 0, -b * one, a * one, 0, 0, 0, 0x40000000
    )
    path.write_bytes(bytes(data))
