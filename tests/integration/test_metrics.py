"""``/metrics``: scraped before and after real work, the series move; no label names an instance or a token;
off means no route, a token means 401 without it."""

from __future__ import annotations

import re
from typing import Any

from statusgate.engines.sandbox_network import ImportedContact
from tests.conftest import Gateway
from tests.integration.test_send_media_status import poll, statistic

CONTACT = "79990000001@c.us"


def value(text: str, series: str) -> float:
    """A sample's value in the exposition (0 when the sample is not there yet)."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def scrape(gw: Gateway, **headers: str) -> str:
    response = await gw.client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_series_move_with_requests_sends_and_preparations(
    start_gateway: Any, make_settings: Any, tmp_path: Any
) -> None:
    gw: Gateway = await start_gateway(make_settings())
    id_instance, token = await gw.create_instance()
    await gw.ctx.sandbox.import_contacts(id_instance, [ImportedContact(CONTACT, "Ann", "Ann", True)])
    before = await scrape(gw)

    sent = await gw.client.post(gw.path(id_instance, token, "sendTextStatus"), json={"message": "hello"})
    id_message = sent.json()["idMessage"]
    await gw.client.post(gw.path(id_instance, token, "sendTextStatus"), json={})  # 400
    await gw.client.get(gw.path(id_instance, token, "noSuchMethod"))  # 404
    await gw.client.post(  # a media status whose file is not there: its preparation fails
        gw.path(id_instance, token, "sendMediaStatus"),
        json={"urlFile": "http://127.0.0.1:9/missing.jpg", "fileName": "missing.jpg"},
    )
    await poll(lambda: statistic(gw, id_instance, token, id_message), what="sent")

    # the sender counts its send once it resumes after the commit the statistic shows, so the counters are
    # polled too
    counted = ('statusgate_preparations_total{outcome="failed"}', 'statusgate_sends_total{outcome="sent"}')

    async def moved() -> str | None:
        after = await scrape(gw)
        return after if all(value(after, series) > value(before, series) for series in counted) else None

    after = await poll(moved, what="the send and the failed preparation counted")

    def grew(series: str, by: float = 1) -> bool:
        return value(after, series) - value(before, series) >= by

    assert grew('statusgate_http_requests_total{code="200",method="sendTextStatus"}')
    assert grew('statusgate_http_requests_total{code="400",method="sendTextStatus"}')
    assert grew('statusgate_http_requests_total{code="404",method="other"}')
    assert grew('statusgate_sends_total{outcome="sent"}')
    assert grew("statusgate_send_seconds_count")
    assert grew("statusgate_preparation_seconds_count")
    assert 'statusgate_queue_statuses{state="ready"}' in after
    assert "statusgate_webhooks_waiting" in after
    # nothing that names an instance or a token
    assert str(id_instance) not in after and token not in after


async def test_queue_depth_is_read_from_the_database(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings())
    id_instance, token = await gw.create_instance(authorized=False)
    waiting = value(await scrape(gw), 'statusgate_queue_statuses{state="ready"}')
    for n in range(3):
        await gw.client.post(gw.path(id_instance, token, "sendTextStatus"), json={"message": f"m{n}"})
    assert value(await scrape(gw), 'statusgate_queue_statuses{state="ready"}') == waiting + 3


async def test_metrics_off_and_behind_a_token(start_gateway: Any, make_settings: Any) -> None:
    off: Gateway = await start_gateway(make_settings(metrics="off"))
    assert (await off.client.get("/metrics")).status_code == 404
    secret = "a-metrics-token-of-some-length"
    guarded: Gateway = await start_gateway(make_settings(metrics_token=secret))
    assert (await guarded.client.get("/metrics")).status_code == 401
    wrong = await guarded.client.get("/metrics", headers={"Authorization": "Bearer not-it"})
    assert wrong.status_code == 401 and secret not in wrong.text
    assert "statusgate_sends_total" in await scrape(guarded, Authorization=f"Bearer {secret}")
