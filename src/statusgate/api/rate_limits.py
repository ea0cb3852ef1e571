"""Green's per-method rate limits, per instance (contract §1.4), counted per API node in memory.

Each (instance, method) has a token bucket: ``limit`` requests per second, a burst of as many (at least one).
With several API nodes behind a balancer each counts alone, so each allows ``1 / rate_limit_api_nodes`` of
the limit, which the cluster then holds as a whole as long as the balancer spreads an instance's requests
evenly. A refused request is Green's 429 with ``Retry-After`` in whole seconds: when the next token is due.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from statusgate.errors import TooManyRequestsError

#: buckets kept before the full (idle) ones are dropped: memory stays bounded whatever the traffic
_MAX_BUCKETS = 100_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(
        self,
        limits: Mapping[str, float],
        *,
        api_nodes: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: requests per second per instance, for this node; a method not here is not limited
        self.limits = {method.lower(): rate / api_nodes for method, rate in limits.items()}
        self._clock = clock
        self._buckets: dict[tuple[int, str], _Bucket] = {}

    def check(self, instance_id: int, method: str) -> None:
        """Count one request of ``method`` for the instance; TooManyRequestsError if over its limit."""
        rate = self.limits.get(method.lower())
        if rate is None:
            return
        burst = max(1.0, rate)
        now = self._clock()
        key = (instance_id, method.lower())
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._forget_idle(now)
            bucket = self._buckets[key] = _Bucket(burst, now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        raise TooManyRequestsError(max(1, math.ceil((1 - bucket.tokens) / rate)))

    def _forget_idle(self, now: float) -> None:
        """Drop the buckets that have refilled (forgetting them changes nothing)."""
        for key, bucket in list(self._buckets.items()):
            rate = self.limits[key[1]]
            if bucket.tokens + (now - bucket.at) * rate >= max(1.0, rate):
                del self._buckets[key]
