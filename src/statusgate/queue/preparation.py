"""Preparation: queued statuses get their media fetched, checked and stored, a few at a time.

It starts as soon as a status is queued, authorized or not, so a status waiting for the phone does not
depend on its origin URL any more. Claims and results are written in groups.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa

from statusgate.domain.models import PreparedMedia
from statusgate.domain.states import StatusState
from statusgate.errors import MediaError
from statusgate.queue.crashpoints import CrashPoints
from statusgate.settings import Settings
from statusgate.store import outbox
from statusgate.store.batch import Batcher
from statusgate.store.db import Database
from statusgate.store.outbox import StatusRow

log = logging.getLogger("statusgate.queue")

PrepareMedia = Callable[[StatusRow], Awaitable[PreparedMedia | None]]


@dataclass(frozen=True)
class Prepared:
    row: StatusRow
    media: PreparedMedia | None
    #: set when preparation failed: the user-facing reason
    failure: str | None
    at: float


def _record_prepared(conn: sa.Connection, results: list[Prepared]) -> list[None]:
    for result in results:
        if result.failure is None:
            outbox.transition(
                conn,
                result.row.seq,
                StatusState.PREPARING,
                StatusState.READY,
                result.at,
                media_id=result.media.media_id if result.media else None,
                kind=result.media.kind.value if result.media else result.row.kind,
                lease_owner=None,
                lease_expires_at=None,
            )
        else:
            outbox.transition(
                conn,
                result.row.seq,
                StatusState.PREPARING,
                StatusState.FAILED,
                result.at,
                description=result.failure,
                lease_owner=None,
                lease_expires_at=None,
            )
    return [None] * len(results)


def _claim(
    conn: sa.Connection, rows: list[StatusRow], owner: str, now: float, until: float
) -> list[StatusRow]:
    claimed = []
    for row in rows:
        if row.state is StatusState.QUEUED:
            ok = outbox.transition(
                conn,
                row.seq,
                StatusState.QUEUED,
                StatusState.PREPARING,
                now,
                lease_owner=owner,
                lease_expires_at=until,
            )
        else:  # PREPARING whose worker died: the lease expired
            ok = outbox.take_lease(conn, row.seq, StatusState.PREPARING, owner, now, until)
        if ok:
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

    async def start_more(self) -> None:
        """Claim queued statuses (oldest first) up to a small backlog beyond the concurrency."""
        # claims are cheap and preparations often are (cached or small files): keep a good backlog
        free = self.settings.prepare_concurrency * 16 - len(self._running)
        if free <= 0:
            return
        now = time.time()
        rows = await self.db.read(outbox.to_prepare, now, free + len(self._running))
        rows = [r for r in rows if r.seq not in self._running][:free]
        if not rows:
            return
        claimed = await self.db.write(_claim, rows, self.owner, now, now + self.settings.lease_seconds)
        for row in claimed:
            task = asyncio.create_task(self._prepare(row), name=f"statusgate.prepare[{row.id_message}]")
            self._running[row.seq] = task
            task.add_done_callback(functools.partial(self._finished, row.seq))

    def _finished(self, seq: int, _task: asyncio.Task[None]) -> None:
        self._running.pop(seq, None)

    async def _prepare(self, row: StatusRow) -> None:
        async with self._slots:
            failure: str | None = None
            media: PreparedMedia | None = None
            try:
                media = await self.prepare_media(row)
            except MediaError as exc:
                failure = exc.message
            except Exception as exc:
                log.exception("preparing %s failed unexpectedly", row.id_message)
                failure = f"the file could not be prepared ({type(exc).__name__})"
            await self._results.submit(Prepared(row, media, failure, time.time()))
        self.crash.reached("after_prepare")
        self.on_done(row.instance_id)
