"""The worker role: every loop that runs in the background, and the engines' live sessions.

Preparation, paced sending and engine events (``dispatcher``), webhook delivery (``webhooks``) and the
periodic sweep (``sweeper``). Under ``--role all`` the API's wake-ups reach it directly (it is the process's
:class:`~statusgate.services.context.Wakeups`); otherwise it finds new work by polling the database.
"""

from __future__ import annotations

import asyncio
import contextlib

from statusgate.domain.models import MediaKind, PreparedMedia
from statusgate.domain.posts import source
from statusgate.engines.base import SupervisedEngine
from statusgate.queue.retry import RetryPolicy
from statusgate.services.context import ServiceContext
from statusgate.store.outbox import StatusRow
from statusgate.worker import sweeper
from statusgate.worker.dispatcher import Dispatcher
from statusgate.worker.webhooks import WebhookSender


class Worker:
    def __init__(self, ctx: ServiceContext, *, retry_policy: RetryPolicy | None = None) -> None:
        self.ctx = ctx
        self.dispatcher = Dispatcher(
            ctx.settings,
            ctx.db,
            ctx.engines,
            prepare_media=self.prepare_media,
            load_media=ctx.prepared.load,
            retry_policy=retry_policy,
        )
        self.webhooks = WebhookSender(ctx)
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        for engine in self.ctx.engines.values():
            if isinstance(engine, SupervisedEngine):
                await engine.start()  # live sessions (child processes) belong to the worker only
        await self.webhooks.start()
        self._sweeper = asyncio.create_task(
            sweeper.run_forever(self.ctx, self._stopping), name="statusgate.sweeper"
        )
        await self.dispatcher.start()

    async def stop(self) -> None:
        """Stop claiming, let sends in flight finish (within the grace period), release what it holds."""
        self._stopping.set()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sweeper
        await self.dispatcher.stop()
        await self.webhooks.stop()

    # --- Wakeups (in-process) -----------------------------------------------------------------------

    def status_queued(self, instance_id: int) -> None:
        self.dispatcher.queued(instance_id)

    def instance_changed(self, instance_id: int) -> None:
        self.dispatcher.wake(instance_id)

    # --- preparation --------------------------------------------------------------------------------

    async def prepare_media(self, row: StatusRow) -> PreparedMedia | None:
        """Fetch (or read), check and convert a queued status's media; None for a text status."""
        file = source(row.post)
        if file is None or row.kind is None:
            return None
        url, file_name = file
        prepared = await self.ctx.preparer.prepare(url, file_name, MediaKind(row.kind))
        await self.ctx.prepared.record(prepared)
        return prepared
