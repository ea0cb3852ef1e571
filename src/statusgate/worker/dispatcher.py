"""The queue's supervisor: it starts and stops the workers behind every instance's queue.

- **Preparation** (``preparation.Preparer``) makes queued statuses' media ready, any instance, authorized or not.
- **One sender loop per instance** this worker owns (``ownership.Ownership``) with pending statuses
  (``sending.Sender``) sends strictly in order; an instance lost or handed back has its loop stopped.
- **The pump** applies the engines' events (receipts) to the statistics.
- **The sweeper** expires statuses that waited longer than the queue retention.
- **The heartbeat** renews the leases of the work this process has in hand (preparations running, sends
  being made), and only those: a lease whose task ended without recording lapses. On SQLite every lease
  found at start belongs to a dead process (one server per database) and is released at once.

A full disk (:class:`StorageFullError`) is logged as a warning, without a traceback: the loops wait and try
again, and nothing is lost or failed for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from statusgate.domain.models import EngineEvent, EngineName, IncomingStatusEvent, ReceiptEvent, StateEvent
from statusgate.domain.notifications import InstanceStateChanged
from statusgate.domain.states import StatusState
from statusgate.engines.base import Engine
from statusgate.errors import StorageFullError
from statusgate.queue.crashpoints import CrashPoints
from statusgate.queue.retry import RetryPolicy, next_wait
from statusgate.settings import Settings
from statusgate.store import incoming, notifications, outbox, recipients, status_leases
from statusgate.store.db import Database
from statusgate.worker.ownership import Ownership
from statusgate.worker.preparation import PrepareMedia, Preparer
from statusgate.worker.sending import LoadMedia, Sender

#: engine events applied in one transaction. The transaction holds SQLite's write lock, and a send due
#: meanwhile waits for it (bench/dispatch.py at 200 instances: one group of 200 receipts held it ~20 ms);
#: a pass applies up to EVENT_GROUPS_PER_PASS groups, one after the other
EVENTS_PER_GROUP = 64
EVENT_GROUPS_PER_PASS = 16

log = logging.getLogger("statusgate.queue")


def _expire(conn: sa.Connection, now: float, retention: float) -> int:
    expired = 0
    for row in outbox.overdue(conn, now):
        waited_for_disk = row.state is StatusState.QUEUED and row.not_before is not None
        expired += outbox.transition(
            conn,
            row.seq,
            row.state,
            StatusState.EXPIRED,
            now,
            description=(
                f"expired: the server's disk stayed full for {retention:g} s after the status was queued"
                if waited_for_disk
                else f"expired: the instance was not authorized within {retention:g} s of the status "
                "being queued"
            ),
            lease_owner=None,
            lease_expires_at=None,
        )
    return expired


def _apply_events(conn: sa.Connection, events: list[EngineEvent], open_audience: bool = False) -> list[bool]:
    """Apply a batch of network events in one transaction; False for an event to offer again later.

    ``open_audience``: the engine chose the audience itself (no explicit list), so a receipt from someone
    not yet in the statistics adds them."""
    handled: list[bool] = []
    receipts: list[ReceiptEvent] = []  # a run of receipts, applied together (in order) before what follows
    for event in events:
        if isinstance(event, ReceiptEvent):
            receipts.append(event)
            continue
        handled.extend(_apply_receipts(conn, receipts, open_audience))
        receipts = []
        if isinstance(event, StateEvent):
            notifications.journal(conn, InstanceStateChanged(event.instance_id, event.state, event.at))
        elif isinstance(event, IncomingStatusEvent):
            incoming.record(conn, _incoming_row(event))
        handled.append(True)
    handled.extend(_apply_receipts(conn, receipts, open_audience))
    return handled


def _apply_receipts(conn: sa.Connection, events: list[ReceiptEvent], open_audience: bool) -> list[bool]:
    if not events:
        return []
    found = outbox.seqs_and_states(conn, [(event.instance_id, event.message_id) for event in events])
    handled: list[bool] = []
    receipts: list[recipients.Receipt] = []
    for event in events:
        status = found.get((event.instance_id, event.message_id))
        if status is not None and status[1] is StatusState.SENDING:
            handled.append(False)  # its send is not recorded yet: `sent` must come first
            continue
        if status is not None:
            receipts.append(recipients.Receipt(status[0], event.participant, event.status, event.at))
        handled.append(True)
    recipients.apply_receipts(conn, receipts, create_missing=open_audience)
    return handled


def _incoming_row(event: IncomingStatusEvent) -> incoming.IncomingRow:
    payload = dict(event.payload)
    return incoming.IncomingRow(
        instance_id=event.instance_id,
        id_message=event.message_id,
        received_at=event.at,
        type_message=str(payload.pop("typeMessage", "extendedTextMessage")),
        sender=event.sender,
        sender_name=str(payload.pop("sender_name", "")),
        sender_contact_name=str(payload.pop("sender_contact_name", "")),
        media_id=payload.pop("media_id", None),
        payload={k: v for k, v in payload.items() if k not in ("message_id", "sender")},
    )


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        engines: Mapping[EngineName, Engine],
        *,
        prepare_media: PrepareMedia,
        load_media: LoadMedia,
        owner: str,
        ownership: Ownership,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.engines = engines
        self.owner = owner
        self.ownership = ownership
        crash = CrashPoints(settings.test_crash_point)
        self.preparer = Preparer(
            settings, db, prepare_media, owner=self.owner, crash=crash, on_done=self.wake
        )
        self.sender = Sender(
            settings,
            db,
            engines,
            load_media,
            owner=self.owner,
            leases=ownership.lease,
            crash=crash,
            retry_policy=retry_policy
            or RetryPolicy(
                max_attempts=settings.send_max_attempts,
                base_seconds=settings.send_retry_base_seconds,
                cap_seconds=settings.send_retry_cap_seconds,
            ),
        )
        self._loops: dict[int, asyncio.Task[None]] = {}
        self._wakeups: dict[int, asyncio.Event] = {}
        self._supervisor_wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []
        #: sends in flight; shutdown lets them finish
        self._in_flight: set[asyncio.Task[float | None]] = set()
        self._last_sweep = 0.0
        self._queued_for: set[int] = set()
        #: instances with a send step running (not to be handed back now)
        self._stepping: set[int] = set()
        self._look_everywhere = False
        ownership.subscribe(self)

    # --- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.db.is_sqlite:
            await self.db.write(status_leases.release_all_leases)
        self._background = [
            asyncio.create_task(self._supervise(), name="statusgate.supervisor"),
            asyncio.create_task(self._heartbeat(), name="statusgate.heartbeat"),
        ]

    async def stop(self) -> None:
        """Take no new work, let the sends in flight finish (within the grace period), release leases."""
        self._stopping.set()
        for event in self._wakeups.values():
            event.set()
        in_flight = set(self._in_flight)
        if in_flight:
            log.info("stopping: waiting for %d send step(s) in flight", len(in_flight))
            await asyncio.wait(in_flight, timeout=self.settings.shutdown_grace_seconds)
        tasks = [*self._background, *self._loops.values(), *self.preparer.tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.db.write(status_leases.release_leases, self.owner)
        unfinished = sum(1 for task in in_flight if not task.done())
        log.info("queue stopped (%d send step(s) cut short by the grace period)", unfinished)

    # --- OwnershipListener ----------------------------------------------------------------------------

    async def gained(self, instance_ids: list[int]) -> None:
        self._look_everywhere = True
        self._supervisor_wakeup.set()

    async def lost(self, instance_ids: list[int]) -> None:
        """Stop the loops at once; a send step in flight runs on (shielded), and its writes are refused if
        another worker holds the instance by then."""
        for instance_id in instance_ids:
            task = self._loops.pop(instance_id, None)
            if task is not None:
                task.cancel()
            self.sender.forget(instance_id)

    def _step_done(self, instance_id: int) -> None:
        self._stepping.discard(instance_id)
        loop = self._loops.get(instance_id)
        if loop is None or loop.done():
            # its loop was stopped while the step ran (the instance lost, maybe regained meanwhile): the
            # supervisor starts a new one if the instance is still ours
            self._look_everywhere = True
            self._supervisor_wakeup.set()

    def busy(self, instance_id: int) -> bool:
        """A send step of this instance is running."""
        return instance_id in self._stepping

    def wake(self, instance_id: int | None = None) -> None:
        """Something changed (a status was queued, settings changed…): look now, not at the next poll."""
        if instance_id is not None and instance_id in self._wakeups:
            self._wakeups[instance_id].set()
        self._supervisor_wakeup.set()

    # --- supervisor -----------------------------------------------------------------------------------

    def _disk_full_wait(self, previous: float | None) -> float:
        return next_wait(
            previous, self.settings.prepare_retry_base_seconds, self.settings.prepare_retry_cap_seconds
        )

    async def _supervise(self) -> None:
        disk_full_wait: float | None = None
        while not self._stopping.is_set():
            self._supervisor_wakeup.clear()
            try:
                periodic = time.time() - self._last_sweep >= self.settings.poll_interval_seconds
                if periodic or self._look_everywhere:
                    # what other processes (the CLI, a crashed predecessor, API nodes) may have changed, or
                    # instances just taken over: look everywhere
                    self._look_everywhere = False
                    await self._sweep()
                    await self._start_loops()
                await self._start_loops(self._new_instances())
                await self.preparer.start_more()
                held = self.ownership.held()
                for engine in self.engines.values():
                    open_audience = not engine.capabilities.explicit_audience
                    # only the owner applies an instance's events (once, in order)
                    apply = functools.partial(self._apply_events, open_audience=open_audience)
                    for _group in range(EVENT_GROUPS_PER_PASS):
                        drained = await engine.drain_events(apply, EVENTS_PER_GROUP, instance_ids=held)
                        if drained < EVENTS_PER_GROUP:
                            break
            except asyncio.CancelledError:
                raise
            except StorageFullError:
                # every write fails until there is room: look less often rather than log every poll
                disk_full_wait = self._disk_full_wait(disk_full_wait)
                log.warning("queue supervisor: the disk is full; trying again in %.3g s", disk_full_wait)
                await self._pause(disk_full_wait)
                continue
            except Exception:
                log.exception("queue supervisor pass failed; trying again")
            disk_full_wait = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._supervisor_wakeup.wait(), self.settings.poll_interval_seconds)
            # let wake-ups that arrive close together share one pass (under load: many statuses per pass)
            await asyncio.sleep(self.settings.queue_batch_window_seconds)

    async def _heartbeat(self) -> None:
        while not self._stopping.is_set():
            await asyncio.sleep(self.settings.lease_seconds / 3)
            in_hand = [*self.preparer.in_flight, *self.sender.in_flight]
            if not in_hand:
                continue
            try:
                await self.db.write(
                    status_leases.renew_leases, self.owner, in_hand, self.settings.lease_seconds
                )
            except StorageFullError:
                # the leases run out if this lasts: work still running is then taken up by another worker
                log.warning("lease heartbeat: the disk is full")
            except Exception:
                log.exception("lease heartbeat failed")

    async def _sweep(self) -> None:
        now = time.time()
        self._last_sweep = now
        if await self.db.read(outbox.overdue, now):
            await self.db.write(_expire, now, self.settings.queue_retention_seconds)

    # --- per-instance loops ---------------------------------------------------------------------------

    def queued(self, instance_id: int) -> None:
        """A status was queued for this instance (in this process): make sure its sender runs."""
        self._queued_for.add(instance_id)
        self._supervisor_wakeup.set()

    def _new_instances(self) -> list[int]:
        fresh, self._queued_for = list(self._queued_for), set()
        return fresh

    async def _start_loops(self, instance_ids: list[int] | None = None) -> None:
        if instance_ids is None:
            instance_ids = await self.db.read(outbox.instances_with_pending)
        held = self.ownership.held()
        for instance_id in instance_ids:
            # a step left running by a stopped loop must end before another loop starts: two steps of one
            # instance at once could send its head twice
            if instance_id not in held or instance_id in self._stepping:
                continue
            task = self._loops.get(instance_id)
            if task is None or task.done():
                self._loops[instance_id] = asyncio.create_task(
                    self._instance_loop(instance_id), name=f"statusgate.sender[{instance_id}]"
                )

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless the dispatcher stops first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _instance_loop(self, instance_id: int) -> None:
        poll = self.settings.poll_interval_seconds
        wakeup = self._wakeups.setdefault(instance_id, asyncio.Event())
        disk_full_wait: float | None = None
        while not self._stopping.is_set():
            wakeup.clear()
            # shielded: on shutdown a send in flight finishes (stop() waits for it) instead of being cut
            step = asyncio.create_task(self.sender.step(instance_id, self._stopping))
            self._in_flight.add(step)
            self._stepping.add(instance_id)
            step.add_done_callback(self._in_flight.discard)
            step.add_done_callback(lambda _step: self._step_done(instance_id))
            try:
                delay = await asyncio.shield(step)
            except asyncio.CancelledError:
                raise
            except StorageFullError:
                disk_full_wait = self._disk_full_wait(disk_full_wait)
                log.warning(
                    "sender of instance %s: the disk is full; trying again in %.3g s",
                    instance_id,
                    disk_full_wait,
                )
                await self._pause(disk_full_wait)
                continue
            except Exception:
                log.exception("sender of instance %s failed; trying again", instance_id)
                delay = poll
            disk_full_wait = None
            if delay is None:
                return  # nothing pending: the supervisor starts a new loop when something is queued
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), min(delay, poll))

    # --- events ---------------------------------------------------------------------------------------

    async def _apply_events(self, events: Sequence[EngineEvent], open_audience: bool = False) -> list[bool]:
        handled = await self.db.write(_apply_events, list(events), open_audience)
        for event in events:
            if isinstance(event, StateEvent):
                self.sender.forget(event.instance_id)
                self.wake(event.instance_id)
        return handled
