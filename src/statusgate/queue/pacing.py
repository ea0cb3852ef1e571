"""When may an instance's next send start? (pure)"""

from __future__ import annotations


def next_send_at(last_started_at: float | None, delay_ms: int, now: float) -> float:
    """A send starts no earlier than ``delay_ms`` after the previous send of the instance started.

    When that moment has already passed, it starts at once (``now``).
    """
    if last_started_at is None:
        return now
    return max(now, last_started_at + delay_ms / 1000.0)
