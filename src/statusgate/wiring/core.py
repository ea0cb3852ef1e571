"""The composition root: from one Settings, everything a process needs, built once and wired together.

This package is the only place that knows every part of the gateway. It builds the *core* (database, media
store, URL guard, engines, the simulated network, the notification hub, the intake) as a
:class:`~statusgate.services.context.ServiceContext`, and on top of it the roles (``wiring.server``). Nothing
below imports it back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from statusgate.domain.models import EngineName
from statusgate.engines.baileys.engine import BaileysEngine
from statusgate.engines.base import Engine
from statusgate.engines.sandbox import SandboxEngine
from statusgate.engines.sandbox_network import SandboxNetwork
from statusgate.engines.whatsapp.engine import WhatsAppEngine
from statusgate.media.links import MediaLinks
from statusgate.media.store import MediaStore
from statusgate.notify.hub import NotificationHub
from statusgate.services.context import MediaTools, ServiceContext, Wakeups
from statusgate.services.media import OwnMedia
from statusgate.services.prepared_media import PreparedMediaStore
from statusgate.settings import Settings
from statusgate.store import intake, migrate
from statusgate.store.batch import Batcher
from statusgate.store.db import Database
from statusgate.store.signals import Listener, Signal

if TYPE_CHECKING:
    from statusgate.media.guard import Resolver


class LocalWakeups:
    """The process's wake-up channel: forwards to the worker running in this process, if any."""

    def __init__(self) -> None:
        self._target: Wakeups | None = None

    def attach(self, target: Wakeups) -> None:
        self._target = target

    def status_queued(self, instance_id: int) -> None:
        if self._target is not None:
            self._target.status_queued(instance_id)

    def instance_changed(self, instance_id: int) -> None:
        if self._target is not None:
            self._target.instance_changed(instance_id)

    def command_submitted(self, instance_id: int) -> None:
        if self._target is not None:
            self._target.command_submitted(instance_id)


class Core:
    """What every process of a deployment shares; ``await open()`` before use, ``await close()`` after."""

    def __init__(self, settings: Settings, *, resolver: Resolver | None = None) -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.effective_database_url, sqlite_synchronous=settings.sqlite_synchronous)
        files = MediaStore(settings.media_dir)
        sandbox = SandboxNetwork(db, reboot_seconds=settings.sandbox_reboot_seconds)
        engines: dict[EngineName, Engine] = {
            EngineName.SANDBOX: SandboxEngine(sandbox, timeout_seconds=settings.engine_timeout_seconds),
            # neonize is imported by the engine's child processes, never in this process
            EngineName.WHATSAPP: WhatsAppEngine(settings, db),
            # Node runs in the engine's child processes only
            EngineName.BAILEYS: BaileysEngine(settings, db),
        }
        prepared = PreparedMediaStore(db, files)
        links = MediaLinks(settings.effective_public_url)

        def media_tools() -> MediaTools:
            # imported here, not at the top: most CLI commands never fetch or convert, and these modules
            # (httpx, PyAV, Pillow, pyvips) are the slowest part of their start
            from statusgate.media.convert import ConversionSettings
            from statusgate.media.guard import UrlGuard
            from statusgate.media.prepare import MediaPreparer

            # the resolver is injectable so tests never ask a real DNS server
            guard = (
                UrlGuard(allow_private=settings.allow_private_urls)
                if resolver is None
                else UrlGuard(allow_private=settings.allow_private_urls, resolver=resolver)
            )
            preparer = MediaPreparer(
                store=files,
                guard=guard,
                local_source=OwnMedia(links, db, files, prepared).local_path,
                max_bytes=settings.max_file_bytes,
                connect_timeout=settings.fetch_connect_timeout_seconds,
                read_timeout=settings.fetch_read_timeout_seconds,
                total_timeout=settings.fetch_total_timeout_seconds,
                max_redirects=settings.fetch_max_redirects,
                conversion=ConversionSettings.from_settings(settings),
                cache=prepared,
            )
            return MediaTools(guard, preparer)

        self.wakeups = LocalWakeups()
        self._listener: Listener | None = None
        self.ctx = ServiceContext(
            settings=settings,
            db=db,
            media=files,
            prepared=prepared,
            links=links,
            engines=engines,
            sandbox=sandbox,
            make_media_tools=media_tools,
            # the intake's groups are two statements: quick enough to commit on the event loop
            intake=Batcher(db, intake.enqueue_many, "intake", inline=True),
            hub=NotificationHub(),
            wakeups=self.wakeups,
        )

    async def open(self) -> None:
        """Bring the database to this release's schema and wake this process's waiters on its commits."""
        await migrate.upgrade(self.ctx.db)
        loop = asyncio.get_running_loop()
        hub = self.ctx.hub

        def announced(instance_ids: frozenset[int]) -> None:
            # told in the database's writer thread; the hub and its waiters live on this loop
            loop.call_soon_threadsafe(hub.wake, instance_ids)

        self.ctx.db.on_announced = announced

    def listen(self) -> None:
        """On PostgreSQL, hear the other processes' commits at once (``store.signals``): statuses queued and
        commands submitted wake this process's worker, notifications its long-polls and webhook senders.
        For servers only: a CLI command waits for nothing."""
        if self.ctx.db.is_sqlite or self._listener is not None:
            return
        hub, wakeups = self.ctx.hub, self.wakeups

        def on_signal(signal: Signal, instance_id: int) -> None:
            if signal is Signal.STATUS_QUEUED:
                wakeups.status_queued(instance_id)
            elif signal is Signal.COMMAND_SUBMITTED:
                wakeups.command_submitted(instance_id)
            else:
                hub.wake((instance_id,))

        conninfo = self.ctx.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._listener = Listener(conninfo, on_signal)
        self._listener.start()

    @property
    def listener(self) -> Listener | None:
        return self._listener

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        for engine in self.ctx.engines.values():
            await engine.close()
        await self.ctx.db.dispose()


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[ServiceContext]:
    """A core for one command (the CLI): opened, handed out, closed whatever happens."""
    core = Core(settings)
    try:
        await core.open()
        yield core.ctx
    finally:
        await core.close()
