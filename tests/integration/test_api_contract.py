"""The wire contract in-process: Green's error rows and order of checks, and the account methods."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import httpx
import pytest
from PIL import Image

from statusgate.engines.sandbox_network import ImportedContact
from statusgate.services import instances
from tests.conftest import Gateway

GOOD = {"urlFile": "https://media.example/pic.jpg", "fileName": "pic.jpg"}


@pytest.fixture
async def gw(start_gateway: Any, make_settings: Any) -> Gateway:
    gateway: Gateway = await start_gateway(make_settings(allow_private_urls=False))
    return gateway


async def post(
    gw: Gateway, id_instance: int, token: str, method: str, body: Any = None, raw: bytes | None = None
) -> Any:
    path = gw.path(id_instance, token, method)
    if raw is not None:
        return await gw.client.post(path, content=raw, headers={"Content-Type": "application/json"})
    return await gw.client.post(path, json=body)


def assert_error(response: Any, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"statusCode", "timestamp", "path", "message"}
    assert body["statusCode"] == status
    assert body["message"] == message
    assert body["timestamp"].endswith("Z")
    assert body["path"].endswith("/***") or "/***/" in body["path"], body["path"]


async def test_order_of_checks(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    assert_error(await post(gw, 1234567890, token, "sendMediaStatus", GOOD), 403, "Forbidden")
    r = await gw.client.post(f"/waInstanceabc/sendMediaStatus/{token}", json=GOOD)
    assert_error(r, 403, "Forbidden")
    # a wrong token wins over an unknown method
    assert_error(await post(gw, id_instance, "0" * 50, "noSuchMethod", GOOD), 401, "Unauthorized")
    assert_error(await post(gw, id_instance, token, "noSuchMethod", GOOD), 404, "Not Found")
    r = await gw.client.get(gw.path(id_instance, token, "sendMediaStatus"))
    assert_error(r, 404, "Not Found")
    # status access is checked before the body
    await instances.set_status_access(gw.ctx, id_instance, False)  # as `statusgate instance set` does
    await asyncio.sleep(0.6)  # the authenticator's cache lives 0.5 s
    assert_error(await post(gw, id_instance, token, "sendMediaStatus", {"bad": 1}), 403, "Forbidden")
    r = await gw.client.get(gw.path(id_instance, token, "getStatusStatistic"), params={"idMessage": "x"})
    assert_error(r, 403, "Forbidden")
    r = await gw.client.get(gw.path(id_instance, token, "getStateInstance"))
    assert r.status_code == 200  # only status methods are gated


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'urlFile' is required"),
        ({"urlFile": 5, "fileName": "a.jpg"}, "'urlFile' must be a string"),
        ({"urlFile": "", "fileName": "a.jpg"}, "'urlFile' is not allowed to be empty"),
        (
            {"urlFile": "ftp://x/a.jpg", "fileName": "a.jpg"},
            "'urlFile' has an invalid format (must be an http:// or https:// link)",
        ),
        ({"urlFile": "https://x.example/a.jpg"}, "'fileName' is required"),
        ({"urlFile": "https://x.example/a", "fileName": "a.txt"}, None),
        (
            {"urlFile": "https://x.example/a", "fileName": "\ufeffa.jpg"},
            "'fileName' has an invalid format (UTF-8 text must not start with a byte-order mark)",
        ),
        ({**GOOD, "caption": 7}, "'caption' must be a string"),
        (
            {**GOOD, "caption": "x" * 1025},
            "'caption' length must be less than or equal to 1024 characters long",
        ),
        ({**GOOD, "participants": "79990000001@c.us"}, "'participants' must be an array"),
        (
            {**GOOD, "participants": ["79990000001@c.us", "+7999"]},
            "'participants[1]' has an invalid format (must look like 79001234567@c.us)",
        ),
        (
            {**GOOD, "participants": ["120363043968066561@g.us"]},
            "'participants[0]' has an invalid format (must look like 79001234567@c.us)",
        ),
        ({**GOOD, "participants": [5]}, "'participants[0]' must be a string"),
        (
            {**GOOD, "participants": ["7999000000%d@c.us" % i for i in range(10)] * 103},
            "'participants' must contain less than or equal to 1024 items",
        ),
        ({**GOOD, "colour": "red"}, "'colour' is not allowed"),
        ([GOOD], "'value' must be an object"),
        ({"urlFile": "http://127.0.0.1/a.jpg", "fileName": "a.jpg"}, None),
        ({"urlFile": "http://localhost:8080/a.jpg", "fileName": "a.jpg"}, None),
        ({"urlFile": "http://[::ffff:127.0.0.1]/a.jpg", "fileName": "a.jpg"}, None),
        ({"urlFile": "http://169.254.169.254/latest/meta-data.jpg", "fileName": "a.jpg"}, None),
    ],
)
async def test_send_media_status_validation(gw: Gateway, body: Any, message: str | None) -> None:
    id_instance, token = await gw.create_instance()
    r = await post(gw, id_instance, token, "sendMediaStatus", body)
    assert r.status_code == 400, r.text
    text = r.json()["message"]
    assert text.startswith("Validation failed. Details: ")
    if message is not None:
        assert text == "Validation failed. Details: " + message
    else:
        assert "'urlFile'" in text or "'fileName'" in text


async def test_not_json_and_too_large(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings(max_body_bytes=2048))
    id_instance, token = await gw.create_instance()
    r = await post(gw, id_instance, token, "sendMediaStatus", raw=b"{not json")
    assert_error(r, 400, "Validation failed. Details: body is not valid JSON")
    r = await post(gw, id_instance, token, "sendMediaStatus", raw=b"")
    assert_error(r, 400, "Validation failed. Details: 'urlFile' is required")
    big = {**GOOD, "caption": "x" * 1000, "participants": ["79990000001@c.us"] * 100}
    assert_error(await post(gw, id_instance, token, "sendMediaStatus", big), 413, "Payload Too Large")


async def test_limits_are_settings(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(
        make_settings(max_caption_chars=10, max_participants=2, max_file_name_chars=12, max_url_chars=40)
    )
    id_instance, token = await gw.create_instance()
    ok = await post(gw, id_instance, token, "sendMediaStatus", {**GOOD, "caption": "x" * 10})
    assert ok.status_code == 200
    r = await post(gw, id_instance, token, "sendMediaStatus", {**GOOD, "caption": "x" * 11})
    assert r.json()["message"].endswith("'caption' length must be less than or equal to 10 characters long")
    r = await post(
        gw, id_instance, token, "sendMediaStatus", {**GOOD, "participants": ["79990000001@c.us"] * 3}
    )
    assert r.json()["message"].endswith("'participants' must contain less than or equal to 2 items")
    r = await post(gw, id_instance, token, "sendMediaStatus", {**GOOD, "fileName": "abcdefghi.jpg"})
    assert r.json()["message"].endswith("'fileName' length must be less than or equal to 12 characters long")
    r = await post(
        gw, id_instance, token, "sendMediaStatus", {**GOOD, "urlFile": "https://media.example/" + "a" * 30}
    )
    assert r.json()["message"].endswith("'urlFile' length must be less than or equal to 40 characters long")


async def test_method_names_are_case_insensitive(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    for name in ("getStateInstance", "GetStateInstance", "GETSTATEINSTANCE", "getstateinstance"):
        r = await gw.client.get(gw.path(id_instance, token, name))
        assert r.json() == {"stateInstance": "authorized"}


async def test_settings_round_trip_and_validation(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    settings = (await gw.client.get(gw.path(id_instance, token, "getSettings"))).json()
    assert settings["delaySendMessagesMilliseconds"] == 500  # the test default
    for key in (
        "outgoingWebhook",
        "outgoingAPIMessageWebhook",
        "outgoingMessageWebhook",
        "incomingWebhook",
        "stateWebhook",
    ):
        assert settings[key] == "yes"
    assert settings["webhookUrl"] == "" and settings["wid"].endswith("@c.us")
    settings["delaySendMessagesMilliseconds"] = 1500
    settings["keepOnlineStatus"] = "yes"
    assert (await post(gw, id_instance, token, "setSettings", settings)).json() == {"saveSettings": True}
    again = (await gw.client.get(gw.path(id_instance, token, "getSettings"))).json()
    assert again["delaySendMessagesMilliseconds"] == 1500 and again["keepOnlineStatus"] == "yes"
    cases = [
        ({}, "'value' must have at least 1 key"),
        ({"noSuchKey": "yes"}, "'noSuchKey' is not allowed"),
        (
            {"delaySendMessagesMilliseconds": 100},
            "'delaySendMessagesMilliseconds' must be greater than or equal to 500",
        ),
        (
            {"delaySendMessagesMilliseconds": 600001},
            "'delaySendMessagesMilliseconds' must be less than or equal to 600000",
        ),
        ({"delaySendMessagesMilliseconds": "3000"}, "'delaySendMessagesMilliseconds' must be an integer"),
        ({"outgoingWebhook": "maybe"}, "'outgoingWebhook' has an invalid format (must be one of [yes, no])"),
        ({"outgoingWebhook": True}, "'outgoingWebhook' must be a string"),
    ]
    for body, message in cases:
        r = await post(gw, id_instance, token, "setSettings", body)
        assert_error(r, 400, "Validation failed. Details: " + message)


async def test_account_methods(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance(authorized=False)
    await gw.ctx.sandbox.import_contacts(
        id_instance,
        [
            ImportedContact("79990000001@c.us", "Ann", "Ann W", True),
            ImportedContact("79990000002@c.us", "Bo", "", False),
        ],
    )

    async def get(method: str, **params: Any) -> httpx.Response:
        return await gw.client.get(gw.path(id_instance, token, method), params=params)

    assert (await get("getStateInstance")).json() == {"stateInstance": "notAuthorized"}
    qr = (await get("qr")).json()
    assert qr["type"] == "qrCode"
    Image.open(io.BytesIO(base64.b64decode(qr["message"]))).verify()
    assert_error(await get("getContacts"), 400, "instance is starting or not authorized")
    assert_error(
        await post(gw, id_instance, token, "checkWhatsapp", {"phoneNumber": 79990000001}),
        400,
        "instance is starting or not authorized",
    )
    await gw.ctx.sandbox.scan(id_instance)
    assert (await get("getStateInstance")).json() == {"stateInstance": "authorized"}
    assert (await get("qr")).json() == {
        "type": "alreadyLogged",
        "message": "instance account already authorized",
    }
    contacts = (await get("getContacts")).json()
    assert contacts == [
        {"id": "79990000001@c.us", "name": "Ann", "contactName": "Ann W", "type": "user"},
        {"id": "79990000002@c.us", "name": "Bo", "contactName": "", "type": "user"},
    ]
    assert len((await get("getContacts", count=1)).json()) == 1
    assert (await get("getContacts", group="true")).json() == []

    async def check(body: Any) -> httpx.Response:
        return await post(gw, id_instance, token, "checkWhatsapp", body)  # type: ignore[no-any-return]

    assert (await check({"phoneNumber": 79990000002})).json() == {"existsWhatsapp": True}
    assert (await check({"chatId": "79990000404@c.us"})).json() == {"existsWhatsapp": False}
    assert_error(await check({}), 400, "Validation failed. Details: 'value' must have at least 1 key")
    assert_error(
        await check({"phoneNumber": "7999"}),
        400,
        "Validation failed. Details: 'phoneNumber' must be an integer",
    )
    assert_error(
        await check({"phoneNumber": 123456789}),
        400,
        "Validation failed. Details: bad phone number, valid from 11 to 16 digits",
    )
    assert (await get("reboot")).json() == {"isReboot": True}
    assert (await get("getStateInstance")).json() == {"stateInstance": "starting"}
    for _ in range(100):
        if (await get("getStateInstance")).json() == {"stateInstance": "authorized"}:
            break
        await asyncio.sleep(0.05)
    assert (await get("getStateInstance")).json() == {"stateInstance": "authorized"}
    assert (await get("logout")).json() == {"isLogout": True}
    assert (await get("getStateInstance")).json() == {"stateInstance": "notAuthorized"}
    assert (await get("qr")).json()["type"] == "qrCode"


async def test_update_api_token(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    new = (await gw.client.get(gw.path(id_instance, token, "updateApiToken"))).json()["apiTokenInstance"]
    assert len(new) == 50 and new != token and new == new.lower()
    assert (await gw.client.get(gw.path(id_instance, new, "getStateInstance"))).status_code == 200
    assert_error(await gw.client.get(gw.path(id_instance, token, "getStateInstance")), 401, "Unauthorized")


async def test_statistic_of_unknown_status_is_empty(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    r = await gw.client.get(
        gw.path(id_instance, token, "getStatusStatistic"), params={"idMessage": "3EB0NOPE"}
    )
    assert r.status_code == 200 and r.json() == []
    r = await gw.client.get(gw.path(id_instance, token, "getStatusStatistic"))
    assert_error(r, 400, "Validation failed. Details: 'idMessage' is required")


async def test_health_and_unknown_paths(gw: Gateway) -> None:
    r = await gw.client.get("/health")
    assert r.json() == {"status": "ok", "database": True, "worker": True}
    r = await gw.client.get("/nothing/here")
    assert r.status_code == 404 and r.json()["message"] == "Not Found"


async def test_messages_count_counts_past_what_show_messages_queue_lists(
    start_gateway: Any, make_settings: Any
) -> None:
    gw: Gateway = await start_gateway(make_settings(queue_list_limit=2))
    id_instance, token = await gw.create_instance(authorized=False)
    for n in range(3):
        r = await gw.client.post(gw.path(id_instance, token, "sendTextStatus"), json={"message": f"s{n}"})
        assert r.status_code == 200, r.text
    listed = await gw.client.get(gw.path(id_instance, token, "showMessagesQueue"))
    assert len(listed.json()) == 2
    count = await gw.client.get(gw.path(id_instance, token, "getMessagesCount"))
    assert count.json() == {"count": 3}
