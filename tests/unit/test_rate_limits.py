"""Green's per-method limits: a token bucket per (instance, method), on a clock the tests move."""

from __future__ import annotations

import pytest
from pydantic import ValidationError as SettingsError

from statusgate.api.app import rate_limiter
from statusgate.api.rate_limits import RateLimiter
from statusgate.errors import TooManyRequestsError
from statusgate.settings import Settings, parse_rate_overrides


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused(limiter: RateLimiter, instance_id: int, method: str) -> int | None:
    """The Retry-After of a refusal, or None if the request was let through."""
    try:
        limiter.check(instance_id, method)
    except TooManyRequestsError as exc:
        return exc.retry_after_seconds
    return None


def test_a_limit_lets_its_rate_through_and_says_when_to_come_back() -> None:
    clock = Clock()
    limiter = RateLimiter({"sendTextStatus": 5, "getSettings": 1}, clock=clock)
    assert [refused(limiter, 1, "sendTextStatus") for _ in range(5)] == [None] * 5  # a burst of 5
    assert refused(limiter, 1, "sendTextStatus") == 1
    assert refused(limiter, 2, "sendTextStatus") is None  # per instance
    assert refused(limiter, 1, "SENDTEXTSTATUS") == 1  # any case is the same method
    clock.now += 0.2  # one token back at 5 per second
    assert refused(limiter, 1, "sendTextStatus") is None
    assert refused(limiter, 1, "getSettings") is None
    assert refused(limiter, 1, "getSettings") == 1
    assert refused(limiter, 1, "uploadFile") is None  # not limited


def test_retry_after_is_whole_seconds_until_the_next_request_may_pass() -> None:
    clock = Clock()
    limiter = RateLimiter({"slow": 0.25}, clock=clock)  # one every 4 s
    assert refused(limiter, 1, "slow") is None
    assert refused(limiter, 1, "slow") == 4
    clock.now += 2.5
    assert refused(limiter, 1, "slow") == 2  # 1.5 s left, rounded up
    clock.now += 1.5
    assert refused(limiter, 1, "slow") is None


def test_several_api_nodes_each_allow_their_share() -> None:
    clock = Clock()
    limiter = RateLimiter({"sendTextStatus": 6}, api_nodes=3, clock=clock)
    assert [refused(limiter, 1, "sendTextStatus") for _ in range(3)] == [None, None, 1]


def test_idle_buckets_are_forgotten_past_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    import statusgate.api.rate_limits as module

    monkeypatch.setattr(module, "_MAX_BUCKETS", 3)
    clock = Clock()
    limiter = RateLimiter({"m": 1}, clock=clock)
    for instance_id in range(3):
        limiter.check(instance_id, "m")
    clock.now += 5  # all refilled
    limiter.check(99, "m")
    assert len(limiter._buckets) == 1


def test_the_table_comes_from_the_methods_and_the_overrides() -> None:
    assert rate_limiter(Settings(rate_limits="off")) is None
    limiter = rate_limiter(Settings(rate_limit_overrides="sendTextStatus=20, GETSETTINGS=off, noSuch=3"))
    assert limiter is not None
    assert limiter.limits["sendtextstatus"] == 20
    assert "getsettings" not in limiter.limits
    assert limiter.limits["sendmediastatus"] == 5 and limiter.limits["receivenotification"] == 100
    assert "nosuch" not in limiter.limits


@pytest.mark.parametrize(
    "text", ["sendTextStatus", "=3", "sendTextStatus=fast", "sendTextStatus=0", "sendTextStatus=-1", "a=inf"]
)
def test_overrides_that_cannot_be_read_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not|must be"):
        parse_rate_overrides(text)
    with pytest.raises(SettingsError):
        Settings(rate_limit_overrides=text)


def test_a_refusal_is_greens_429() -> None:
    assert TooManyRequestsError(3).http_status == 429
    assert TooManyRequestsError(3).message == "Too Many Requests"


def test_overrides_format() -> None:
    assert parse_rate_overrides("") == {}
    assert parse_rate_overrides(" sendTextStatus = 2.5 , qr=OFF ,") == {"sendtextstatus": 2.5, "qr": None}
