"""This worker's share of the instances: claimed, renewed and handed back (``store.ownership``).

Every ``poll_interval_seconds`` the worker counts the instances and the live workers; below its fair share
(all instances divided by the live workers, rounded up) it claims free ones, above it it hands back those
not in the middle of a send (``busy``), so that a joining worker gets its share between two sends. Every
third of ``lease_seconds`` it renews what it holds.

Fencing: the worker trusts a lease only until its last successful renewal's start plus the lease minus
``lease_margin`` (its own monotonic clock). Past that — the database unreachable, the process stalled — it
treats every instance as lost (listeners stop its senders and sessions) before another worker can have taken
them; the writes that matter are checked against the epoch in the database as well (``ownership.holds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from statusgate.domain.ownership import Lease
from statusgate.settings import Settings
from statusgate.store import ownership
from statusgate.store.db import Database

log = logging.getLogger("statusgate.worker")


class OwnershipListener(Protocol):
    async def gained(self, instance_ids: list[int]) -> None:
        """These instances are now this worker's."""

    async def lost(self, instance_ids: list[int]) -> None:
        """These instances are no longer this worker's: stop acting for them now. A hand-back waits for
        this before it releases them in the database, so no other worker starts on them meanwhile."""


class Ownership:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        worker_id: str,
        *,
        busy: Callable[[int], bool] = lambda _instance_id: False,
    ) -> None:
        self.settings = settings
        self.db = db
        self.worker_id = worker_id
        self.busy = busy
        self._held: dict[int, Lease] = {}
        self._listeners: list[OwnershipListener] = []
        #: monotonic time until which the leases held may be acted on
        self._trusted_until = 0.0
        self._renewed_at = float("-inf")
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    def subscribe(self, listener: OwnershipListener) -> None:
        self._listeners.append(listener)

    def lease(self, instance_id: int) -> Lease | None:
        """The lease on ``instance_id`` if this worker holds it and may still act on it."""
        if time.monotonic() >= self._trusted_until:
            return None
        return self._held.get(instance_id)

    def held(self) -> set[int]:
        """The instances this worker holds and may act on."""
        if time.monotonic() >= self._trusted_until:
            return set()
        return set(self._held)

    def wake(self) -> None:
        """Look at the shares now (an instance was created, a worker left)."""
        self._wakeup.set()

    async def start(self) -> None:
        """Take this worker's share before anything starts sending, then keep it up."""
        if self.db.is_sqlite:
            # one worker per SQLite database: whatever a predecessor held, it died holding
            await self.db.write(ownership.release, None)
        await self._pass()
        self._loop = asyncio.create_task(self._run(), name="statusgate.ownership")

    async def stop(self) -> None:
        """Hand every instance back at once, so that the other workers need not wait for the leases."""
        self._stopping.set()
        self._wakeup.set()
        if self._loop is not None:
            await asyncio.gather(self._loop, return_exceptions=True)
        held, self._held = sorted(self._held), {}
        await self._notify_lost(held)
        with contextlib.suppress(Exception):
            await self.db.write(ownership.release, self.worker_id)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.settings.poll_interval_seconds)
            self._wakeup.clear()
            if self._stopping.is_set():
                return
            try:
                await self._pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ownership pass failed; trying again")
            if self._held and time.monotonic() >= self._trusted_until:
                lost, self._held = sorted(self._held), {}
                log.warning(
                    "could not renew the leases on %d instance(s) in time: stopped acting for them", len(lost)
                )
                await self._notify_lost(lost)

    async def _renew(self, started: float, *, after_delete: bool = False) -> None:
        """Renew every lease held; ``after_delete``: the census found fewer than held (one was deleted),
        so what is missing now is most likely gone, not lapsed: not a warning."""
        lease_seconds = self.settings.lease_seconds
        renewed = await self.db.write(ownership.renew, self.worker_id, lease_seconds)
        self._renewed_at = started
        self._trusted_until = started + lease_seconds - self.settings.lease_margin
        kept = {lease.instance_id: lease for lease in renewed}
        lapsed = sorted(set(self._held) - set(kept))
        self._held = kept
        if lapsed:
            if after_delete:
                log.info("%d instance(s) held here were deleted (or their leases lapsed)", len(lapsed))
            else:
                log.warning("the leases on %d instance(s) lapsed before renewal", len(lapsed))
            await self._notify_lost(lapsed)

    async def _pass(self) -> None:
        lease_seconds = self.settings.lease_seconds
        started = time.monotonic()
        if started - self._renewed_at >= lease_seconds / 3:
            await self._renew(started)
        census = await self.db.read(ownership.census, lease_seconds, self.worker_id)
        if census.mine < len(self._held):
            # some of what this worker holds was deleted since the last renewal: counted as held, it would
            # make the worker hand back a live instance, or leave a new one unclaimed, until the next renewal
            await self._renew(time.monotonic(), after_delete=True)
        share = census.share()
        # (a dead worker's leases count as free here until they lapse: the claim then finds none)
        if len(self._held) < share and census.instances > sum(census.holdings):
            started = time.monotonic()
            taken = await self.db.write(
                ownership.claim, self.worker_id, lease_seconds, share - len(self._held)
            )
            if taken:
                # a fresh lease runs from the claim's start at the latest
                self._trusted_until = min(
                    self._trusted_until if self._held else float("inf"),
                    started + lease_seconds - self.settings.lease_margin,
                )
                self._held.update({lease.instance_id: lease for lease in taken})
                log.info("took %d instance(s) (share %d of %d)", len(taken), share, census.instances)
                await self._notify_gained([lease.instance_id for lease in taken])
        else:
            # above the rounded-up share, or above the rounded-down one while another worker is short of it
            # (10 instances, 3 workers: 4, 4, 2 would otherwise stay)
            keep = census.floor() if census.someone_short() else share
            if len(self._held) > keep:
                await self._hand_back(len(self._held) - keep, share, census.instances)

    async def _hand_back(self, count: int, share: int, instances: int) -> None:
        """Give back up to ``count`` instances not in the middle of a send, the highest ids first."""
        idle = sorted(instance_id for instance_id in self._held if not self.busy(instance_id))
        handed = idle[len(idle) - min(len(idle), count) :]
        if not handed:
            return
        for instance_id in handed:
            del self._held[instance_id]
        await self._notify_lost(handed)
        await self.db.write(ownership.release, self.worker_id, handed)
        log.info("handed back %d instance(s) (share %d of %d)", len(handed), share, instances)

    async def _notify_gained(self, instance_ids: list[int]) -> None:
        for listener in self._listeners:
            await listener.gained(instance_ids)

    async def _notify_lost(self, instance_ids: list[int]) -> None:
        if not instance_ids:
            return
        for listener in self._listeners:
            await listener.lost(instance_ids)
