"""fetch_to_file against a real HTTP server on loopback.

Names like ``media.test`` are answered by a stub resolver, and the one test that needs a "public" address
hands the request to a recording transport: nothing here leaves 127.0.0.1 / ::1 or asks real DNS.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from statusgate.domain.models import MediaKind
from statusgate.errors import MediaError
from statusgate.media.fetch import FetchResult, fetch_to_file
from statusgate.media.guard import BlockedUrlError, IPAddress, UrlGuard
from statusgate.media.probe import probe_file

CAP = 1_000_000
CHUNK = 64 * 1024


def jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


JPEG = jpeg_bytes()
HTML = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please log in</body></html>"


@dataclass(frozen=True)
class Seen:
    path: str
    host_header: str
    local_address: str


class Handler(BaseHTTPRequestHandler):
    server: MediaServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append(
            Seen(self.path, self.headers.get("Host", ""), self.connection.getsockname()[0])
        )
        route = ROUTES.get(self.path.split("?")[0])
        if route is None:
            self.send_error(404)
            return
        # The client hangs up mid-body past the size cap, as it should.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self)

    def reply(self, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _photo(h: Handler) -> None:
    h.reply(JPEG, "image/jpeg")


def _download(h: Handler) -> None:
    h.reply(JPEG, "application/octet-stream", {"Content-Disposition": 'attachment; filename="IMG_0001.JPG"'})


def _login(h: Handler) -> None:
    h.reply(HTML, "text/html; charset=utf-8")


def _big_announced(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "image/jpeg")
    h.send_header("Content-Length", str(3_000_000))
    h.end_headers()
    for _ in range(3_000_000 // CHUNK + 1):
        h.wfile.write(b"\0" * CHUNK)


def _big_streamed(h: Handler) -> None:
    # No Content-Length: HTTP/1.0 close-delimited, so only counting can catch it.
    h.send_response(200)
    h.send_header("Content-Type", "image/jpeg")
    h.end_headers()
    for _ in range(3_000_000 // CHUNK + 1):
        h.wfile.write(b"\0" * CHUNK)


def _slow(h: Handler) -> None:
    h.server.release.wait(10)
    h.reply(JPEG, "image/jpeg")


def _redirect_chain(h: Handler) -> None:
    left = int(h.path.rsplit("/", 1)[1])
    h.redirect("/photo.jpg" if left == 0 else f"/r/{left - 1}")


def _to_ftp(h: Handler) -> None:
    h.redirect("ftp://127.0.0.1/photo.jpg")


def _to_other(h: Handler) -> None:
    h.redirect(f"http://other.test:{h.server.port}/photo.jpg")


def _to_other_tls(h: Handler) -> None:
    h.redirect(f"https://other.test:{h.server.port}/photo.jpg")


ROUTES: dict[str, Callable[[Handler], None]] = {
    "/photo.jpg": _photo,
    "/download": _download,
    "/login.jpg": _login,
    "/big-announced.jpg": _big_announced,
    "/big-streamed.jpg": _big_streamed,
    "/slow.jpg": _slow,
    "/to-ftp": _to_ftp,
    "/to-other": _to_other,
    "/to-other-tls": _to_other_tls,
    **{f"/r/{n}": _redirect_chain for n in range(10)},
}


class KeepAliveHandler(Handler):
    protocol_version = "HTTP/1.1"


class MediaServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, family: socket.AddressFamily, keep_alive: bool) -> None:
        self.address_family = family
        super().__init__((host, 0), KeepAliveHandler if keep_alive else Handler)
        self.seen: list[Seen] = []
        self.release = threading.Event()
        self.port: int = self.server_address[1]
        self.ip = host

    def server_bind(self) -> None:
        # HTTPServer's own server_bind looks up the FQDN of the address (reverse DNS): not from tests.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "localhost", self.server_address[1]

    def url(self, path: str, host: str | None = None, scheme: str = "http") -> str:
        name = host or (f"[{self.ip}]" if ":" in self.ip else self.ip)
        return f"{scheme}://{name}:{self.port}{path}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # refused TLS handshakes and dropped clients are expected in these tests


@pytest.fixture
def serve() -> Iterator[Callable[..., MediaServer]]:
    started: list[tuple[MediaServer, threading.Thread]] = []

    def start(
        host: str = "127.0.0.1", family: socket.AddressFamily = socket.AF_INET, keep_alive: bool = False
    ) -> MediaServer:
        server = MediaServer(host, family, keep_alive)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def server(serve: Callable[..., MediaServer]) -> MediaServer:
    return serve()


class StubResolver:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise OSError(-2, "Name or service not known")
        return [ipaddress.ip_address(a) for a in self.answers[host]]


LOOPBACK_OK = UrlGuard(allow_private=True, resolver=StubResolver({}))


async def fetch(
    url: str,
    dest: Path,
    guard: UrlGuard = LOOPBACK_OK,
    *,
    max_bytes: int = 10_000_000,
    max_redirects: int = 5,
    read_timeout: float = 5,
    total_timeout: float = 10,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FetchResult:
    return await fetch_to_file(
        url,
        dest,
        guard=guard,
        max_bytes=max_bytes,
        connect_timeout=2,
        read_timeout=read_timeout,
        total_timeout=total_timeout,
        max_redirects=max_redirects,
        transport=transport,
    )


async def fetch_error(url: str, dest: Path, guard: UrlGuard = LOOPBACK_OK, **kwargs: Any) -> MediaError:
    with pytest.raises(MediaError) as caught:
        await fetch(url, dest, guard, **kwargs)
    return caught.value


# --- successful downloads --------------------------------------------------------------------------------


async def test_fetches_a_jpeg_to_disk(server: MediaServer, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    url = server.url("/photo.jpg")
    result = await fetch(url, dest)
    assert result == FetchResult(
        size=len(JPEG), content_type="image/jpeg", content_disposition="", final_url=url
    )
    assert dest.read_bytes() == JPEG
    assert server.seen == [Seen("/photo.jpg", f"127.0.0.1:{server.port}", "127.0.0.1")]


async def test_download_link_with_attachment_disposition_works(server: MediaServer, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    result = await fetch(server.url("/download"), dest)
    assert result.content_type == "application/octet-stream"
    assert result.content_disposition.startswith("attachment;")
    assert probe_file(dest, MediaKind.IMAGE).extension == "jpg"


async def test_html_page_under_a_jpg_name_is_fetched_then_refused_by_the_probe(
    server: MediaServer, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    await fetch(server.url("/login.jpg"), dest)
    with pytest.raises(MediaError) as caught:
        probe_file(dest, MediaKind.IMAGE)
    assert caught.value.message == (
        "urlFile returned an HTML page, not an image — is it a download link behind a login?"
    )


# --- redirects -------------------------------------------------------------------------------------------


async def test_redirect_chain_within_the_limit_is_followed(server: MediaServer, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    result = await fetch(server.url("/r/3"), dest, max_redirects=4)
    assert result.final_url == server.url("/photo.jpg")
    assert dest.read_bytes() == JPEG
    assert [s.path for s in server.seen] == ["/r/3", "/r/2", "/r/1", "/r/0", "/photo.jpg"]


async def test_too_many_redirects_fail(server: MediaServer, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    url = server.url("/r/3")
    error = await fetch_error(url, dest, max_redirects=3)
    assert error.message == f"urlFile redirected more than 3 times: {url}"
    assert [s.path for s in server.seen] == ["/r/3", "/r/2", "/r/1", "/r/0"]
    assert not dest.exists()


async def test_redirect_to_another_scheme_is_refused(server: MediaServer, tmp_path: Path) -> None:
    error = await fetch_error(server.url("/to-ftp"), tmp_path / "out")
    assert isinstance(error, BlockedUrlError)
    assert "redirected to a refused URL" in error.message
    assert "not 'ftp'" in error.message


async def test_every_hop_is_resolved_and_sent_to_the_checked_address(
    server: MediaServer, tmp_path: Path
) -> None:
    resolver = StubResolver({"media.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    guard = UrlGuard(allow_private=True, resolver=resolver)
    result = await fetch(server.url("/to-other", host="media.test"), tmp_path / "out", guard)
    assert result.final_url == f"http://other.test:{server.port}/photo.jpg"
    assert resolver.calls == [("media.test", server.port), ("other.test", server.port)]
    assert server.seen == [
        Seen("/to-other", f"media.test:{server.port}", "127.0.0.1"),
        Seen("/photo.jpg", f"other.test:{server.port}", "127.0.0.1"),
    ]


# --- the SSRF guard in the fetch -------------------------------------------------------------------------


async def test_loopback_url_is_refused_before_connecting(server: MediaServer, tmp_path: Path) -> None:
    strict = UrlGuard(allow_private=False, resolver=StubResolver({"media.test": ["127.0.0.1"]}))
    for url in (server.url("/photo.jpg"), server.url("/photo.jpg", host="media.test")):
        error = await fetch_error(url, tmp_path / "out", strict)
        assert isinstance(error, BlockedUrlError)
        assert "loopback" in error.message
    assert server.seen == []
    assert not (tmp_path / "out").exists()


async def test_name_is_connected_on_the_resolved_address_with_its_host_header(
    server: MediaServer, tmp_path: Path
) -> None:
    resolver = StubResolver({"media.test": ["127.0.0.1"]})
    guard = UrlGuard(allow_private=True, resolver=resolver)
    url = server.url("/photo.jpg", host="media.test")
    result = await fetch(url, tmp_path / "out", guard)
    assert result.final_url == url
    assert resolver.calls == [("media.test", server.port)]
    assert server.seen == [Seen("/photo.jpg", f"media.test:{server.port}", "127.0.0.1")]


async def test_ipv6_addresses_are_bracketed(serve: Callable[..., MediaServer], tmp_path: Path) -> None:
    try:
        server = serve("::1", socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    guard = UrlGuard(allow_private=True, resolver=StubResolver({"media6.test": ["::1"]}))
    await fetch(server.url("/photo.jpg", host="media6.test"), tmp_path / "a", guard)
    await fetch(server.url("/photo.jpg"), tmp_path / "b", guard)
    assert server.seen == [
        Seen("/photo.jpg", f"media6.test:{server.port}", "::1"),
        Seen("/photo.jpg", f"[::1]:{server.port}", "::1"),
    ]


class RecordingTransport(httpx.AsyncBaseTransport):
    """Stands in for the internet: records where each request would go, and fails to connect."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        raise httpx.ConnectError("unreachable from tests", request=request)


async def test_dns_rebinding_never_reaches_loopback(server: MediaServer, tmp_path: Path) -> None:
    answers = iter([["93.184.216.34"]])

    class Rebinding(StubResolver):
        async def __call__(self, host: str, port: int) -> list[IPAddress]:
            # First answer public (passes the guard), every later one loopback (the attack).
            self.answers[host] = next(answers, ["127.0.0.1"])
            return await super().__call__(host, port)

    resolver = Rebinding({})
    transport = RecordingTransport()
    guard = UrlGuard(allow_private=False, resolver=resolver)
    error = await fetch_error(
        server.url("/photo.jpg", host="media.test"), tmp_path / "out", guard, transport=transport
    )
    assert error.message.startswith("could not connect to urlFile host media.test")
    assert [(r.url.host, r.headers["host"]) for r in transport.requests] == [
        ("93.184.216.34", f"media.test:{server.port}")
    ]
    assert len(resolver.calls) == 1
    assert server.seen == []


async def test_each_resolved_address_is_tried_in_turn(tmp_path: Path) -> None:
    resolver = StubResolver({"media.example": ["2606:4700::6810:84e5", "93.184.216.34"]})
    transport = RecordingTransport()
    guard = UrlGuard(allow_private=False, resolver=resolver)
    await fetch_error("https://media.example/a.jpg", tmp_path / "out", guard, transport=transport)
    assert [str(r.url) for r in transport.requests] == [
        "https://[2606:4700::6810:84e5]/a.jpg",
        "https://93.184.216.34/a.jpg",
    ]
    for request in transport.requests:
        assert request.headers["host"] == "media.example"
        assert request.extensions["sni_hostname"] == "media.example"


# --- limits and failures ---------------------------------------------------------------------------------


async def test_announced_oversize_body_is_refused_with_greens_text(
    server: MediaServer, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    url = server.url("/big-announced.jpg")
    error = await fetch_error(url, dest, max_bytes=CAP)
    assert error.message == f"File from url exceeded max upload size. Size: 3mb Limit: 1mb Url: {url}"
    assert not dest.exists() or dest.stat().st_size <= CAP + CHUNK


async def test_streamed_oversize_body_stops_at_the_cap(server: MediaServer, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    url = server.url("/big-streamed.jpg")
    error = await fetch_error(url, dest, max_bytes=CAP)
    assert error.message.startswith("File from url exceeded max upload size. Size: ")
    assert error.message.endswith(f"mb Limit: 1mb Url: {url}")
    assert dest.stat().st_size <= CAP + CHUNK


async def test_http_error_status_is_reported(server: MediaServer, tmp_path: Path) -> None:
    url = server.url("/nothing-here.jpg")
    error = await fetch_error(url, tmp_path / "out")
    assert error.message == f"urlFile answered HTTP 404 Not Found: {url}"


async def test_read_timeout(server: MediaServer, tmp_path: Path) -> None:
    url = server.url("/slow.jpg")
    error = await fetch_error(url, tmp_path / "out", read_timeout=0.2)
    assert error.message == f"urlFile stopped sending data for 0.2 s: {url}"


async def test_total_timeout(server: MediaServer, tmp_path: Path) -> None:
    url = server.url("/slow.jpg")
    error = await fetch_error(url, tmp_path / "out", read_timeout=5, total_timeout=0.3)
    assert error.message == f"urlFile did not finish downloading within 0.3 s: {url}"


async def test_refused_connection(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = await fetch_error(f"http://127.0.0.1:{port}/a.jpg", tmp_path / "out")
    assert error.message.startswith("could not connect to urlFile host 127.0.0.1")


# --- HTTPS: the certificate is checked against the name, though the connection goes to the IP -----------


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = [
        *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=media.test"),
        *("-addext", "subjectAltName=DNS:media.test"),
    ]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_uses_the_host_name_for_sni_and_verification(
    serve: Callable[..., MediaServer], tls_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = tls_files
    # Keep-alive on the server side, so a client that reused connections across hops would be caught.
    server = serve(keep_alive=True)
    names: list[str | None] = []
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server_ctx.sni_callback = lambda _sock, name, _ctx: names.append(name)
    server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    resolver = StubResolver({"media.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    guard = UrlGuard(allow_private=True, resolver=resolver)

    url = server.url("/photo.jpg", host="media.test", scheme="https")
    transport = httpx.AsyncHTTPTransport(verify=client_ctx, retries=0)
    result = await fetch(url, tmp_path / "out", guard, transport=transport)
    assert result.size == len(JPEG)
    assert names == ["media.test"]
    assert server.seen == [Seen("/photo.jpg", f"media.test:{server.port}", "127.0.0.1")]

    # The same server under a name its certificate does not carry: verification must fail.
    wrong = server.url("/photo.jpg", host="other.test", scheme="https")
    transport = httpx.AsyncHTTPTransport(verify=client_ctx, retries=0)
    error = await fetch_error(wrong, tmp_path / "out2", guard, transport=transport)
    assert error.message.startswith("could not connect to urlFile host other.test")
    assert "CERTIFICATE_VERIFY_FAILED" in error.message
    assert len(server.seen) == 1

    # A redirect to that name on the same address must not ride on the connection verified for media.test.
    jump = server.url("/to-other-tls", host="media.test", scheme="https")
    transport = httpx.AsyncHTTPTransport(verify=client_ctx, retries=0)
    error = await fetch_error(jump, tmp_path / "out3", guard, transport=transport)
    assert "CERTIFICATE_VERIFY_FAILED" in error.message
    assert [s.path for s in server.seen] == ["/photo.jpg", "/to-other-tls"]
    assert names == ["media.test", "other.test", "media.test", "other.test"]
