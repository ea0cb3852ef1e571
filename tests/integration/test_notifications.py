"""Notifications in-process: the journal, receiveNotification/deleteNotification, webhooks to a loopback receiver."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from statusgate.engines.sandbox_network import ImportedContact
from tests.conftest import Gateway
from tests.integration.test_send_media_status import poll, statistic
from tests.support import FileServer, jpeg_bytes

BOOK = [
    ImportedContact("79990000001@c.us", "Ann", "Ann W", True),
    ImportedContact("79990000002@c.us", "Bob", "Bob K", True),
]


class Receiver:
    """A webhook receiver on 127.0.0.1 that records what it got and answers as told."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        #: status codes to answer, in order; 200 once exhausted (0 = don't answer at all)
        self.script: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                code = receiver.script.pop(0) if receiver.script else 200
                if code == 0:
                    time.sleep(1.5)
                    return
                if code == 200:
                    receiver.bodies.append(body)
                    receiver.headers.append(dict(self.headers))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def files() -> Any:
    with FileServer() as server:
        yield server


@pytest.fixture
def receiver() -> Any:
    r = Receiver()
    yield r
    r.close()


async def setup(gw: Gateway, authorized: bool = True) -> tuple[int, str]:
    id_instance, token = await gw.create_instance(authorized=authorized)
    await gw.ctx.sandbox.import_contacts(id_instance, BOOK)
    return id_instance, token


async def receive(gw: Gateway, ids: tuple[int, str], timeout: int = 5) -> Any:
    r = await gw.client.get(gw.path(*ids, "receiveNotification"), params={"receiveTimeout": timeout})
    assert r.status_code == 200, r.text
    return r.json()


async def drain(gw: Gateway, ids: tuple[int, str], until: int) -> list[dict[str, Any]]:
    """receiveNotification/deleteNotification until ``until`` bodies arrived (as the SDK's loop does)."""
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(bodies) < until and time.monotonic() < deadline:
        got = await receive(gw, ids)
        if got is None:
            continue
        bodies.append(got["body"])
        r = await gw.client.delete(gw.path(*ids, "deleteNotification") + f"/{got['receiptId']}")
        assert r.json() == {"result": True, "reason": ""}
    return bodies


async def test_polling_scenario_in_order(start_gateway: Any, make_settings: Any, files: FileServer) -> None:
    from statusgate.services import sandbox

    gw: Gateway = await start_gateway(make_settings(allow_private_urls=True))
    ids = await setup(gw, authorized=False)
    assert await receive(gw, ids, timeout=5) is None
    await gw.ctx.sandbox.scan(ids[0])
    url = files.add("/p.jpg", jpeg_bytes())
    sent = (
        await gw.client.post(gw.path(*ids, "sendMediaStatus"), json={"urlFile": url, "fileName": "p.jpg"})
    ).json()
    await poll(lambda: statistic(gw, *ids, sent["idMessage"]), what="sent")
    await gw.ctx.sandbox.view(ids[0], sent["idMessage"], "79990000001@c.us")
    await sandbox.post_text(gw.ctx, ids[0], "79990000002@c.us", "hi there", "#112233", "SERIF")
    bodies = await drain(gw, ids, until=6)
    assert len(bodies) == 6
    kinds = [(b["typeWebhook"], b.get("status") or b.get("stateInstance")) for b in bodies]
    assert kinds[0] == ("stateInstanceChanged", "authorized")
    assert kinds[1] == ("outgoingMessageStatus", "sent")
    assert sorted(kinds[2:4]) == [("outgoingStatusReceipt", "delivered")] * 2
    assert kinds[4] == ("outgoingStatusReceipt", "read")
    assert kinds[5][0] == "incomingStatusReceived"
    for body in bodies:
        assert body["instanceData"]["idInstance"] == ids[0]
        assert body["instanceData"]["typeInstance"] == "whatsapp"
        assert isinstance(body["timestamp"], int)
    status = bodies[1]
    assert status["chatId"] == "status@broadcast"
    assert status["idMessage"] == sent["idMessage"]
    assert status["sendByApi"] is True
    incoming = bodies[5]
    assert incoming["senderData"] == {
        "chatId": "79990000002@c.us",
        "sender": "79990000002@c.us",
        "senderName": "Bob",
        "senderContactName": "Bob K",
    }
    assert incoming["messageData"] == {
        "typeMessage": "extendedTextMessage",
        "extendedTextMessageData": {"text": "hi there", "backgroundColor": "#112233", "font": "SERIF"},
    }
    assert (await gw.client.get(gw.path(*ids, "getWebhooksCount"))).json() == {"count": 0}


async def test_long_poll_is_woken_by_a_new_notification(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings())
    ids = await setup(gw, authorized=False)
    waiting = asyncio.create_task(receive(gw, ids, timeout=30))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await gw.ctx.sandbox.scan(ids[0])
    got = await asyncio.wait_for(waiting, 20)  # a long-poll left to its 30 s timeout would not make it
    assert got["body"]["typeWebhook"] == "stateInstanceChanged"


async def test_polling_methods_validation(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings(allow_private_urls=False))
    ids = await setup(gw)
    r = await gw.client.get(gw.path(*ids, "receiveNotification"), params={"receiveTimeout": 4})
    assert r.status_code == 400
    assert "receiveTimeout" in r.json()["message"]
    r = await gw.client.delete(gw.path(*ids, "deleteNotification") + "/abc")
    assert r.status_code == 400
    r = await gw.client.delete(gw.path(*ids, "deleteNotification") + "/999")
    assert r.json() == {"result": False, "reason": "notification not found"}
    r = await gw.client.get(gw.path(*ids, "deleteNotification") + "/1")
    assert r.status_code == 404
    r = await gw.client.delete(gw.path(*ids, "clearWebhooksQueue"))
    assert r.json() == {"isCleared": True, "reason": ""}
    assert (await gw.client.get(gw.path(*ids, "getWebhooksCount"))).json() == {"count": 0}
    r = await gw.client.post(gw.path(*ids, "setSettings"), json={"webhookUrl": "http://127.0.0.1:9/hook"})
    assert r.status_code == 400  # the SSRF guard refuses loopback without a lookup
    assert "'webhookUrl' is not allowed" in r.json()["message"]


async def test_settings_gate_notification_types(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings())
    ids = await setup(gw, authorized=False)
    r = await gw.client.post(gw.path(*ids, "setSettings"), json={"stateWebhook": "no"})
    assert r.status_code == 200
    await gw.ctx.sandbox.scan(ids[0])
    await asyncio.sleep(0.5)
    assert (await gw.client.get(gw.path(*ids, "getWebhooksCount"))).json() == {"count": 0}


async def test_webhooks_in_order_with_token_and_retries(
    start_gateway: Any, make_settings: Any, files: FileServer, receiver: Receiver
) -> None:
    gw: Gateway = await start_gateway(
        make_settings(allow_private_urls=True, webhook_retry_seconds=0.2, webhook_timeout_seconds=0.5)
    )
    ids = await setup(gw, authorized=False)
    r = await gw.client.post(
        gw.path(*ids, "setSettings"), json={"webhookUrl": receiver.url, "webhookUrlToken": "s3cret"}
    )
    assert r.status_code == 200
    receipt = await gw.client.get(gw.path(*ids, "receiveNotification"))
    assert receipt.status_code == 400  # with a webhook set, polling is refused
    receiver.script = [500, 0, 200]  # a 500, then a timeout, then fine
    await gw.ctx.sandbox.scan(ids[0])
    url = files.add("/p.jpg", jpeg_bytes())
    sent = (
        await gw.client.post(gw.path(*ids, "sendMediaStatus"), json={"urlFile": url, "fileName": "p.jpg"})
    ).json()

    def arrived() -> bool:
        return len(receiver.bodies) >= 4

    await poll(lambda: asyncio.sleep(0, arrived()), what="webhooks")
    kinds = [b["typeWebhook"] for b in receiver.bodies[:4]]
    assert kinds == [
        "stateInstanceChanged",
        "outgoingMessageStatus",
        "outgoingStatusReceipt",
        "outgoingStatusReceipt",
    ]
    assert receiver.bodies[1]["idMessage"] == sent["idMessage"]
    assert all(h["Authorization"] == "Bearer s3cret" for h in receiver.headers)

    async def none_waiting() -> bool:
        return bool((await gw.client.get(gw.path(*ids, "getWebhooksCount"))).json() == {"count": 0})

    await poll(none_waiting, what="delivered notifications removed")

    await gw.client.post(gw.path(*ids, "setSettings"), json={"webhookUrlToken": "Basic dXNlcjpwdw=="})
    await gw.ctx.sandbox.logout(ids[0])
    await poll(lambda: asyncio.sleep(0, len(receiver.bodies) >= 5), what="logout webhook")
    assert receiver.headers[-1]["Authorization"] == "Basic dXNlcjpwdw=="
