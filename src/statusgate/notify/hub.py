"""Wakes whoever waits for an instance's notifications (long-polls, webhook senders) — no polling interval."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable


class NotificationHub:
    def __init__(self) -> None:
        self._versions: dict[int, int] = {}
        self._changed: dict[int, asyncio.Event] = {}
        #: set on every wake-up of any instance (the webhook supervisor waits on it)
        self.anything = asyncio.Event()
        self._woken: set[int] = set()

    def version(self, instance_id: int) -> int:
        """A counter that moves on every wake-up; read it before looking, wait with it after."""
        return self._versions.get(instance_id, 0)

    def wake(self, instance_ids: Iterable[int]) -> None:
        for instance_id in instance_ids:
            self._versions[instance_id] = self._versions.get(instance_id, 0) + 1
            event = self._changed.pop(instance_id, None)
            if event is not None:
                event.set()
            self._woken.add(instance_id)
            self.anything.set()

    def take_woken(self) -> set[int]:
        """The instances woken since the last call."""
        woken, self._woken = self._woken, set()
        return woken

    async def wait(
        self, instance_id: int, seen_version: int, timeout: float, *, also: asyncio.Event | None = None
    ) -> bool:
        """Wait until something is journaled for the instance after ``seen_version`` (or ``also`` is set);
        False on timeout."""
        if self.version(instance_id) != seen_version:
            return True
        event = self._changed.setdefault(instance_id, asyncio.Event())
        waits = [asyncio.ensure_future(event.wait())]
        if also is not None:
            waits.append(asyncio.ensure_future(also.wait()))
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, timeout)):
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    return True
        finally:
            for waiting in waits:
                waiting.cancel()
        return self.version(instance_id) != seen_version
