"""MediaPreparer with conversion: what prepare() returns, and each source converted only once."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path

import av
import pytest
import sqlalchemy as sa
from PIL import Image

from statusgate.domain.models import MediaKind, PreparedMedia
from statusgate.media.convert import ConversionSettings, Converted
from statusgate.media.guard import UrlGuard
from statusgate.media.prepare import MediaPreparer
from statusgate.media.probe import ProbeResult
from statusgate.media.store import MediaStore
from statusgate.settings import Settings
from statusgate.store.schema.media import media_sources
from statusgate.wiring.core import Core
from tests.mediagen import image_bytes, write_audio, write_video
from tests.support import FileServer


class CountingPreparer(MediaPreparer):
    """Counts real conversions: the evidence that a cache hit skipped one."""

    calls = 0

    def convert(self, path: Path, probed: ProbeResult, dest: Path) -> Converted:
        self.calls += 1
        return super().convert(path, probed, dest)


class DictCache:
    def __init__(self) -> None:
        self.items: dict[str, PreparedMedia] = {}

    async def get(self, source_key: str) -> PreparedMedia | None:
        return self.items.get(source_key)

    async def put(self, source_key: str, media: PreparedMedia) -> None:
        self.items[source_key] = media


async def no_local(url: str) -> Path | None:
    return None


def preparer(
    root: Path, cache: DictCache | None, conversion: ConversionSettings | None = None
) -> CountingPreparer:
    return CountingPreparer(
        store=MediaStore(root),
        guard=UrlGuard(allow_private=True),
        local_source=no_local,
        max_bytes=10_000_000,
        connect_timeout=2,
        read_timeout=5,
        total_timeout=20,
        max_redirects=1,
        conversion=conversion,
        cache=cache,
    )


def temp_files(root: Path) -> list[Path]:
    tmp = root / "tmp"
    return sorted(tmp.iterdir()) if tmp.exists() else []


async def test_prepare_fills_every_field_from_the_converted_output(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "clip.webm", container="webm", video_codec="libvpx-vp9", seconds=3)
    sound = write_audio(tmp_path / "sound.wav", container="wav", codec="pcm_s16le", seconds=2)
    picture = image_bytes(Image.new("RGBA", (50, 20), (0, 0, 255, 128)), "PNG")
    with FileServer() as server:
        urls = {
            MediaKind.VIDEO: server.add("/clip.webm", clip.read_bytes(), "video/webm"),
            MediaKind.AUDIO: server.add("/sound.wav", sound.read_bytes(), "application/octet-stream"),
            MediaKind.IMAGE: server.add("/pic.png", picture, "image/png"),
        }
        prep = preparer(tmp_path / "media", None)
        video = await prep.prepare(urls[MediaKind.VIDEO], "clip.webm", MediaKind.VIDEO)
        audio = await prep.prepare(urls[MediaKind.AUDIO], "sound.wav", MediaKind.AUDIO)
        image = await prep.prepare(urls[MediaKind.IMAGE], "pic.png", MediaKind.IMAGE)

    for media in (video, audio, image):
        assert media.path.read_bytes()
        assert media.size == media.path.stat().st_size
        assert media.media_id == hashlib.sha256(media.path.read_bytes()).hexdigest()
    assert (video.mime_type, video.extension, video.width, video.height) == ("video/mp4", "mp4", 64, 36)
    assert video.duration_seconds == pytest.approx(3.0, abs=0.1)
    assert video.jpeg_thumbnail and base64.b64decode(video.jpeg_thumbnail).startswith(b"\xff\xd8")
    assert video.waveform is None
    with av.open(str(video.path)) as out:
        assert [s.codec_context.name for s in out.streams] == ["h264"]

    assert (audio.mime_type, audio.extension, audio.jpeg_thumbnail) == ("audio/ogg", "ogg", None)
    assert audio.duration_seconds == pytest.approx(2.0, abs=0.05)
    assert audio.waveform is not None and len(audio.waveform) == 64

    assert (image.mime_type, image.extension, image.width, image.height) == ("image/jpeg", "jpg", 50, 20)
    assert image.jpeg_thumbnail and image.duration_seconds is None
    assert temp_files(tmp_path / "media") == []


async def test_same_file_posted_twice_is_converted_once(tmp_path: Path) -> None:
    clip = write_video(
        tmp_path / "clip.webm", container="webm", video_codec="libvpx-vp9", seconds=2
    ).read_bytes()
    cache = DictCache()
    prep = preparer(tmp_path / "media", cache)
    with FileServer() as server:
        first = await prep.prepare(server.add("/a.webm", clip, "video/webm"), "a.webm", MediaKind.VIDEO)
        # Another URL, another name, the same bytes: the source key is the content, not the link.
        second = await prep.prepare(server.add("/b.mp4", clip, "video/mp4"), "b.mp4", MediaKind.VIDEO)
        assert prep.calls == 1
        assert second == first
        (key,) = cache.items
        assert key == f"{hashlib.sha256(clip).hexdigest()}:video:{ConversionSettings().version}"

        # Other conversion settings are another conversion.
        other = preparer(tmp_path / "media", cache, ConversionSettings(max_seconds=1))
        short = await other.prepare(server.add("/c.webm", clip, "video/webm"), "c.webm", MediaKind.VIDEO)
        assert other.calls == 1
        assert short.media_id != first.media_id
        assert short.duration_seconds is not None and short.duration_seconds <= 1.0
    assert temp_files(tmp_path / "media") == []


async def test_core_preparer_converts_once_through_the_database_cache(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = Core(make_settings())
    await core.open()
    ctx = core.ctx
    calls: list[Path] = []
    convert = ctx.preparer.convert

    def counting(path: Path, probed: ProbeResult, dest: Path) -> Converted:
        calls.append(path)
        return convert(path, probed, dest)

    monkeypatch.setattr(ctx.preparer, "convert", counting)
    photo = image_bytes(Image.new("RGB", (300, 200), (10, 200, 30)), "PNG")
    try:
        with FileServer() as server:
            first = await ctx.preparer.prepare(
                server.add("/p.png", photo, "image/png"), "p.png", MediaKind.IMAGE
            )
            second = await ctx.preparer.prepare(
                server.add("/q.png", photo, "image/png"), "q.png", MediaKind.IMAGE
            )
        assert len(calls) == 1
        assert second == first
        assert await ctx.prepared.load(first.media_id) == first
        rows = await ctx.db.read(lambda conn: conn.execute(sa.select(media_sources.c.media_id)).all())
        assert [row.media_id for row in rows] == [first.media_id]
    finally:
        await core.close()
