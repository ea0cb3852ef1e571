"""uploadFile (raw body, as the official SDK sends it) and the periodic sweep."""

from __future__ import annotations

import time
from typing import Any

from statusgate.engines.sandbox_network import ImportedContact
from statusgate.worker import sweeper
from tests.conftest import Gateway
from tests.integration.test_send_media_status import poll, statistic, status_row
from tests.support import jpeg_bytes

BOOK = [ImportedContact("79990000001@c.us", "Ann", "Ann W", True)]


async def test_upload_then_send_with_the_guard_on(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings(allow_private_urls=False))
    ids = await gw.create_instance()
    await gw.ctx.sandbox.import_contacts(ids[0], BOOK)
    picture = jpeg_bytes()
    r = await gw.client.post(
        gw.path(*ids, "uploadFile"),
        content=picture,
        headers={"Content-Type": "image/jpeg", "GA-Filename": "holiday photo.jpg"},
    )
    assert r.status_code == 200, r.text
    url = r.json()["urlFile"]
    assert url.startswith("http://127.0.0.1:9/media/")
    assert url.endswith("/holiday photo.jpg") or url.endswith("/holiday%20photo.jpg")
    served = await gw.client.get(url.removeprefix("http://127.0.0.1:9"))
    assert served.status_code == 200
    assert served.content == picture
    assert served.headers["content-type"] == "image/jpeg"
    # the link is the server's own: read from the media store, never fetched, so the SSRF guard allows it
    sent = await gw.client.post(
        gw.path(*ids, "sendMediaStatus"), json={"urlFile": url, "fileName": "holiday.jpg"}
    )
    assert sent.status_code == 200, sent.text
    await poll(lambda: statistic(gw, *ids, sent.json()["idMessage"]), what="sent from an upload")


async def test_upload_without_content_type_and_too_large(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings(max_upload_bytes=1000))
    ids = await gw.create_instance()
    r = await gw.client.post(
        gw.path(*ids, "uploadFile"), content=b"x" * 500, headers={"GA-Filename": "notes.mp3"}
    )
    assert r.status_code == 200
    served = await gw.client.get(r.json()["urlFile"].removeprefix("http://127.0.0.1:9"))
    assert served.headers["content-type"] == "audio/mpeg"
    big = await gw.client.post(
        gw.path(*ids, "uploadFile"), content=b"x" * 1001, headers={"Content-Type": "image/png"}
    )
    assert big.status_code == 413
    assert big.json()["message"] == "Payload Too Large"

    async def chunks() -> Any:
        for _ in range(5):
            yield b"y" * 300  # no Content-Length: the cap is counted while streaming

    streamed = await gw.client.post(gw.path(*ids, "uploadFile"), content=chunks())
    assert streamed.status_code == 413


async def test_sweep_removes_expired_uploads_old_journals_and_unused_files(
    start_gateway: Any, make_settings: Any
) -> None:
    gw: Gateway = await start_gateway(
        make_settings(
            upload_retention_seconds=0.2,
            journal_retention_seconds=0.5,
            notification_retention_seconds=0.5,
            media_sweep_grace_seconds=60,
            allow_private_urls=False,
        )
    )
    ids = await gw.create_instance()
    await gw.ctx.sandbox.import_contacts(ids[0], BOOK)
    r = await gw.client.post(
        gw.path(*ids, "uploadFile"), content=jpeg_bytes(), headers={"Content-Type": "image/jpeg"}
    )
    url = r.json()["urlFile"]
    sent = await gw.client.post(gw.path(*ids, "sendMediaStatus"), json={"urlFile": url, "fileName": "p.jpg"})
    id_message = sent.json()["idMessage"]

    async def delivered() -> bool:
        rows = await statistic(gw, *ids, id_message)
        return bool(rows) and rows[0]["status"] == "delivered"

    await poll(delivered, what="sent and delivered")
    row = await status_row(gw, ids[0], id_message)
    assert row is not None
    assert row.media_id is not None
    prepared = gw.ctx.media.blob_path(row.media_id)
    assert prepared.exists()
    counts = await sweeper.sweep_once(gw.ctx, now=time.time() + 30)  # within the grace period for files
    assert counts["uploads"] == 1
    assert counts["journal_rows"] >= 1
    assert counts["sandbox_events"] >= 1  # the delivered receipt the gateway already took
    assert counts["media_rows"] == 0 and counts["files"] == 0
    assert prepared.exists()
    counts = await sweeper.sweep_once(gw.ctx, now=time.time() + 120)  # past it
    assert counts["media_rows"] >= 1
    assert counts["files"] >= 1
    assert (await gw.client.get(url.removeprefix("http://127.0.0.1:9"))).status_code == 404
    assert await status_row(gw, ids[0], id_message) is None
    assert not prepared.exists()
