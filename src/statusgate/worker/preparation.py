"""Preparation: queued statuses get their media fetched, checked and stored, a few at a time.

It starts as soon as a status is queued, authorized or not, so a status waiting for the phone does not
depend on its origin URL any more. Claims and results are written in groups.

A full disk (no room for the download, the conversion, the stored file or the database) is local and
temporary: the status goes back to the queue with a retry time, the waits doubling from
``prepare_retry_base_seconds`` up to ``prepare_retry_cap_seconds``; it never fails for that. Whatever happens
to a preparation, it ends recorded or with its lease released to lapse: the heartbeat renews only the
leases of preparations still running, so an unrecorded one is taken up again instead of holding its
instance's queue.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa

from statusgate import metrics
from statusgate.domain.models import PreparedMedia
from statusgate.domain.states import StatusState
from statusgate.errors import MediaError
from statusgate.media.store import no_space_cause
from statusgate.queue.crashpoints import CrashPoints
from statusgate.queue.retry import next_wait
from statusgate.settings import Settings
from statusgate.store import clock, outbox, status_leases
from statusgate.store.batch import Batcher
from statusgate.store.db import Database
from statusgate.store.outbox import StatusRow
from statusgate.worker.room import write_when_room

log = logging.getLogger("statusgate.queue")

PrepareMedia = Callable[[StatusRow], Awaitable[PreparedMedia | None]]


@dataclass(frozen=True)
class Prepared:
    row: StatusRow
    media: PreparedMedia | None
    #: set when preparation failed: the user-facing reason
    failure: str | None
    at: float
    #: set when the disk was full: back to the queue, to be prepared again then
    retry_at: float | None = None
    #: the worker that prepared it: its outcome counts only while the status's lease is still that worker's
    owner: str | None = None


def previous_wait(row: StatusRow) -> float | None:
    """How long a queued status last waited for disk space, if it did.

    Going back to the queue sets ``updated_at`` and ``not_before`` together, so the row itself remembers
    its last wait: the backoff survives a restart without a counter column.
    """
    if row.state is not StatusState.QUEUED or row.not_before is None:
        return None
    return row.not_before - row.updated_at


def waiting_description(retry_at: float) -> str:
    """What the journal says of a status waiting for disk space (it is pending, not failed)."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(retry_at))
    return f"waiting for disk space on the server to prepare the file; next try at {when}"


def _record_prepared(conn: sa.Connection, results: list[Prepared]) -> list[None]:
    # a group's outcomes in a few statements (outbox.transition_many): under load preparations end by the dozen
    moves = []
    for result in results:
        if result.retry_at is not None:
            move = outbox.Move(
                result.row.seq,
                StatusState.PREPARING,
                StatusState.QUEUED,
                result.at,
                waiting_description(result.retry_at),
                (("not_before", result.retry_at), *_NO_LEASE),
                result.owner,
            )
        elif result.failure is None:
            kind = result.media.kind.value if result.media else result.row.kind
            move = outbox.Move(
                result.row.seq,
                StatusState.PREPARING,
                StatusState.READY,
                result.at,
                None,
                (
                    ("media_id", result.media.media_id if result.media else None),
                    ("kind", kind),
                    # the sender reads not_before as its own retry time
                    ("not_before", None),
                    *_NO_LEASE,
                ),
                result.owner,
            )
        else:
            move = outbox.Move(
                result.row.seq,
                StatusState.PREPARING,
                StatusState.FAILED,
                result.at,
                result.failure,
                _NO_LEASE,
                result.owner,
            )
        moves.append(move)
    outbox.transition_many(conn, moves)
    return [None] * len(results)


_NO_LEASE = (("lease_owner", None), ("lease_expires_at", None))


def _claim(
    conn: sa.Connection, rows: list[StatusRow], owner: str, now: float, lease_seconds: float
) -> list[StatusRow]:
    """``now`` stamps the moves; the leases run ``lease_seconds`` by the database's clock."""
    queued = [row for row in rows if row.state is StatusState.QUEUED]
    lease = (("lease_owner", owner), ("lease_expires_at", clock.now(conn) + lease_seconds))
    moves = [
        outbox.Move(row.seq, StatusState.QUEUED, StatusState.PREPARING, now, None, lease) for row in queued
    ]
    # any worker prepares: those claiming at once take different statuses instead of queueing on the rows
    moved = outbox.transition_many(conn, moves, skip_locked=True)
    won = {row.seq for row, answer in zip(queued, moved, strict=True) if answer is not None}
    claimed = []
    for row in rows:
        # PREPARING whose worker died (its lease expired): taken over one by one, it is rare
        if row.seq in won or (
            row.state is StatusState.PREPARING
            and status_leases.take_lease(conn, row.seq, StatusState.PREPARING, owner, lease_seconds)
        ):
            claimed.append(row)
    return claimed


class Preparer:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        prepare_media: PrepareMedia,
        *,
        owner: str,
        crash: CrashPoints,
        on_done: Callable[[int], None],
    ) -> None:
        self.settings = settings
        self.db = db
        self.prepare_media = prepare_media
        self.owner = owner
        self.crash = crash
        self.on_done = on_done
        self._running: dict[int, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(settings.prepare_concurrency)
        self._results: Batcher[Prepared, None] = Batcher(db, _record_prepared, "prepared")

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        return list(self._running.values())

    @property
    def in_flight(self) -> list[int]:
        """The statuses whose lease this preparer still needs (claimed, not yet recorded)."""
        return list(self._running)

    async def start_more(self) -> None:
        """Claim queued statuses (oldest first) up to a small backlog beyond the concurrency."""
        # claims are cheap and preparations often are (cached or small files): keep a good backlog
        free = self.settings.prepare_concurrency * 16 - len(self._running)
        if free <= 0:
            return
        now = time.time()
        rows = await self.db.read(status_leases.to_prepare, now, free + len(self._running))
        rows = [r for r in rows if r.seq not in self._running][:free]
        if not rows:
            return
        claimed = await self.db.write(_claim, rows, self.owner, now, self.settings.lease_seconds)
        for row in claimed:
            task = asyncio.create_task(self._prepare(row), name=f"statusgate.prepare[{row.id_message}]")
            self._running[row.seq] = task
            task.add_done_callback(functools.partial(self._finished, row.seq))

    def _finished(self, seq: int, _task: asyncio.Task[None]) -> None:
        self._running.pop(seq, None)

    async def _prepare(self, row: StatusRow) -> None:
        async with self._slots:
            result = await self._attempt(row)
        # outside the slot: a record waiting for disk space must not hold up other preparations
        if not await self._record(result):
            return
        self.crash.reached("after_prepare")
        self.on_done(row.instance_id)

    async def _attempt(self, row: StatusRow) -> Prepared:
        started = time.monotonic()
        result = await self._outcome(row)
        metrics.PREPARATION_SECONDS.observe(time.monotonic() - started)
        outcome = "prepared" if result.failure is None else "failed"
        metrics.PREPARATIONS.labels("waiting" if result.retry_at is not None else outcome).inc()
        return result

    async def _outcome(self, row: StatusRow) -> Prepared:
        try:
            media = await self.prepare_media(row)
        except Exception as exc:
            now = time.time()
            cause = no_space_cause(exc)
            if cause is not None:
                wait = next_wait(
                    previous_wait(row),
                    self.settings.prepare_retry_base_seconds,
                    self.settings.prepare_retry_cap_seconds,
                )
                log.warning(
                    "status %s waits for disk space (%s); preparing it again in %.3g s, at %s",
                    row.id_message,
                    _describe(cause),
                    wait,
                    time.strftime("%H:%M:%S", time.localtime(now + wait)),
                )
                return Prepared(row, None, None, now, retry_at=now + wait, owner=self.owner)
            if isinstance(exc, MediaError):
                log.warning(
                    "status %s of instance %s failed: %s",
                    row.id_message,
                    row.instance_id,
                    exc.message,
                    extra={"idMessage": row.id_message, "instance": row.instance_id},
                )
                return Prepared(row, None, exc.message, now, owner=self.owner)
            log.exception("preparing %s failed unexpectedly", row.id_message)
            failure = f"the file could not be prepared ({type(exc).__name__})"
            return Prepared(row, None, failure, now, owner=self.owner)
        return Prepared(row, media, None, time.time(), owner=self.owner)

    async def _record(self, result: Prepared) -> bool:
        """Write the outcome; False if it could not be written for another reason than a full disk.

        While the disk is full the write is tried again (the lease stays renewed meanwhile, so nobody else
        takes the status up). On any other error it gives up: this task ends, the heartbeat stops renewing
        the lease, and once the lease lapses the status is prepared again.
        """
        try:
            await write_when_room(
                lambda: self._results.submit(result),
                f"the preparation of {result.row.id_message}",
                self.settings,
            )
        except Exception:
            log.exception(
                "recording the preparation of %s failed; it is prepared again once its lease lapses",
                result.row.id_message,
            )
            return False
        return True


def _describe(cause: BaseException) -> str:
    if isinstance(cause, OSError) and cause.strerror:
        return f"{cause.strerror}: {cause.filename}" if cause.filename else cause.strerror
    return str(cause) or type(cause).__name__
