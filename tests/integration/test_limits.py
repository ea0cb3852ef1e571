"""Each limit is a setting: lowering it changes what the gateway does."""

from __future__ import annotations

import os
from typing import Any

import pytest

from statusgate.engines.sandbox_network import ImportedContact
from statusgate.store import outbox
from tests.conftest import Gateway
from tests.integration.test_send_media_status import poll, statistic, status_row
from tests.support import FileServer, jpeg_bytes


@pytest.fixture
def files() -> Any:
    with FileServer() as server:
        yield server


async def _failed(gw: Gateway, id_instance: int, id_message: str) -> outbox.StatusRow:
    async def check() -> outbox.StatusRow | None:
        row = await status_row(gw, id_instance, id_message)
        return row if row is not None and row.state.value == "failed" else None

    result: outbox.StatusRow = await poll(check, what="failure")
    return result


async def test_audience_limit(start_gateway: Any, make_settings: Any, files: FileServer) -> None:
    gw: Gateway = await start_gateway(make_settings(audience_limit=2))
    id_instance, token = await gw.create_instance()
    book = [ImportedContact(f"7999000000{n}@c.us", f"U{n}", f"C{n}", True) for n in range(1, 6)]
    await gw.ctx.sandbox.import_contacts(id_instance, book)
    url = files.add("/p.jpg", jpeg_bytes())
    r = await gw.client.post(
        gw.path(id_instance, token, "sendMediaStatus"), json={"urlFile": url, "fileName": "p.jpg"}
    )
    rows = await poll(lambda: statistic(gw, id_instance, token, r.json()["idMessage"]), what="sent")
    assert sorted(row["participant"] for row in rows) == ["79990000001@c.us", "79990000002@c.us"]


async def test_max_file_bytes(start_gateway: Any, make_settings: Any, files: FileServer) -> None:
    gw: Gateway = await start_gateway(make_settings(max_file_bytes=1_000_000))
    id_instance, token = await gw.create_instance()
    url = files.add("/big.jpg", os.urandom(3_000_000))
    r = await gw.client.post(
        gw.path(id_instance, token, "sendMediaStatus"), json={"urlFile": url, "fileName": "big.jpg"}
    )
    row = await _failed(gw, id_instance, r.json()["idMessage"])
    assert row.description is not None
    assert row.description.startswith("File from url exceeded max upload size.")
    assert "Limit: 1mb" in row.description
    assert url in row.description


async def test_fetch_max_redirects(start_gateway: Any, make_settings: Any, files: FileServer) -> None:
    gw: Gateway = await start_gateway(make_settings(fetch_max_redirects=0))
    id_instance, token = await gw.create_instance()
    target = files.add("/p.jpg", jpeg_bytes())
    files.files["/hop.jpg"] = (b"", "text/plain", {"Location": target})
    files.statuses["/hop.jpg"] = 302
    r = await gw.client.post(
        gw.path(id_instance, token, "sendMediaStatus"),
        json={"urlFile": files.url("/hop.jpg"), "fileName": "p.jpg"},
    )
    row = await _failed(gw, id_instance, r.json()["idMessage"])
    assert "redirect" in (row.description or "").lower()


async def test_queue_list_limit(start_gateway: Any, make_settings: Any, files: FileServer) -> None:
    gw: Gateway = await start_gateway(make_settings(queue_list_limit=2))
    id_instance, token = await gw.create_instance(authorized=False)
    for n in range(4):
        r = await gw.client.post(
            gw.path(id_instance, token, "sendMediaStatus"),
            json={"urlFile": files.add(f"/{n}.jpg", jpeg_bytes()), "fileName": f"{n}.jpg"},
        )
        assert r.status_code == 200
    listed = (await gw.client.get(gw.path(id_instance, token, "showMessagesQueue"))).json()
    assert [item["body"]["fileName"] for item in listed] == ["0.jpg", "1.jpg"]


async def test_delay_default_ms(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings(delay_default_ms=4321))
    id_instance, token = await gw.create_instance()
    settings = (await gw.client.get(gw.path(id_instance, token, "getSettings"))).json()
    assert settings["delaySendMessagesMilliseconds"] == 4321


async def test_delay_bounds(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings(delay_min_ms=1000, delay_max_ms=2000))
    id_instance, token = await gw.create_instance()
    path = gw.path(id_instance, token, "setSettings")
    assert (await gw.client.post(path, json={"delaySendMessagesMilliseconds": 999})).status_code == 400
    assert (await gw.client.post(path, json={"delaySendMessagesMilliseconds": 2001})).status_code == 400
    assert (await gw.client.post(path, json={"delaySendMessagesMilliseconds": 1500})).status_code == 200


async def test_101_megabytes_fail_with_greens_text_and_stop_at_the_cap(
    start_gateway: Any, make_settings: Any
) -> None:
    """The default 100 MB cap, end to end: a 101 MB body streamed without Content-Length fails the status
    with Green's text, and the server stops reading at the cap (the sender sees the connection go)."""
    import http.server
    import threading

    sent = {"bytes": 0}
    chunk = b"\0" * (1 << 20)

    class Endless(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for _ in range(101):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent["bytes"] += len(chunk)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gw: Gateway = await start_gateway(make_settings())
        assert gw.ctx.settings.max_file_bytes == 104_857_600
        id_instance, token = await gw.create_instance()
        url = f"http://127.0.0.1:{server.server_address[1]}/big.mp4"
        r = await gw.client.post(
            gw.path(id_instance, token, "sendMediaStatus"), json={"urlFile": url, "fileName": "big.mp4"}
        )
        row = await _failed(gw, id_instance, r.json()["idMessage"])
        assert row.description is not None
        assert row.description.startswith("File from url exceeded max upload size. Size: ")
        assert "Limit: 100mb" in row.description
        # what left the server: the cap plus what the sockets buffered when the reader went away
        assert sent["bytes"] <= 104_857_600 + 8 * (1 << 20), sent
    finally:
        server.shutdown()
        server.server_close()
