"""The worker role: every loop that runs in the background, and the engines' live sessions.

Preparation, paced sending and engine events (``dispatcher``), webhook delivery (``webhooks``) and the
periodic sweep (``sweeper``). Under ``--role all`` the API's wake-ups reach it directly (it is the process's
:class:`~statusgate.services.context.Wakeups`); otherwise it finds new work by polling the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket

from statusgate.domain.models import MediaKind, PreparedMedia
from statusgate.domain.ownership import Fence
from statusgate.domain.posts import source
from statusgate.engines.base import SupervisedEngine
from statusgate.queue.retry import RetryPolicy
from statusgate.services.context import ServiceContext
from statusgate.store import workers
from statusgate.store.outbox import StatusRow
from statusgate.worker import sweeper
from statusgate.worker.commands import CommandRunner
from statusgate.worker.dispatcher import Dispatcher
from statusgate.worker.ownership import Ownership
from statusgate.worker.webhooks import WebhookSender

log = logging.getLogger("statusgate.worker")


class EngineSessions:
    """Live sessions follow ownership: an engine connects an instance when this worker takes it and
    disconnects it when the worker loses or hands it back (before the database says it is free)."""

    def __init__(self, engines: list[SupervisedEngine]) -> None:
        self.engines = engines

    async def gained(self, instance_ids: list[int]) -> None:
        for engine in self.engines:
            try:
                await engine.hold(instance_ids)
            except Exception:
                log.exception("connecting %d instance(s) failed", len(instance_ids))

    async def lost(self, instance_ids: list[int]) -> None:
        for engine in self.engines:
            try:
                await engine.let_go(instance_ids)
            except Exception:
                log.exception("disconnecting %d instance(s) failed", len(instance_ids))


class Worker:
    def __init__(self, ctx: ServiceContext, *, retry_policy: RetryPolicy | None = None) -> None:
        self.ctx = ctx
        self.worker_id = secrets.token_hex(8)
        self.ownership = Ownership(
            ctx.settings, ctx.db, self.worker_id, busy=lambda instance_id: self.dispatcher.busy(instance_id)
        )
        self.dispatcher = Dispatcher(
            ctx.settings,
            ctx.db,
            ctx.engines,
            prepare_media=self.prepare_media,
            load_media=ctx.prepared.load,
            owner=self.worker_id,
            ownership=self.ownership,
            retry_policy=retry_policy,
        )
        self.sessions = EngineSessions(
            [engine for engine in ctx.engines.values() if isinstance(engine, SupervisedEngine)]
        )
        self.ownership.subscribe(self.sessions)
        self.webhooks = WebhookSender(ctx, self.ownership.held)
        self.ownership.subscribe(self.webhooks)
        self.commands = CommandRunner(ctx, self.worker_id, self.ownership.held)
        self._sweeper: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await self.ctx.db.write(workers.prune, 10 * self.ctx.settings.lease_seconds)
        # registered (and so counted live) before claiming: the fair share counts this worker in
        await self.ctx.db.write(workers.register, self.worker_id, socket.gethostname(), os.getpid())
        self._heartbeat = asyncio.create_task(self._beat(), name="statusgate.worker-heartbeat")
        for engine in self.ctx.engines.values():
            if isinstance(engine, SupervisedEngine):
                # live sessions (child processes) belong to the worker only
                await engine.start(self.fence_of)
        await self.webhooks.start()
        self._sweeper = asyncio.create_task(
            sweeper.run_forever(self.ctx, self._stopping), name="statusgate.sweeper"
        )
        await self.ownership.start()
        await self.dispatcher.start()
        await self.commands.start()

    def fence_of(self, instance_id: int) -> Fence | None:
        """What this worker's writes for ``instance_id`` carry, while it holds the instance."""
        lease = self.ownership.lease(instance_id)
        return None if lease is None else Fence(self.worker_id, lease)

    async def stop(self) -> None:
        """Stop claiming, let sends in flight finish (within the grace period), release what it holds."""
        self._stopping.set()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sweeper
        await self.commands.stop()
        for status, seconds in self.ctx.preparer.converting().items():
            # the status itself is prepared again by whoever takes it up; the thread cannot be cut short
            log.info(
                "stopping: waiting for the conversion of status %s to end (running for %.0f s; it is given "
                "up after conversion_timeout_seconds = %g s)",
                status,
                seconds,
                self.ctx.settings.conversion_timeout_seconds,
                extra={"idMessage": status, "convertingSeconds": round(seconds, 1)},
            )
        await self.dispatcher.stop()
        # handed back as soon as nothing is sent for them any more: other workers take them at once
        await self.ownership.stop()
        await self.webhooks.stop()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.ctx.db.write(workers.unregister, self.worker_id)

    async def _beat(self) -> None:
        """API nodes answer "no worker" at once when no heartbeat is fresh (within the lease)."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.ctx.settings.lease_seconds / 3)
            try:
                if not await self.ctx.db.write(workers.heartbeat, self.worker_id):
                    # pruned while away (a long stall): come back
                    await self.ctx.db.write(
                        workers.register, self.worker_id, socket.gethostname(), os.getpid()
                    )
            except Exception:
                log.exception("worker heartbeat failed")

    # --- Wakeups (in-process) -----------------------------------------------------------------------

    def status_queued(self, instance_id: int) -> None:
        self.dispatcher.queued(instance_id)

    def instance_changed(self, instance_id: int) -> None:
        self.ownership.wake()  # maybe a new instance, to be taken
        self.dispatcher.wake(instance_id)

    def command_submitted(self, instance_id: int) -> None:
        self.commands.wake()

    # --- preparation --------------------------------------------------------------------------------

    async def prepare_media(self, row: StatusRow) -> PreparedMedia | None:
        """Fetch (or read), check and convert a queued status's media; None for a text status."""
        file = source(row.post)
        if file is None or row.kind is None:
            return None
        url, file_name = file
        prepared = await self.ctx.preparer.prepare(url, file_name, MediaKind(row.kind), status=row.id_message)
        await self.ctx.prepared.record(prepared)
        return prepared
