"""The running gateway: one object that owns the database, the engines, the media store and the queue.

``api`` and ``cli`` build one :class:`Runtime` and call the use-case functions of ``services`` with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import quote, unquote, urlsplit

from statusgate.domain.models import EngineName, MediaKind, PreparedMedia
from statusgate.engines.base import Engine, SupervisedEngine
from statusgate.engines.sandbox import SandboxEngine
from statusgate.engines.sandbox_network import SandboxNetwork
from statusgate.engines.whatsapp.engine import WhatsAppEngine
from statusgate.errors import MediaError
from statusgate.media.convert import ConversionSettings
from statusgate.media.guard import Resolver, UrlGuard
from statusgate.media.prepare import MediaPreparer
from statusgate.media.store import MediaStore
from statusgate.notify.hub import NotificationHub
from statusgate.queue.dispatcher import Dispatcher
from statusgate.services.prepared_media import PreparedMediaStore
from statusgate.settings import Settings
from statusgate.store import media as media_store
from statusgate.store import migrate, outbox
from statusgate.store.batch import Batcher
from statusgate.store.db import Database
from statusgate.store.outbox import NewStatus, StatusRow

if TYPE_CHECKING:
    from statusgate.services.webhooks import WebhookSender

log = logging.getLogger("statusgate.runtime")

MEDIA_PREFIX: Final = "/media/"


class Runtime:
    def __init__(self, settings: Settings, *, resolver: Resolver | None = None) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.effective_database_url, sqlite_synchronous=settings.sqlite_synchronous)
        self.media = MediaStore(settings.media_dir)
        # the resolver is injectable so tests never ask a real DNS server
        self.guard = (
            UrlGuard(allow_private=settings.allow_private_urls)
            if resolver is None
            else UrlGuard(allow_private=settings.allow_private_urls, resolver=resolver)
        )
        self.sandbox = SandboxNetwork(
            self.db,
            reboot_seconds=settings.sandbox_reboot_seconds,
            dedupe=not settings.test_sandbox_no_dedupe,
        )
        self.engines: dict[EngineName, Engine] = {
            EngineName.SANDBOX: SandboxEngine(self.sandbox, timeout_seconds=settings.engine_timeout_seconds),
            # server side only: neonize is imported by the engine's child processes, never here
            EngineName.WHATSAPP: WhatsAppEngine(settings),
        }
        self.prepared = PreparedMediaStore(self.db, self.media)
        self.preparer = MediaPreparer(
            store=self.media,
            guard=self.guard,
            local_source=self.local_media_path,
            max_bytes=settings.max_file_bytes,
            connect_timeout=settings.fetch_connect_timeout_seconds,
            read_timeout=settings.fetch_read_timeout_seconds,
            total_timeout=settings.fetch_total_timeout_seconds,
            max_redirects=settings.fetch_max_redirects,
            conversion=ConversionSettings.from_settings(settings),
            cache=self.prepared,
        )
        #: the front door of the queue: accepted statuses are committed in groups
        self.hub = NotificationHub()
        self.intake: Batcher[NewStatus, None] = Batcher(self.db, outbox.enqueue_many, "intake")
        self.dispatcher: Dispatcher | None = None
        self.webhooks: WebhookSender | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def open(self) -> None:
        await migrate.upgrade(self.db)

    async def start_workers(self) -> None:
        from statusgate.services.webhooks import WebhookSender  # it needs a Runtime itself

        loop = asyncio.get_running_loop()

        def notified(instance_ids: set[int]) -> None:
            loop.call_soon_threadsafe(self.hub.wake, instance_ids)

        self.db.on_notified = notified
        for engine in self.engines.values():
            if isinstance(engine, SupervisedEngine):
                await engine.start()  # the server's engines start their background work; the CLI's never do
        self.webhooks = WebhookSender(self)
        await self.webhooks.start()
        from statusgate.services import sweeper

        self._sweeper = asyncio.create_task(
            sweeper.run_forever(self, self._stopping), name="statusgate.sweeper"
        )
        self.dispatcher = Dispatcher(
            self.settings,
            self.db,
            self.engines,
            prepare_media=self._prepare_status_media,
            load_media=self.load_media,
        )
        await self.dispatcher.start()

    async def close(self) -> None:
        self._stopping.set()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sweeper
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self.webhooks is not None:
            await self.webhooks.stop()
        for engine in self.engines.values():
            await engine.close()
        await self.db.dispose()

    def queued(self, instance_id: int) -> None:
        if self.dispatcher is not None:
            self.dispatcher.queued(instance_id)

    def wake(self, instance_id: int | None = None) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake(instance_id)

    def engine(self, name: EngineName) -> Engine:
        try:
            return self.engines[name]
        except KeyError:
            raise MediaError(f"engine {name.value} is not available in this server") from None

    # --- media links ----------------------------------------------------------------------------------

    def media_url(self, upload_id: str, file_name: str) -> str:
        return f"{self.settings.effective_public_url}{MEDIA_PREFIX}{upload_id}/{quote(file_name)}"

    def prepared_media_url(self, media_id: str, file_name: str) -> str:
        """Where a prepared file is served (getOutgoing/IncomingStatuses' downloadUrl)."""
        return f"{self.settings.effective_public_url}{MEDIA_PREFIX}p/{media_id}/{quote(file_name)}"

    def is_own_media_url(self, url: str) -> bool:
        return self.own_upload_id(url) is not None

    def own_upload_id(self, url: str) -> str | None:
        """The upload id if ``url`` is a media link this server handed out (``<public-url>/media/<id>/<name>``)."""
        base = urlsplit(self.settings.effective_public_url)
        try:
            parts = urlsplit(url)
        except ValueError:  # an unbalanced IPv6 bracket, say: not a link this server made
            return None
        if (parts.scheme, parts.netloc.lower()) != (base.scheme, base.netloc.lower()):
            return None
        path = unquote(parts.path)
        prefix = base.path.rstrip("/") + MEDIA_PREFIX
        if not path.startswith(prefix):
            return None
        upload_id, _, _name = path[len(prefix) :].partition("/")
        return upload_id or None

    async def local_media_path(self, url: str) -> Path | None:
        upload_id = self.own_upload_id(url)
        if upload_id is None:
            return None
        if upload_id == "p":  # a prepared file this server serves (a downloadUrl it handed out)
            media_id = unquote(urlsplit(url).path).rsplit("/", 2)[-2]
            prepared = await self.prepared.load(media_id)
            if prepared is None:
                raise MediaError(f"urlFile points at this server, but {url} does not exist any more")
            return prepared.path
        upload = await self.db.read(media_store.get_upload, upload_id)
        if upload is None:
            raise MediaError(f"urlFile points at this server, but {url} does not exist (expired upload?)")
        return self.media.blob_path(upload.sha256)

    async def _prepare_status_media(self, row: StatusRow) -> PreparedMedia | None:
        url = row.body.get("urlFile")
        if not url or row.kind is None:
            return None
        prepared = await self.preparer.prepare(url, row.body["fileName"], MediaKind(row.kind))
        await self.prepared.record(prepared)
        return prepared

    async def load_media(self, media_id: str) -> PreparedMedia | None:
        return await self.prepared.load(media_id)
