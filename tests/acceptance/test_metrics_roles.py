"""``/metrics`` on both roles of an api + worker pair: each counts what it does itself (the API node its
requests, the worker its sends), and either reads the queue's depth from the database."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.acceptance.conftest import NAMED, PAIR, PAIR_POSTGRESQL, Instance, statistic
from tests.support import wait_for

SHAPES = (PAIR, PAIR_POSTGRESQL)
SHAPES_REASON = "a worker serves its own /metrics only when it runs as a process of its own"


def sample(url: str, series: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_each_role_counts_its_own_work(api: Any, instance: Instance, server: Any) -> None:
    sent = api.statuses.sendTextStatus("counted", participants=[NAMED[0]])
    assert sent.code == 200, sent.error
    wait_for(lambda: statistic(api, sent.data["idMessage"]), what="the status sent")
    requests = 'statusgate_http_requests_total{code="200",method="sendTextStatus"}'
    sends = 'statusgate_sends_total{outcome="sent"}'
    wait_for(lambda: sample(server.worker.url, sends) >= 1, what="the worker's send counted")
    assert sample(server.api.url, requests) >= 1
    assert sample(server.worker.url, requests) == 0  # the worker answers no Green request
    assert sample(server.api.url, sends) == 0  # the API node sends nothing
    for url in (server.api.url, server.worker.url):
        assert 'statusgate_queue_statuses{state="ready"}' in httpx.get(f"{url}/metrics", timeout=30).text
