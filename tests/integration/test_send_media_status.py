"""sendMediaStatus end to end in-process: queue, preparation, audience, pacing, expiry, statistics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from statusgate.engines.sandbox_network import ImportedContact
from statusgate.store import outbox
from tests.conftest import Gateway
from tests.support import FileServer, jpeg_bytes


async def poll(check: Callable[[], Awaitable[Any]], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: last {last!r}")


async def status_row(gw: Gateway, id_instance: int, id_message: str) -> outbox.StatusRow | None:
    return await gw.ctx.db.read(outbox.get_by_message_id, id_instance, id_message)


def contact(n: int, named: bool = True, in_book: bool = True) -> ImportedContact:
    return ImportedContact(f"7999{n:07d}@c.us", f"User {n}", f"Contact {n}" if named else "", in_book)


async def statistic(gw: Gateway, id_instance: int, token: str, id_message: str) -> list[dict[str, Any]]:
    r = await gw.client.get(
        gw.path(id_instance, token, "getStatusStatistic"), params={"idMessage": id_message}
    )
    assert r.status_code == 200, r.text
    result: list[dict[str, Any]] = r.json()
    return result


@pytest.fixture
def files() -> Any:
    with FileServer() as server:
        yield server


async def test_status_reaches_first_1024_named_contacts(
    start_gateway: Any, make_settings: Any, files: FileServer
) -> None:
    gw: Gateway = await start_gateway(make_settings())
    id_instance, token = await gw.create_instance()
    # 1,100 named contacts with unnamed contacts and non-contacts mixed in
    book = []
    for n in range(1, 1401):
        if n % 10 == 3:
            book.append(contact(n, named=False))
        elif n % 10 == 7:
            book.append(contact(n, in_book=False))
        else:
            book.append(contact(n))
    await gw.ctx.sandbox.import_contacts(id_instance, book)
    named = [c.id for c in book if c.contact_name and c.in_address_book]
    assert len(named) > 1024
    url = files.add("/pic.jpg", jpeg_bytes())
    r = await gw.client.post(
        gw.path(id_instance, token, "sendMediaStatus"), json={"urlFile": url, "fileName": "pic.jpg"}
    )
    assert r.status_code == 200, r.text
    id_message = r.json()["idMessage"]
    assert id_message.startswith("3EB0") and len(id_message) == 20

    rows = await poll(lambda: statistic(gw, id_instance, token, id_message), what="statistics")
    assert sorted(row["participant"] for row in rows) == sorted(named[:1024])
    delivered = await gw.ctx.sandbox.deliveries(id_instance, id_message)
    assert sorted(r for _m, r in delivered) == sorted(named[:1024])


async def test_participants_skip_numbers_not_on_whatsapp(
    start_gateway: Any, make_settings: Any, files: FileServer
) -> None:
    gw: Gateway = await start_gateway(make_settings())
    id_instance, token = await gw.create_instance()
    await gw.ctx.sandbox.import_contacts(id_instance, [contact(1), contact(2), contact(3, named=False)])
    url = files.add("/p.jpg", jpeg_bytes())
    participants = ["79990000003@c.us", "79990000404@c.us", "79990000001@c.us"]
    r = await gw.client.post(
        gw.path(id_instance, token, "sendMediaStatus"),
        json={"urlFile": url, "fileName": "p.jpg", "caption": "hi", "participants": participants},
    )
    id_message = r.json()["idMessage"]
    rows = await poll(lambda: statistic(gw, id_instance, token, id_message), what="statistics")
    assert sorted(row["participant"] for row in rows) == ["79990000001@c.us", "79990000003@c.us"]
    row = await status_row(gw, id_instance, id_message)
    assert row is not None and row.skipped_participants == ["79990000404@c.us"]


async def test_waits_while_not_authorized_then_leaves_after_scan(
    start_gateway: Any, make_settings: Any, files: FileServer
) -> None:
    gw: Gateway = await start_gateway(make_settings())
    id_instance, token = await gw.create_instance(authorized=False)
    await gw.ctx.sandbox.import_contacts(id_instance, [contact(1)])
    url = files.add("/p.jpg", jpeg_bytes())
    r = await gw.client.post(
        gw.path(id_instance, token, "sendMediaStatus"), json={"urlFile": url, "fileName": "p.jpg"}
    )
    id_message = r.json()["idMessage"]

    async def ready_in_queue() -> bool:
        row = await status_row(gw, id_instance, id_message)
        return row is not None and row.state.value == "ready"

    await poll(ready_in_queue, what="media prepared while not authorized")
    queue = (await gw.client.get(gw.path(id_instance, token, "showMessagesQueue"))).json()
    assert queue == [
        {"messageID": id_message, "type": "sendMediaStatus", "body": {"urlFile": url, "fileName": "p.jpg"}}
    ]
    assert await gw.ctx.sandbox.deliveries(id_instance) == []
    await gw.ctx.sandbox.scan(id_instance)
    rows = await poll(lambda: statistic(gw, id_instance, token, id_message), what="sent after scan")
    assert [row["participant"] for row in rows] == ["79990000001@c.us"]
    assert (await gw.client.get(gw.path(id_instance, token, "showMessagesQueue"))).json() == []


async def test_expires_when_never_authorized(
    start_gateway: Any, make_settings: Any, files: FileServer
) -> None:
    gw: Gateway = await start_gateway(make_settings(queue_retention_seconds=0.5))
    id_instance, token = await gw.create_instance(authorized=False)
    await gw.ctx.sandbox.import_contacts(id_instance, [contact(1)])
    url = files.add("/p.jpg", jpeg_bytes())
    r = await gw.client.post(
        gw.path(id_instance, token, "sendMediaStatus"), json={"urlFile": url, "fileName": "p.jpg"}
    )
    id_message = r.json()["idMessage"]

    async def expired() -> bool:
        row = await status_row(gw, id_instance, id_message)
        return row is not None and row.state.value == "expired"

    await poll(expired, what="expiry")
    await gw.ctx.sandbox.scan(id_instance)
    await asyncio.sleep(0.5)
    assert await gw.ctx.sandbox.deliveries(id_instance) == []


async def test_sends_are_spaced_by_the_delay(
    start_gateway: Any, make_settings: Any, files: FileServer
) -> None:
    gw: Gateway = await start_gateway(make_settings())
    id_instance, token = await gw.create_instance()
    await gw.ctx.sandbox.import_contacts(id_instance, [contact(1)])
    r = await gw.client.post(
        gw.path(id_instance, token, "setSettings"), json={"delaySendMessagesMilliseconds": 600}
    )
    assert r.json() == {"saveSettings": True}
    url = files.add("/p.jpg", jpeg_bytes())
    ids = []
    for _ in range(3):
        r = await gw.client.post(
            gw.path(id_instance, token, "sendMediaStatus"), json={"urlFile": url, "fileName": "p.jpg"}
        )
        ids.append(r.json()["idMessage"])
    await poll(lambda: statistic(gw, id_instance, token, ids[-1]), what="last sent")
    starts = []
    for id_message in ids:
        row = await status_row(gw, id_instance, id_message)
        assert row is not None
        events = await gw.ctx.db.read(outbox.events, row.seq)
        starts.append(next(at for state, at, _d in events if state.value == "sending"))
    assert starts == sorted(starts)  # first in, first out
    # measured at the network: it received them in order, at least the delay apart
    arrivals = await gw.ctx.sandbox.arrivals(id_instance)
    assert [a.message_id for a in arrivals] == ids and all(a.count == 1 for a in arrivals)
    gaps = [b.first_at - a.first_at for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert all(gap >= 0.6 for gap in gaps), gaps


async def test_same_file_is_fetched_once_per_status_but_stored_once(
    start_gateway: Any, make_settings: Any, files: FileServer
) -> None:
    gw: Gateway = await start_gateway(make_settings())
    id_instance, token = await gw.create_instance()
    await gw.ctx.sandbox.import_contacts(id_instance, [contact(1)])
    url = files.add("/same.jpg", jpeg_bytes())
    ids = []
    for _ in range(2):
        r = await gw.client.post(
            gw.path(id_instance, token, "sendMediaStatus"), json={"urlFile": url, "fileName": "same.jpg"}
        )
        ids.append(r.json()["idMessage"])
    await poll(lambda: statistic(gw, id_instance, token, ids[-1]), what="both sent")
    rows = [await status_row(gw, id_instance, i) for i in ids]
    media_ids = {row.media_id for row in rows if row is not None}
    assert len(media_ids) == 1


async def test_html_behind_jpg_fails_with_a_description(
    start_gateway: Any, make_settings: Any, files: FileServer
) -> None:
    gw: Gateway = await start_gateway(make_settings())
    id_instance, token = await gw.create_instance()
    await gw.ctx.sandbox.import_contacts(id_instance, [contact(1)])
    url = files.add("/login.jpg", b"<!DOCTYPE html><html><body>Sign in</body></html>", "text/html")
    r = await gw.client.post(
        gw.path(id_instance, token, "sendMediaStatus"), json={"urlFile": url, "fileName": "login.jpg"}
    )
    id_message = r.json()["idMessage"]

    async def failed() -> Any:
        row = await status_row(gw, id_instance, id_message)
        return row if row is not None and row.state.value == "failed" else None

    row = await poll(failed, what="failure")
    assert "HTML" in (row.description or "")
    assert await gw.ctx.sandbox.deliveries(id_instance) == []
