"""Wrong-token throttling per client address, for the Partner API and the console's sign-in (this node's
memory: each API node counts its own)."""

from __future__ import annotations

import time

WINDOW_SECONDS = 60.0
#: addresses remembered at most; past it the table starts afresh rather than grow without bound
MAX_CLIENTS = 10_000


class FailureThrottle:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._failures: dict[str, list[float]] = {}

    def blocked(self, client: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self._failures.get(client, ()) if now - t < WINDOW_SECONDS]
        if recent:
            self._failures[client] = recent
        else:
            self._failures.pop(client, None)
        return len(recent) >= self.per_minute

    def failed(self, client: str) -> None:
        if len(self._failures) >= MAX_CLIENTS:
            self._failures.clear()
        self._failures.setdefault(client, []).append(time.monotonic())
