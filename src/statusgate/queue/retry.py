"""Whether and when to try again: a failed send, a preparation waiting for disk space (pure: no I/O, no clock)."""

from __future__ import annotations

from dataclasses import dataclass

from statusgate.errors import EngineError, EnginePermanentError


@dataclass(frozen=True)
class RetryDecision:
    #: None means: give up, the status fails with ``reason``
    retry_in_seconds: float | None
    reason: str


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for transient engine faults: ``base * 2**(attempt-1)``, capped at ``cap``.

    ``max_attempts`` counts every attempt, the first included. Permanent faults never retry.
    """

    max_attempts: int = 5
    base_seconds: float = 1.0
    cap_seconds: float = 60.0

    def decide(self, error: EngineError, attempts: int) -> RetryDecision:
        if isinstance(error, EnginePermanentError):
            return RetryDecision(None, error.message)
        if attempts >= self.max_attempts:
            return RetryDecision(None, f"gave up after {attempts} attempts: {error.message}")
        delay = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return RetryDecision(delay, error.message)


def next_wait(previous: float | None, base: float, cap: float) -> float:
    """The wait before the next attempt: ``base`` first, then twice the previous wait, never over ``cap``."""
    if previous is None or previous <= 0:
        return min(base, cap)
    return min(cap, max(base, previous * 2))
