"""Text, voice, delete, journals, receipts and engine faults, in-process against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from statusgate.engines.sandbox_network import ImportedContact
from tests.conftest import Gateway
from tests.integration.test_send_media_status import poll, statistic, status_row
from tests.support import FileServer, jpeg_bytes, wav_bytes

BOOK = [
    ImportedContact("79990000001@c.us", "Ann", "Ann W", True),
    ImportedContact("79990000002@c.us", "Bob", "Bob K", True),
    ImportedContact("79990000003@c.us", "Cy", "", True),
]


@pytest.fixture
def files() -> Any:
    with FileServer() as server:
        yield server


@pytest.fixture
async def gw(start_gateway: Any, make_settings: Any) -> Gateway:
    gateway: Gateway = await start_gateway(
        make_settings(
            send_retry_base_seconds=0.05,
            send_retry_cap_seconds=0.1,
            engine_timeout_seconds=1,
            # every attempt waits the instance's delay: short, so the nine attempts of test_engine_faults
            # do not wait 4.5 s
            delay_default_ms=20,
        )
    )
    return gateway


async def setup(gw: Gateway, authorized: bool = True) -> tuple[int, str]:
    id_instance, token = await gw.create_instance(authorized=authorized)
    await gw.ctx.sandbox.import_contacts(id_instance, BOOK)
    return id_instance, token


async def post(gw: Gateway, ids: tuple[int, str], method: str, body: Any) -> Any:
    return await gw.client.post(gw.path(ids[0], ids[1], method), json=body)


async def outgoing(gw: Gateway, ids: tuple[int, str], **params: Any) -> list[dict[str, Any]]:
    r = await gw.client.get(gw.path(ids[0], ids[1], "getOutgoingStatuses"), params=params)
    assert r.status_code == 200, r.text
    result: list[dict[str, Any]] = r.json()
    return result


async def test_text_status_goes_out_and_is_journaled(gw: Gateway) -> None:
    ids = await setup(gw)
    r = await post(
        gw, ids, "sendTextStatus", {"message": "hello", "backgroundColor": "#228B22", "font": "SERIF"}
    )
    id_message = r.json()["idMessage"]
    rows = await poll(lambda: statistic(gw, *ids, id_message), what="sent")
    assert sorted(row["participant"] for row in rows) == ["79990000001@c.us", "79990000002@c.us"]
    items = await outgoing(gw, ids)
    item = next(i for i in items if i["idMessage"] == id_message)
    own = await gw.ctx.sandbox.account(ids[0])
    assert item["type"] == "outgoing"
    assert item["typeMessage"] == "extendedTextMessage"
    assert item["chatId"] == own.wid
    assert item["textMessage"] == "hello"
    assert item["extendedTextMessage"] == {
        "text": "hello",
        "backgroundColor": "#228B22",
        "font": "SERIF",
        "participants": [],
    }
    assert item["statusMessage"] in ("sent", "delivered")
    assert item["sendByApi"] is True
    assert item["skippedParticipants"] == []
    assert isinstance(item["timestamp"], int)
    defaults = await post(gw, ids, "sendTextStatus", {"message": "plain"})
    await poll(lambda: statistic(gw, *ids, defaults.json()["idMessage"]), what="sent")
    plain = next(i for i in await outgoing(gw, ids) if i["idMessage"] == defaults.json()["idMessage"])
    assert plain["extendedTextMessage"]["backgroundColor"] == "#000000"
    assert plain["extendedTextMessage"]["font"] == "SANS_SERIF"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'message' is required"),
        ({"message": ""}, "'message' is not allowed to be empty"),
        ({"message": 5}, "'message' must be a string"),
        ({"message": "x" * 501}, "'message' length must be less than or equal to 500 characters long"),
        (
            {"message": "x", "backgroundColor": "green"},
            "'backgroundColor' has an invalid format (a colour like #228B22)",
        ),
        (
            {"message": "x", "backgroundColor": "#12345"},
            "'backgroundColor' has an invalid format (a colour like #228B22)",
        ),
        (
            {"message": "x", "font": "COMIC_SANS"},
            "'font' has an invalid format (must be one of [SERIF, SANS_SERIF, NORICAN_REGULAR, BRYNDAN_WRITE, OSWALD_HEAVY])",
        ),
        (
            {"message": "x", "participants": ["123@g.us"]},
            "'participants[0]' has an invalid format (must look like 79001234567@c.us)",
        ),
        ({"message": "x", "linkPreview": True}, "'linkPreview' is not allowed"),
    ],
)
async def test_text_status_validation(gw: Gateway, body: Any, message: str) -> None:
    ids = await setup(gw)
    r = await post(gw, ids, "sendTextStatus", body)
    assert r.status_code == 400
    assert r.json()["message"] == "Validation failed. Details: " + message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"fileName": "a.mp3"}, "'urlFile' is required"),
        (
            {"urlFile": "http://127.0.0.1:1/a.jpg", "fileName": "a.jpg"},
            "'fileName' has an invalid format (the extension must be one of m4a, mp3, ogg, opus, wav)",
        ),
        (
            {"urlFile": "http://127.0.0.1:1/a.mp3", "fileName": "a.mp3", "caption": "x"},
            "'caption' is not allowed",
        ),
        (
            {"urlFile": "http://127.0.0.1:1/a.mp3", "fileName": "a.mp3", "backgroundColor": 3},
            "'backgroundColor' must be a string",
        ),
    ],
)
async def test_voice_status_validation(gw: Gateway, body: Any, message: str) -> None:
    ids = await setup(gw)
    r = await post(gw, ids, "sendVoiceStatus", body)
    assert r.status_code == 400
    assert r.json()["message"] == "Validation failed. Details: " + message


async def test_voice_status(gw: Gateway, files: FileServer) -> None:
    ids = await setup(gw)
    url = files.add("/v.wav", wav_bytes(), "audio/wav")
    r = await post(
        gw, ids, "sendVoiceStatus", {"urlFile": url, "fileName": "v.wav", "backgroundColor": "#112233"}
    )
    id_message = r.json()["idMessage"]
    await poll(lambda: statistic(gw, *ids, id_message), what="sent")
    item = next(i for i in await outgoing(gw, ids) if i["idMessage"] == id_message)
    assert item["typeMessage"] == "audioMessage"
    assert item["backgroundColor"] == "#112233"
    assert item["mimeType"].startswith("audio/")
    download = await gw.client.get(item["downloadUrl"].removeprefix("http://127.0.0.1:9"))
    assert download.status_code == 200
    assert len(download.content) > 0


async def test_delete_queued_and_sent(gw: Gateway, files: FileServer) -> None:
    ids = await setup(gw, authorized=False)
    url = files.add("/p.jpg", jpeg_bytes())
    queued = (await post(gw, ids, "sendMediaStatus", {"urlFile": url, "fileName": "p.jpg"})).json()[
        "idMessage"
    ]
    r = await post(gw, ids, "deleteStatus", {"idMessage": queued})
    assert r.status_code == 200
    assert r.content == b""
    assert (await gw.client.get(gw.path(*ids, "showMessagesQueue"))).json() == []
    again = await post(gw, ids, "deleteStatus", {"idMessage": queued})
    assert again.status_code == 400
    assert again.json()["message"] == "ID message notfound"
    unknown = await post(gw, ids, "deleteStatus", {"idMessage": "3EB0000000000000DEAD"})
    assert unknown.json()["message"] == "ID message notfound"
    assert (await post(gw, ids, "deleteStatus", {})).json()[
        "message"
    ] == "Validation failed. Details: 'idMessage' is required"

    await gw.ctx.sandbox.scan(ids[0])
    sent = (await post(gw, ids, "sendMediaStatus", {"urlFile": url, "fileName": "p.jpg"})).json()["idMessage"]
    await poll(lambda: statistic(gw, *ids, sent), what="sent")
    assert queued not in [i["idMessage"] for i in await outgoing(gw, ids)]
    await gw.ctx.sandbox.logout(ids[0])
    refused = await post(gw, ids, "deleteStatus", {"idMessage": sent})
    assert refused.json()["message"] == "instance is starting or not authorized"
    await gw.ctx.sandbox.scan(ids[0])
    assert (await post(gw, ids, "deleteStatus", {"idMessage": sent})).status_code == 200
    assert await gw.ctx.sandbox.revoked(ids[0], sent)
    assert sent not in [i["idMessage"] for i in await outgoing(gw, ids)]
    assert len(await statistic(gw, *ids, sent)) == 2  # history is kept
    assert await statistic(gw, *ids, queued) == []


async def test_delete_while_sending_revokes_when_the_send_ends(gw: Gateway, files: FileServer) -> None:
    ids = await setup(gw)
    await gw.ctx.sandbox.add_fault(ids[0], "timeout", 1)  # the first attempt hangs until the engine timeout
    url = files.add("/p.jpg", jpeg_bytes())
    id_message = (await post(gw, ids, "sendMediaStatus", {"urlFile": url, "fileName": "p.jpg"})).json()[
        "idMessage"
    ]

    async def sending() -> bool:
        row = await status_row(gw, ids[0], id_message)
        return row is not None and row.state.value == "sending"

    await poll(sending, what="send in flight")
    assert (await post(gw, ids, "deleteStatus", {"idMessage": id_message})).status_code == 200

    async def deleted() -> bool:
        row = await status_row(gw, ids[0], id_message)
        return row is not None and row.state.value == "deleted"

    await poll(deleted, what="deleted after the send ended")
    assert await gw.ctx.sandbox.deliveries(ids[0], id_message) == []


async def test_receipts_move_forward_only(gw: Gateway, files: FileServer) -> None:
    ids = await setup(gw)
    url = files.add("/p.jpg", jpeg_bytes())
    id_message = (await post(gw, ids, "sendMediaStatus", {"urlFile": url, "fileName": "p.jpg"})).json()[
        "idMessage"
    ]

    async def all_delivered() -> bool:
        rows = await statistic(gw, *ids, id_message)
        return len(rows) == 2 and all(r["status"] == "delivered" for r in rows)

    await poll(all_delivered, what="delivered")
    await gw.ctx.sandbox.view(ids[0], id_message, "79990000002@c.us")

    async def read() -> Any:
        rows = {r["participant"]: r["status"] for r in await statistic(gw, *ids, id_message)}
        return rows if rows["79990000002@c.us"] == "read" else None

    rows = await poll(read, what="read")
    assert rows == {"79990000001@c.us": "delivered", "79990000002@c.us": "read"}
    # a late `delivered` for someone who has read it keeps `read`
    from statusgate.domain.states import ReceiptStatus
    from statusgate.store import recipients

    row = await status_row(gw, ids[0], id_message)
    assert row is not None
    moved = await gw.ctx.db.write(
        recipients.apply_receipt, row.seq, "79990000002@c.us", ReceiptStatus.DELIVERED, 1e10
    )
    assert moved is False
    item = next(i for i in await outgoing(gw, ids) if i["idMessage"] == id_message)
    assert item["statusMessage"] == "read"


async def test_engine_faults(gw: Gateway, files: FileServer) -> None:
    ids = await setup(gw)
    url = files.add("/p.jpg", jpeg_bytes())
    await gw.ctx.sandbox.add_fault(ids[0], "transient", 2)
    ok = (await post(gw, ids, "sendMediaStatus", {"urlFile": url, "fileName": "p.jpg"})).json()["idMessage"]
    await poll(lambda: statistic(gw, *ids, ok), what="sent after two transient faults")
    row = await status_row(gw, ids[0], ok)
    assert row is not None
    assert row.attempts == 3

    await gw.ctx.sandbox.add_fault(ids[0], "permanent", 1)
    rejected = (await post(gw, ids, "sendMediaStatus", {"urlFile": url, "fileName": "p.jpg"})).json()[
        "idMessage"
    ]

    async def rejected_failed() -> bool:
        row = await status_row(gw, ids[0], rejected)
        return row is not None and row.state.value == "failed"

    await poll(rejected_failed, what="permanent fault")  # a new fault replaces the pending one
    await gw.ctx.sandbox.add_fault(ids[0], "transient", 10)
    exhausted = (await post(gw, ids, "sendMediaStatus", {"urlFile": url, "fileName": "p.jpg"})).json()[
        "idMessage"
    ]

    async def both_failed() -> Any:
        items = {i["idMessage"]: i for i in await outgoing(gw, ids)}
        pair = items.get(rejected), items.get(exhausted)
        return pair if all(p and p["statusMessage"] == "failed" for p in pair) else None

    first, second = await poll(both_failed, what="both failed")
    assert "rejected" in first["description"]
    assert "gave up after 5 attempts" in second["description"]
    assert await gw.ctx.sandbox.deliveries(ids[0], rejected) == []


async def test_incoming_statuses(gw: Gateway, tmp_path: Any) -> None:
    from statusgate.engines.sandbox_network import SandboxError
    from statusgate.services import sandbox

    ids = await setup(gw)
    text_id = await sandbox.post_text(gw.ctx, ids[0], "79990000001@c.us", "Good day!", "#228B22", "SERIF")
    picture = tmp_path / "pic.jpg"
    picture.write_bytes(jpeg_bytes())
    media_id = await sandbox.post_media(gw.ctx, ids[0], "79990000002@c.us", picture, "look")
    with pytest.raises(SandboxError):
        await sandbox.post_text(gw.ctx, ids[0], "79990000404@c.us", "stranger", "#000000", "SERIF")

    async def both() -> Any:
        r = await gw.client.get(gw.path(*ids, "getIncomingStatuses"))
        items = r.json()
        return items if len(items) == 2 else None

    text, image = await poll(both, what="incoming statuses")
    assert text == {
        "type": "incoming",
        "idMessage": text_id,
        "timestamp": text["timestamp"],
        "typeMessage": "extendedTextMessage",
        "chatId": "79990000001@c.us",
        "senderId": "79990000001@c.us",
        "senderName": "Ann",
        "senderContactName": "Ann W",
        "textMessage": "Good day!",
        "extendedTextMessage": {"text": "Good day!", "backgroundColor": "#228B22", "font": "SERIF"},
    }
    assert image["idMessage"] == media_id
    assert image["typeMessage"] == "imageMessage"
    assert image["caption"] == "look"
    assert image["mimeType"] == "image/jpeg"
    assert (await gw.client.get(image["downloadUrl"].removeprefix("http://127.0.0.1:9"))).status_code == 200
    r = await gw.client.get(gw.path(*ids, "getIncomingStatuses"), params={"minutes": "abc"})
    assert r.json()["message"] == "Validation failed. Details: 'minutes' must be an integer"


async def test_status_access_off_gates_every_status_method(gw: Gateway) -> None:
    import asyncio

    from statusgate.services import instances

    ids = await setup(gw)
    await instances.set_status_access(gw.ctx, ids[0], False)
    await asyncio.sleep(0.6)
    for method, verb in [
        ("sendTextStatus", "POST"),
        ("sendVoiceStatus", "POST"),
        ("sendMediaStatus", "POST"),
        ("deleteStatus", "POST"),
        ("getStatusStatistic", "GET"),
        ("getIncomingStatuses", "GET"),
        ("getOutgoingStatuses", "GET"),
    ]:
        r = await gw.client.request(verb, gw.path(*ids, method), json={} if verb == "POST" else None)
        assert r.status_code == 403, method
        assert r.json()["message"] == "Forbidden"
