"""Issue 9's findings, in-process: every input an adversarial run used to turn into a 500 (or a silently
broken instance) gets a Green-shaped answer naming the field, and what was stored badly before is tolerated.

Each test names its finding (F1…F11, or the bullet it covers).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import sqlalchemy as sa

from statusgate.domain.notifications import InstanceStateChanged
from statusgate.domain.states import InstanceState
from statusgate.engines.sandbox_network import ImportedContact
from statusgate.store import notifications
from statusgate.store.schema.instances import instances as instances_table
from statusgate.store.schema.media import uploads as uploads_table
from statusgate.store.schema.notifications import notifications as notifications_table
from tests.conftest import Gateway
from tests.support import jpeg_bytes

TOKEN_LIKE = "0" * 50


@pytest.fixture
async def gw(start_gateway: Any, make_settings: Any) -> Gateway:
    gateway: Gateway = await start_gateway(make_settings(allow_private_urls=False))
    return gateway


def green_error(response: httpx.Response, status: int, message: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert set(body) == {"statusCode", "timestamp", "path", "message"}, body
    assert body["statusCode"] == status
    if message is not None:
        assert body["message"] == message, body["message"]
    return body


async def stored_settings(gw: Gateway, id_instance: int) -> dict[str, Any]:
    """The settings' JSON as stored (what an earlier release wrote there is what these tests emulate)."""

    def read(conn: sa.Connection) -> dict[str, Any]:
        table = instances_table
        stored = conn.scalar(sa.select(table.c.settings).where(table.c.id_instance == id_instance))
        assert stored is not None
        return dict(stored)

    return await gw.ctx.db.read(read)


async def store_settings(gw: Gateway, id_instance: int, stored: dict[str, Any]) -> None:
    def write(conn: sa.Connection) -> None:
        table = instances_table
        conn.execute(table.update().where(table.c.id_instance == id_instance).values(settings=stored))

    await gw.ctx.db.write(write)


async def until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {check}")


# --- F1: nesting --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sendTextStatus", "sendMediaStatus", "setSettings", "checkWhatsapp"])
async def test_f1_deeply_nested_json_is_a_validation_error(gw: Gateway, method: str) -> None:
    id_instance, token = await gw.create_instance()
    for opening, closing in (("[", "]"), ('{"a":', "}")):
        body = (opening * 5000 + "1" + closing * 5000).encode()
        response = await gw.client.post(
            gw.path(id_instance, token, method), content=body, headers={"Content-Type": "application/json"}
        )
        green_error(response, 400, "Validation failed. Details: body is nested too deeply")


async def test_numbers_python_will_not_convert_are_refused(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    huge = b'{"message": "x", "font": ' + b"9" * 5000 + b"}"
    response = await gw.client.post(gw.path(id_instance, token, "sendTextStatus"), content=huge)
    green_error(response, 400, "Validation failed. Details: body is not valid JSON")
    response = await gw.client.post(
        gw.path(id_instance, token, "setSettings"), content=b'{"delaySendMessagesMilliseconds": 1e999}'
    )
    green_error(
        response, 400, "Validation failed. Details: 'delaySendMessagesMilliseconds' must be an integer"
    )


# --- F2, F3: instance ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_id",
    [
        "9223372036854775808",  # 2**63: past SQLite's integers (F2)
        "%C2%B2",  # superscript two: isdigit() but not int() (F3)
    ],
)
async def test_f2_f3_odd_instance_ids_are_forbidden(gw: Gateway, raw_id: str) -> None:
    _id, token = await gw.create_instance()
    response = await gw.client.get(f"/waInstance{raw_id}/getStateInstance/{token}")
    green_error(response, 403, "Forbidden")


async def test_f3_the_real_id_in_fullwidth_digits_is_not_the_instance(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in str(id_instance))
    assert int(fullwidth) == id_instance  # what made it work before
    response = await gw.client.get(f"/waInstance{fullwidth}/getStateInstance/{token}")
    green_error(response, 403, "Forbidden")
    assert (await gw.client.get(gw.path(id_instance, token, "getStateInstance"))).status_code == 200


# --- F3, F4: query numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "param"),
    [
        ("getOutgoingStatuses", "minutes"),
        ("getIncomingStatuses", "minutes"),
        ("getContacts", "count"),
        ("receiveNotification", "receiveTimeout"),
    ],
)
@pytest.mark.parametrize("value", ["²", "١٢", "１２"])
async def test_f3_query_numbers_are_ascii_digits(gw: Gateway, method: str, param: str, value: str) -> None:
    id_instance, token = await gw.create_instance()
    response = await gw.client.get(gw.path(id_instance, token, method), params={param: value})
    green_error(response, 400, f"Validation failed. Details: '{param}' must be an integer")


@pytest.mark.parametrize("value", ["1.5", "0x10", " 7", "7 ", "+7"])
async def test_other_non_integers_stay_refused(gw: Gateway, value: str) -> None:
    method, param = "getOutgoingStatuses", "minutes"
    id_instance, token = await gw.create_instance()
    response = await gw.client.get(gw.path(id_instance, token, method), params={param: value})
    green_error(response, 400, f"Validation failed. Details: '{param}' must be an integer")


async def test_f4_huge_minutes_mean_everything_kept(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    sent = await gw.client.post(gw.path(id_instance, token, "sendTextStatus"), json={"message": "hi"})
    assert sent.status_code == 200
    for method in ("getOutgoingStatuses", "getIncomingStatuses"):
        response = await gw.client.get(gw.path(id_instance, token, method), params={"minutes": "9" * 400})
        assert response.status_code == 200, response.text
        assert isinstance(response.json(), list)
    response = await gw.client.get(
        gw.path(id_instance, token, "getOutgoingStatuses"), params={"minutes": "9" * 400}
    )
    assert [item["idMessage"] for item in response.json()] == [sent.json()["idMessage"]]
    response = await gw.client.get(gw.path(id_instance, token, "getContacts"), params={"count": "9" * 400})
    assert response.status_code == 200, response.text
    response = await gw.client.get(
        gw.path(id_instance, token, "receiveNotification"), params={"receiveTimeout": "9" * 400}
    )
    green_error(response, 400, "Validation failed. Details: 'receiveTimeout' must be from 5 to 60 seconds")
    response = await gw.client.get(
        gw.path(id_instance, token, "getOutgoingStatuses"), params={"minutes": "-5"}
    )
    green_error(response, 400, "Validation failed. Details: 'minutes' must be greater than or equal to 1")


# --- F3, F5: receipt ids ------------------------------------------------------------------------------------


async def test_f3_f5_receipt_ids(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    await gw.ctx.db.write(
        notifications.journal, InstanceStateChanged(id_instance, InstanceState.STARTING, time.time())
    )
    base = gw.path(id_instance, token, "deleteNotification")
    for huge in ("9223372036854775808", "9" * 400):
        response = await gw.client.delete(f"{base}/{huge}")
        assert response.status_code == 200, response.text
        assert response.json() == {"result": False, "reason": "notification not found"}
    for odd in ("١", "%C2%B2", "１"):
        response = await gw.client.delete(f"{base}/{odd}")
        green_error(response, 400, "Validation failed. Details: 'receiptId' must be an integer")
    # `١` used to delete notification 1; it is still there
    assert await gw.ctx.db.read(notifications.count, id_instance) == 1
    response = await gw.client.delete(f"{base}/1")
    assert response.json() == {"result": True, "reason": ""}


# --- F6: malformed hosts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/p.jpg",
        "http://[zz::1]/p.jpg",
        "http://xn--/p.jpg",
        "http://a..b/p.jpg",
        "http://host:99999/p.jpg",
        "http://host:0/p.jpg",
        "http://%zz/p.jpg",
        "http://\u2028/p.jpg",
        "http://" + "a" * 64 + ".example/p.jpg",
        "http://user@/p.jpg",
    ],
)
async def test_f6_malformed_hosts_are_invalid_urls(gw: Gateway, url: str) -> None:
    id_instance, token = await gw.create_instance()
    for method, body in (
        ("sendMediaStatus", {"urlFile": url, "fileName": "p.jpg"}),
        ("sendVoiceStatus", {"urlFile": url, "fileName": "p.mp3"}),
    ):
        response = await gw.client.post(gw.path(id_instance, token, method), json=body)
        message = green_error(response, 400)["message"]
        assert message.startswith("Validation failed. Details: 'urlFile' has an invalid format ("), message
    response = await gw.client.post(gw.path(id_instance, token, "setSettings"), json={"webhookUrl": url})
    message = green_error(response, 400)["message"]
    assert message.startswith("Validation failed. Details: 'webhookUrl' has an invalid format ("), message


async def test_private_url_refusal_names_the_setting_a_user_sets(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    body = {"urlFile": "http://127.0.0.1/p.jpg", "fileName": "p.jpg"}
    response = await gw.client.post(gw.path(id_instance, token, "sendMediaStatus"), json=body)
    message = green_error(response, 400)["message"]
    assert "STATUSGATE_ALLOW_PRIVATE_URLS=true" in message and "--allow-private-urls" in message, message
    assert "allow_private_urls setting" not in message


# --- F8: nulls in settings ----------------------------------------------------------------------------------


async def test_f8_null_settings_are_refused(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    settings = (await gw.client.get(gw.path(id_instance, token, "getSettings"))).json()
    writable = [key for key in settings if key not in ("wid", "countryInstance", "typeAccount")]
    writable = [key for key in writable if key not in ("sharedSession", "proxyInstance")]
    assert "delaySendMessagesMilliseconds" in writable and "webhookUrlToken" in writable
    for key in writable:
        response = await gw.client.post(gw.path(id_instance, token, "setSettings"), json={key: None})
        message = green_error(response, 400)["message"]
        assert message.startswith(f"Validation failed. Details: '{key}' must be a"), message
    assert (await gw.client.get(gw.path(id_instance, token, "getSettings"))).json() == settings


async def test_f8_nulls_stored_by_an_earlier_release_are_tolerated(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    stored = await stored_settings(gw, id_instance)

    def store_nulls(conn: sa.Connection) -> None:
        # what setSettings {"…": null} left behind before the fix
        broken = dict(stored) | {"delaySendMessagesMilliseconds": None, "outgoingWebhook": None}
        conn.execute(instances_table.update().values(settings=broken))

    await gw.ctx.db.write(store_nulls)
    await asyncio.sleep(0.6)  # the authenticator's cache
    settings = (await gw.client.get(gw.path(id_instance, token, "getSettings"))).json()
    assert None not in settings.values(), settings
    assert settings["delaySendMessagesMilliseconds"] == gw.ctx.settings.delay_default_ms
    sent = await gw.client.post(gw.path(id_instance, token, "sendTextStatus"), json={"message": "still sent"})
    id_message = sent.json()["idMessage"]

    async def delivered() -> bool:
        r = await gw.client.get(gw.path(id_instance, token, "getOutgoingStatuses"))
        return any(i["idMessage"] == id_message and i["statusMessage"] != "pending" for i in r.json())

    await until(delivered)


# --- F10: webhook tokens that cannot be a header --------------------------------------------------------------


@pytest.mark.parametrize("bad", ["été", "a\u2028b", "a\nb", "a\rb", " lead", "trail ", "nul\x00"])
async def test_f10_unsendable_webhook_tokens_are_refused(gw: Gateway, bad: str) -> None:
    id_instance, token = await gw.create_instance()
    response = await gw.client.post(
        gw.path(id_instance, token, "setSettings"),
        json={"webhookUrl": "https://hooks.example/x", "webhookUrlToken": bad},
    )
    message = green_error(response, 400)["message"]
    assert message.startswith("Validation failed. Details: 'webhookUrlToken' has an invalid format"), message


async def test_f10_a_stored_unsendable_token_postpones_instead_of_crashing(
    start_gateway: Any, make_settings: Any
) -> None:
    gw: Gateway = await start_gateway(make_settings(webhook_retry_seconds=30))
    id_instance, _token = await gw.create_instance()
    current = await stored_settings(gw, id_instance)
    # stored before setSettings checked it; the receiver is never reached, so any loopback port will do
    broken = dict(current) | {"webhookUrl": "http://127.0.0.1:9/hook", "webhookUrlToken": "été"}
    await store_settings(gw, id_instance, broken)
    await gw.ctx.db.write(
        notifications.journal, InstanceStateChanged(id_instance, InstanceState.STARTING, time.time())
    )
    gw.ctx.hub.wake({id_instance})

    async def postponed() -> Any:
        rows = await gw.ctx.db.read(notifications.oldest_n, id_instance, 1)
        return rows and rows[0].attempts > 0 and rows[0]

    row = await until(postponed)
    assert row.next_attempt_at > time.time() + 10  # waits the retry interval, no busy loop

    def last_error(conn: sa.Connection) -> str:
        table = notifications_table
        return str(conn.scalar(sa.select(table.c.last_error).where(table.c.instance_id == id_instance)))

    assert "webhookUrlToken" in await gw.ctx.db.read(last_error)


# --- F11: nothing active from /media/ -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "disposition"),
    [
        ("text/html", "attachment"),
        ("image/svg+xml", "attachment"),
        ("application/javascript", "attachment"),
        ("application/pdf", "attachment"),
        ("image/jpeg", "inline"),
        ("video/mp4", "inline"),
        ("audio/ogg", "inline"),
    ],
)
async def test_f11_media_is_never_active_content(gw: Gateway, content_type: str, disposition: str) -> None:
    id_instance, token = await gw.create_instance()
    response = await gw.client.post(
        gw.path(id_instance, token, "uploadFile"),
        content=b"<script>alert(document.domain)</script>",
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200, response.text
    link = httpx.URL(response.json()["urlFile"])
    for verb in ("GET", "HEAD"):
        served = await gw.client.request(verb, link.raw_path.decode())
        assert served.status_code == 200
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["content-security-policy"] == "sandbox"
        assert served.headers["content-disposition"].startswith(disposition + ";"), served.headers


async def test_f11_old_uploads_are_served_safely_too(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    response = await gw.client.post(
        gw.path(id_instance, token, "uploadFile"),
        content=b"<p>hi</p>",
        headers={"Content-Type": "text/plain"},
    )
    link = httpx.URL(response.json()["urlFile"])
    upload_id = link.path.split("/")[2]

    def as_an_old_release_stored_it(conn: sa.Connection) -> None:
        table = uploads_table
        conn.execute(table.update().where(table.c.upload_id == upload_id).values(mime_type="text/html"))

    await gw.ctx.db.write(as_an_old_release_stored_it)
    served = await gw.client.get(link.raw_path.decode())
    assert served.headers["content-disposition"].startswith("attachment;")
    assert served.headers["x-content-type-options"] == "nosniff"


# --- uploadFile as the JS SDK sends it -------------------------------------------------------------------------


async def test_upload_multipart_as_the_js_sdk_sends_it(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    await gw.ctx.sandbox.import_contacts(
        id_instance, [ImportedContact("79990000001@c.us", "Ann", "Ann", True)]
    )
    picture = jpeg_bytes()
    response = await gw.client.post(
        gw.path(id_instance, token, "uploadFile"), files={"file": ("holiday.jpg", picture, "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    link = response.json()["urlFile"]
    assert link.endswith("/holiday.jpg")
    served = await gw.client.get(httpx.URL(link).raw_path.decode())
    assert served.content == picture  # the file, not the multipart envelope
    assert served.headers["content-type"] == "image/jpeg"
    sent = await gw.client.post(
        gw.path(id_instance, token, "sendMediaStatus"), json={"urlFile": link, "fileName": "holiday.jpg"}
    )
    id_message = sent.json()["idMessage"]

    async def sent_ok() -> bool:
        r = await gw.client.get(gw.path(id_instance, token, "getOutgoingStatuses"))
        found = [i for i in r.json() if i["idMessage"] == id_message]
        assert not found or found[0]["statusMessage"] != "failed", found[0].get("description")
        return bool(found) and found[0]["statusMessage"] in ("sent", "delivered", "read")

    await until(sent_ok)


async def test_upload_multipart_with_extra_plain_fields(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    response = await gw.client.post(
        gw.path(id_instance, token, "uploadFile"),
        data={"note": "ignored"},
        files={"file": ("a.bin", b"\x00\x01payload", "application/octet-stream")},
    )
    assert response.status_code == 200, response.text
    served = await gw.client.get(httpx.URL(response.json()["urlFile"]).raw_path.decode())
    assert served.content == b"\x00\x01payload"


async def test_upload_multipart_with_non_latin1_header_bytes(gw: Gateway) -> None:
    """Raw UTF-8 in a part's headers (a field name, a file name) is taken as it came: schemathesis found a
    500 here, when the header was decoded as UTF-8 and the parser turned it back into Latin-1."""
    id_instance, token = await gw.create_instance()
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="y\u0096\U00094c94"\r\n\r\n{{}}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f\u00eate \U0001f389.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\npayload\r\n--{boundary}--\r\n"
    ).encode()
    response = await gw.client.post(
        gw.path(id_instance, token, "uploadFile"),
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 200, response.text
    link = httpx.URL(response.json()["urlFile"])
    assert unquote(link.raw_path.decode()).endswith("/f\u00eate \U0001f389.jpg"), link
    served = await gw.client.get(link.raw_path.decode())
    assert served.content == b"payload"


async def test_upload_refuses_an_empty_file(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    path = gw.path(id_instance, token, "uploadFile")
    raw = await gw.client.post(path, content=b"", headers={"Content-Type": "image/jpeg"})
    assert (
        green_error(raw, 400)["message"]
        == "Validation failed. Details: 'file' is required: the body is empty"
    )
    form = await gw.client.post(path, files={"file": ("a.jpg", b"", "image/jpeg")})
    assert "'file' is required: the body is empty" in green_error(form, 400)["message"]


async def test_upload_refuses_forms_without_exactly_one_file(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    path = gw.path(id_instance, token, "uploadFile")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"data": {"file": "not a file"}}, "'file' is required: a urlencoded form carries no file"),
        (
            {"data": {"note": "x"}, "files": {}, "headers": {"Content-Type": "multipart/form-data"}},
            "no boundary",
        ),
        ({"files": {"a": ("a.jpg", b"1"), "b": ("b.jpg", b"2")}}, "'file' must be a single file"),
    ]
    for kwargs, fragment in cases:
        response = await gw.client.post(path, **kwargs)
        message = green_error(response, 400)["message"]
        assert fragment in message, message
    boundary = "XyZ"
    only_fields = f'--{boundary}\r\nContent-Disposition: form-data; name="n"\r\n\r\nv\r\n--{boundary}--\r\n'
    response = await gw.client.post(
        path,
        content=only_fields.encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "no file part" in green_error(response, 400)["message"]
    truncated = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\nabc'
    response = await gw.client.post(
        path,
        content=truncated.encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "'file' is invalid" in green_error(response, 400)["message"]


# --- OPTIONS and CORS ---------------------------------------------------------------------------------------


async def test_options_answers_204_everywhere(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    for path in (gw.path(id_instance, token, "sendMediaStatus"), "/health", "/media/x/y.jpg", "/nothing"):
        response = await gw.client.options(path)
        assert response.status_code == 204, (path, response.text)
        assert response.content == b""
        assert "access-control-allow-origin" not in response.headers  # no origin is allowed by default


async def test_cors_for_allowed_origins(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(
        make_settings(cors_allowed_origins="https://app.example, https://b.example/")
    )
    id_instance, token = await gw.create_instance()
    path = gw.path(id_instance, token, "sendTextStatus")
    preflight = {"Origin": "https://b.example", "Access-Control-Request-Method": "POST"}
    response = await gw.client.options(
        path, headers=preflight | {"Access-Control-Request-Headers": "content-type"}
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "https://b.example"
    assert "POST" in response.headers["access-control-allow-methods"]
    response = await gw.client.options(path, headers=preflight | {"Origin": "https://evil.example"})
    assert response.status_code == 204
    assert "access-control-allow-origin" not in response.headers
    response = await gw.client.post(path, json={"message": "hi"}, headers={"Origin": "https://app.example"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()


# --- tokens never echoed ------------------------------------------------------------------------------------


async def test_f9_no_token_in_error_bodies_whatever_the_path(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    shapes = [
        f"/waInstance{id_instance}/getStateInstance//{token}",
        f"/waInstance{id_instance}//{token}",
        f"/waInstance{id_instance}/{token}",
        f"/wainstance{id_instance}/getStateInstance/{token}",
        f"/waInstance/{id_instance}/getStateInstance/{token}",
        f"/waInstance{id_instance}/getStateInstance/x/{token}",
        f"/waInstance{id_instance}/deleteNotification/{token}/{token}",
        f"/{token}",
        f"/media/{token}/x.jpg",
        f"/media/p/{token}/x.jpg",
    ] + [
        f"/waInstance{id_instance}/getStateInstance/{prefix}{token}"
        for prefix in ("'", '"', "%22", "%27", "%20")
    ]
    for path in shapes:
        verb = "DELETE" if "deleteNotification" in path else "GET"
        response = await gw.client.request(verb, path)
        assert response.status_code in (400, 401, 403, 404), (path, response.status_code)
        assert token not in response.text, (path, response.text)
        green_error(response, response.status_code)
