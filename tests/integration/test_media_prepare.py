"""MediaPreparer end to end: own links read from disk, other links fetched from a loopback server."""

from __future__ import annotations

import hashlib
import io
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from statusgate.domain.models import MediaKind
from statusgate.errors import MediaError
from statusgate.media.guard import BlockedUrlError, IPAddress, UrlGuard
from statusgate.media.prepare import MediaPreparer
from statusgate.media.store import MediaStore

OWN_PREFIX = "https://gateway.example/media/"


def image_bytes(image_format: str, color: tuple[int, int, int] = (0, 90, 180)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buf, image_format)
    return buf.getvalue()


PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG")
FILES: dict[str, tuple[bytes, str]] = {
    "/photo.jpg": (PNG, "image/jpeg"),  # a PNG behind a .jpg name and a lying Content-Type
    "/same.jpg": (PNG, "image/jpeg"),
    "/login.jpg": (b"<!doctype html><html><body>log in</body></html>", "text/html"),
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path not in FILES:
            self.send_error(404)
            return
        body, content_type = FILES[self.path]
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    def server_bind(self) -> None:
        # HTTPServer's own server_bind looks up the FQDN of the address (reverse DNS): not from tests.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "localhost", self.server_address[1]


@pytest.fixture
def base_url() -> Iterator[str]:
    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


async def no_dns(host: str, port: int) -> list[IPAddress]:
    raise AssertionError(f"unexpected DNS lookup of {host}:{port}")


class Setup:
    def __init__(self, root: Path, *, allow_private: bool, max_bytes: int = 10_000_000) -> None:
        self.store = MediaStore(root / "media")
        self.own_files: dict[str, Path] = {}
        self.preparer = MediaPreparer(
            store=self.store,
            guard=UrlGuard(allow_private=allow_private, resolver=no_dns),
            local_source=self.local_source,
            max_bytes=max_bytes,
            connect_timeout=2,
            read_timeout=5,
            total_timeout=10,
            max_redirects=2,
        )

    async def local_source(self, url: str) -> Path | None:
        if not url.startswith(OWN_PREFIX):
            return None
        return self.own_files[url]

    def temp_files(self) -> list[Path]:
        tmp = self.store.root / "tmp"
        return sorted(tmp.iterdir()) if tmp.exists() else []

    async def error(self, url: str, kind: MediaKind = MediaKind.IMAGE) -> MediaError:
        with pytest.raises(MediaError) as caught:
            await self.preparer.prepare(url, "photo.jpg", kind)
        assert self.temp_files() == []
        return caught.value


async def test_own_link_is_read_from_disk_without_http(tmp_path: Path) -> None:
    setup = Setup(tmp_path, allow_private=False)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(JPEG)
    url = OWN_PREFIX + "abc/photo.jpg"
    setup.own_files[url] = upload

    prepared = await setup.preparer.prepare(url, "photo.jpg", MediaKind.IMAGE)

    stored = prepared.path.read_bytes()
    assert prepared.media_id == hashlib.sha256(stored).hexdigest()
    assert prepared.path == setup.store.blob_path(prepared.media_id)
    assert (prepared.kind, prepared.mime_type, prepared.extension) == (MediaKind.IMAGE, "image/jpeg", "jpg")
    assert (prepared.size, prepared.width, prepared.height) == (len(stored), 40, 30)
    assert upload.read_bytes() == JPEG  # the source is copied, not moved
    assert setup.temp_files() == []


async def test_fetched_file_is_probed_and_stored_by_its_bytes(base_url: str, tmp_path: Path) -> None:
    setup = Setup(tmp_path, allow_private=True)
    prepared = await setup.preparer.prepare(f"{base_url}/photo.jpg", "photo.jpg", MediaKind.IMAGE)
    # A PNG behind a .jpg name: recognised by its bytes, then converted to the JPEG a status carries.
    assert (prepared.kind, prepared.mime_type, prepared.extension) == (MediaKind.IMAGE, "image/jpeg", "jpg")
    with Image.open(prepared.path) as image:
        assert (image.format, image.size) == ("JPEG", (40, 30))
    assert prepared.media_id == hashlib.sha256(prepared.path.read_bytes()).hexdigest()
    assert setup.temp_files() == []


async def test_same_content_twice_is_one_blob(base_url: str, tmp_path: Path) -> None:
    setup = Setup(tmp_path, allow_private=True)
    first = await setup.preparer.prepare(f"{base_url}/photo.jpg", "a.jpg", MediaKind.IMAGE)
    second = await setup.preparer.prepare(f"{base_url}/same.jpg", "b.jpg", MediaKind.IMAGE)
    assert first == second
    assert [p for p in (setup.store.root / "blobs").rglob("*") if p.is_file()] == [first.path]


async def test_html_page_fails_and_leaves_no_temp_file(base_url: str, tmp_path: Path) -> None:
    setup = Setup(tmp_path, allow_private=True)
    error = await setup.error(f"{base_url}/login.jpg")
    assert error.message.startswith("urlFile returned an HTML page, not an image")
    assert not (setup.store.root / "blobs").exists()


async def test_http_failure_leaves_no_temp_file(base_url: str, tmp_path: Path) -> None:
    setup = Setup(tmp_path, allow_private=True)
    error = await setup.error(f"{base_url}/missing.jpg")
    assert error.message.startswith("urlFile answered HTTP 404")


async def test_private_url_is_refused_when_private_urls_are_off(base_url: str, tmp_path: Path) -> None:
    setup = Setup(tmp_path, allow_private=False)
    error = await setup.error(f"{base_url}/photo.jpg")
    assert isinstance(error, BlockedUrlError)


async def test_kind_mismatch_of_an_own_file_fails_cleanly(tmp_path: Path) -> None:
    setup = Setup(tmp_path, allow_private=False)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(JPEG)
    setup.own_files[OWN_PREFIX + "x/clip.mp4"] = upload
    error = await setup.error(OWN_PREFIX + "x/clip.mp4", MediaKind.VIDEO)
    assert error.message == "fileName says video but urlFile returned an image"


async def test_own_file_that_vanished_is_a_media_error(tmp_path: Path) -> None:
    setup = Setup(tmp_path, allow_private=False)
    setup.own_files[OWN_PREFIX + "gone/photo.jpg"] = tmp_path / "nothing-here"
    error = await setup.error(OWN_PREFIX + "gone/photo.jpg")
    assert "its file is gone" in error.message


async def test_own_file_over_the_limit_gets_greens_size_error(tmp_path: Path) -> None:
    setup = Setup(tmp_path, allow_private=False, max_bytes=100)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(JPEG)
    url = OWN_PREFIX + "big/photo.jpg"
    setup.own_files[url] = upload
    error = await setup.error(url)
    assert error.message == f"File from url exceeded max upload size. Size: 1mb Limit: 1mb Url: {url}"
