"""The whatsapp engine behind the real app and queue (in-process), children running the fake client."""

from __future__ import annotations

import base64
from typing import Any, cast

import pytest

from tests.whatsapp_support import neonize_or_skip

neonize_or_skip()

from statusgate.domain.models import EngineName  # noqa: E402
from statusgate.domain.states import InstanceState  # noqa: E402
from statusgate.engines.whatsapp.engine import WhatsAppEngine  # noqa: E402
from statusgate.services import instances  # noqa: E402
from tests.conftest import Gateway  # noqa: E402
from tests.integration.test_send_media_status import poll  # noqa: E402
from tests.support import FileServer, jpeg_bytes  # noqa: E402
from tests.whatsapp_fake import decode_message, read_calls, write_script  # noqa: E402
from tests.whatsapp_support import FAST  # noqa: E402

Ids = tuple[int, str]


@pytest.fixture
async def gw(start_gateway: Any, make_settings: Any) -> Gateway:
    gateway: Gateway = await start_gateway(make_settings(**FAST, delay_default_ms=500))
    return gateway


def engine_of(gw: Gateway) -> WhatsAppEngine:
    return cast(WhatsAppEngine, gw.ctx.engines[EngineName.WHATSAPP])


async def whatsapp_instance(gw: Gateway, link: bool = True, **script: Any) -> Ids:
    credentials = await instances.create(gw.ctx, engine=EngineName.WHATSAPP)
    ids = credentials.id_instance, credentials.api_token
    write_script(engine_of(gw).session_dir(ids[0]), autopair=link, **script)
    if link:
        qr = await gw.client.get(gw.path(*ids, "qr"))
        assert qr.json()["type"] == "qrCode"

        async def authorized() -> bool:
            return await engine_of(gw).state(ids[0]) is InstanceState.AUTHORIZED

        await poll(authorized, timeout=10, what="authorized")
    return ids


async def post(gw: Gateway, ids: Ids, method: str, body: Any) -> Any:
    return await gw.client.post(gw.path(*ids, method), json=body)


async def get(gw: Gateway, ids: Ids, method: str, **params: Any) -> Any:
    r = await gw.client.get(gw.path(*ids, method), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def calls(gw: Gateway, ids: Ids, method: str) -> list[dict[str, Any]]:
    return [c["args"] for c in read_calls(engine_of(gw).session_dir(ids[0])) if c["method"] == method]


async def test_participants_are_refused_at_request_time(gw: Gateway) -> None:
    ids = await whatsapp_instance(gw, link=False)
    r = await post(gw, ids, "sendTextStatus", {"message": "hi", "participants": ["79001112233@c.us"]})
    assert r.status_code == 400
    assert "cannot restrict a status to 'participants'" in r.json()["message"]
    assert (await get(gw, ids, "showMessagesQueue")) == []


async def test_engine_death_mid_send_fails_the_status_and_the_server_goes_on(gw: Gateway) -> None:
    ids = await whatsapp_instance(gw, crash_on_send="exit134")
    id_message = (await post(gw, ids, "sendTextStatus", {"message": "hi"})).json()["idMessage"]

    async def failed() -> Any:
        items = await get(gw, ids, "getOutgoingStatuses")
        return next(
            (i for i in items if i["idMessage"] == id_message and i["statusMessage"] == "failed"), None
        )

    item = await poll(failed, timeout=15, what="failed")
    assert "WhatsApp may or may not have published the status" in item["description"]
    assert "not resent" in item["description"]
    assert len(calls(gw, ids, "send_message")) == 1  # no silent resend
    # the server is up, the engine process restarted, the account is back
    state = await poll(
        lambda: _state_is(gw, ids, "authorized"), timeout=10, what="authorized again after the restart"
    )
    assert state


async def _state_is(gw: Gateway, ids: Ids, value: str) -> bool:
    return bool((await get(gw, ids, "getStateInstance"))["stateInstance"] == value)


async def test_receipts_make_the_statistics(gw: Gateway) -> None:
    ids = await whatsapp_instance(
        gw,
        receipts=[
            {"from": "79001112233", "type": "DELIVERED", "before_response": True},
            {"from": "79001112233", "type": "READ"},
            {"from": "lid:555", "type": "PLAYED"},
            {"from": "79001112244", "type": "DELIVERED"},
        ],
        lid_map={"555": "79001112266"},
    )
    id_message = (await post(gw, ids, "sendTextStatus", {"message": "hi", "font": "SERIF"})).json()[
        "idMessage"
    ]

    async def complete() -> Any:
        rows = await get(gw, ids, "getStatusStatistic", idMessage=id_message)
        return rows if len(rows) == 3 and sum(r["status"] == "read" for r in rows) == 2 else None

    rows = await poll(complete, timeout=10, what="statistics from receipts")
    assert {(r["participant"], r["status"]) for r in rows} == {
        ("79001112233@c.us", "read"),
        ("79001112266@c.us", "read"),
        ("79001112244@c.us", "delivered"),
    }
    item = next(i for i in await get(gw, ids, "getOutgoingStatuses") if i["idMessage"] == id_message)
    assert item["statusMessage"] == "read"
    assert item["chatId"] == "79990000001@c.us"


async def test_media_status_reaches_neonize_prepared(gw: Gateway) -> None:
    ids = await whatsapp_instance(gw)
    with FileServer() as files:
        url = files.add("/p.jpg", jpeg_bytes(360, 640))
        r = await post(gw, ids, "sendMediaStatus", {"urlFile": url, "fileName": "p.jpg", "caption": "look"})
        id_message = r.json()["idMessage"]

        async def sent() -> Any:
            return calls(gw, ids, "send_message")

        (call,) = await poll(sent, timeout=15, what="sent")
    image = decode_message(call["message"]).imageMessage
    assert image.caption == "look" and image.mimetype == "image/jpeg"
    assert (image.width, image.height) == (360, 640)
    assert image.JPEGThumbnail.startswith(b"\xff\xd8")
    (upload,) = calls(gw, ids, "upload")
    assert upload["media_type"] == "MediaImage"

    # deleteStatus revokes it under WhatsApp's id
    async def sent_state() -> Any:
        items = await get(gw, ids, "getOutgoingStatuses")
        return any(i["idMessage"] == id_message and i["statusMessage"] == "sent" for i in items)

    await poll(sent_state, timeout=10, what="sent")
    assert (await post(gw, ids, "deleteStatus", {"idMessage": id_message})).status_code == 200
    (revoke,) = calls(gw, ids, "revoke_message")
    assert revoke["message_id"].startswith("3EB0") and revoke["message_id"] != id_message


async def test_authorization_code(gw: Gateway) -> None:
    ids = await whatsapp_instance(gw, link=False)
    r = await post(gw, ids, "getAuthorizationCode", {"phoneNumber": 79001112233})
    assert r.status_code == 200, r.text
    assert r.json() == {"status": True, "code": "FAKE1234"}
    bad = await post(gw, ids, "getAuthorizationCode", {})
    assert (
        bad.status_code == 400
        and bad.json()["message"] == "Validation failed. Details: 'phoneNumber' is required"
    )
    text = await post(gw, ids, "getAuthorizationCode", {"phoneNumber": "79001112233"})
    assert text.status_code == 400

    sandbox = await gw.create_instance(authorized=False)
    code = (await post(gw, sandbox, "getAuthorizationCode", {"phoneNumber": 79001112233})).json()["code"]
    assert len(code) == 8
    linked = await gw.create_instance(authorized=True)
    refused = await post(gw, linked, "getAuthorizationCode", {"phoneNumber": 79001112233})
    assert refused.status_code == 400 and "already authorized" in refused.json()["message"]


async def test_contacts_numbers_and_incoming(gw: Gateway) -> None:
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ExtendedTextMessage, Message

    posted = Message(extendedTextMessage=ExtendedTextMessage(text="from Alice", backgroundArgb=0xFF112233))
    ids = await whatsapp_instance(
        gw,
        contacts=[["79001112233", "Alice Saved", "Alice", "alice"], ["79001112244", "", "", "bob"]],
        registered=["79001112233"],
        incoming=[
            {
                "from": "79001112233",
                "id": "INCOMING1",
                "push_name": "alice",
                "message": base64.b64encode(posted.SerializeToString()).decode(),
            }
        ],
    )
    contacts = await get(gw, ids, "getContacts")
    assert contacts == [
        {"id": "79001112233@c.us", "name": "alice", "contactName": "Alice Saved", "type": "user"},
        {"id": "79001112244@c.us", "name": "bob", "contactName": "", "type": "user"},
    ]
    assert (await post(gw, ids, "checkWhatsapp", {"phoneNumber": 79001112233})).json() == {
        "existsWhatsapp": True
    }
    assert (await post(gw, ids, "checkWhatsapp", {"phoneNumber": 79001112299})).json() == {
        "existsWhatsapp": False
    }

    async def incoming() -> Any:
        return await get(gw, ids, "getIncomingStatuses")

    (item,) = await poll(incoming, timeout=10, what="incoming status")
    assert item["idMessage"] == "INCOMING1"
    assert item["senderId"] == "79001112233@c.us"
    assert (item["senderName"], item["senderContactName"]) == ("alice", "Alice Saved")
    assert item["extendedTextMessage"]["backgroundColor"] == "#112233"
    assert item["textMessage"] == "from Alice"


async def test_an_engine_failure_is_a_bad_gateway_not_a_500(gw: Gateway) -> None:
    """WhatsApp unreachable while answering a request: Green's 502 (its clients retry it), never a 500."""
    ids = await whatsapp_instance(gw, numbers_error="websocket not connected")
    r = await post(gw, ids, "checkWhatsapp", {"phoneNumber": 79990000002})
    assert r.status_code == 502, r.text
    body = r.json()
    assert set(body) == {"statusCode", "timestamp", "path", "message"}
    assert body["message"].startswith("Bad Gateway: ")
