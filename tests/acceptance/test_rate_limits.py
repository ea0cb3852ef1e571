"""Green's rate limits on a real server, met by the official SDK: it is answered 429 with a whole-second
Retry-After in Green's error body, and the SDK waits that long and tries again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import ALL, PAIR, Instance
from tests.support import base_env

SHAPES = (ALL, PAIR)
SHAPES_REASON = "the limits are counted by the API process in memory: the store behind it changes nothing"


@pytest.fixture(scope="module")
def env(data_dir: Path, store_settings: dict[str, str]) -> dict[str, str]:
    return base_env(data_dir, rate_limits="on", rate_limit_overrides="getSettings=off", **store_settings)


def test_over_a_limit_is_greens_429_with_retry_after(instance: Instance, server: Any) -> None:
    url = f"{server.url}/waInstance{instance.id}/getStateInstance/{instance.token}"
    assert httpx.get(url, timeout=30).status_code == 200
    refused = httpx.get(url, timeout=30)  # Green: getStateInstance 1 per second
    assert refused.status_code == 429, refused.text
    assert refused.headers["Retry-After"] == "1"
    body = refused.json()
    assert body["message"] == "Too Many Requests" and body["path"].endswith("/getStateInstance/***")
    # an override lifted getSettings' limit; another instance has its own buckets
    settings = f"{server.url}/waInstance{instance.id}/getSettings/{instance.token}"
    assert [httpx.get(settings, timeout=30).status_code for _ in range(3)] == [200, 200, 200]


def test_the_official_sdk_waits_as_retry_after_says(bare_api: Any) -> None:
    started = time.monotonic()
    answers = [bare_api.account.getStateInstance() for _ in range(3)]
    elapsed = time.monotonic() - started
    assert [a.code for a in answers] == [200, 200, 200], [a.error for a in answers]
    # the second and third were refused once each and waited the second Retry-After asked for
    assert elapsed >= 1.8, elapsed


def test_a_wrong_token_is_refused_before_any_limit_is_counted(instance: Instance, server: Any) -> None:
    wrong = f"{server.url}/waInstance{instance.id}/getContacts/{'0' * 50}"
    assert [httpx.get(wrong, timeout=30).status_code for _ in range(3)] == [401, 401, 401]
    right = f"{server.url}/waInstance{instance.id}/getContacts/{instance.token}"
    assert httpx.get(right, timeout=30).status_code == 200
