"""When may an instance's next send start? (pure)"""

from __future__ import annotations


def next_send_at(last_ended_at: float | None, delay_ms: int, now: float) -> float:
    """A send starts no earlier than ``delay_ms`` after the previous attempt of the instance ended.

    ``last_ended_at`` is when the network took the previous status in, where the engine can tell, else when
    its send call returned (success or failure): never before the network had it, so the network receives
    an instance's statuses at least the delay apart however long each call took. When that moment has
    already passed, it starts at once (``now``).
    """
    if last_ended_at is None:
        return now
    return max(now, last_ended_at + delay_ms / 1000.0)
