"""What a use case is given: the stores, the links it hands out, the engines and a way to wake the worker.

Built once by the composition root (``statusgate.wiring``) and passed down; nothing here builds, starts or
stops anything. Services import this module and lower layers only, so they can never reach back into the
wiring or the worker's loops.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol

from statusgate.domain.models import EngineName
from statusgate.engines.base import Engine
from statusgate.engines.sandbox_network import SandboxNetwork
from statusgate.errors import GatewayError
from statusgate.media.links import MediaLinks
from statusgate.media.store import MediaStore
from statusgate.notify.hub import NotificationHub
from statusgate.services.prepared_media import PreparedMediaStore
from statusgate.settings import Settings
from statusgate.store.batch import Batcher
from statusgate.store.db import Database
from statusgate.store.intake import NewStatus

if TYPE_CHECKING:
    from statusgate.media.guard import UrlGuard
    from statusgate.media.prepare import MediaPreparer


class Wakeups(Protocol):
    """Tells the worker that something changed now, rather than at its next look at the database.

    Only an optimisation: a worker in another process (or none at all: the CLI) finds every change by
    polling anyway.
    """

    def status_queued(self, instance_id: int) -> None:
        """A status was queued for the instance: prepare it, and make sure a sender runs."""

    def instance_changed(self, instance_id: int) -> None:
        """Settings, queue or state of the instance changed (clear, delete, setSettings…)."""

    def command_submitted(self, instance_id: int) -> None:
        """A command for the instance's live session waits to be carried out."""


class NoWakeups:
    """No worker in this process: it will find the change when it polls."""

    def status_queued(self, instance_id: int) -> None:
        return None

    def instance_changed(self, instance_id: int) -> None:
        return None

    def command_submitted(self, instance_id: int) -> None:
        return None


class MediaTools(NamedTuple):
    guard: UrlGuard
    preparer: MediaPreparer


class EngineUnavailableError(GatewayError):
    """This server has no such engine."""


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    db: Database
    #: files: uploads, prepared media, temporary downloads
    media: MediaStore
    #: prepared media's rows (and the source → media cache)
    prepared: PreparedMediaStore
    links: MediaLinks
    engines: Mapping[EngineName, Engine]
    #: the simulated network (the sandbox engine's world; the CLI acts as its phones)
    sandbox: SandboxNetwork
    #: makes :attr:`guard` and :attr:`preparer`, at their first use: they import httpx, PyAV, Pillow and
    #: pyvips, which a CLI command rarely needs and would otherwise wait for at every start
    make_media_tools: Callable[[], MediaTools]
    #: accepted statuses are committed in groups (the front door of the queue)
    intake: Batcher[NewStatus, None]
    #: wakes long-polls and webhook senders when notifications are journaled
    hub: NotificationHub
    wakeups: Wakeups
    #: set when the process begins to shut down: long-polls answer at once (with null)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @functools.cached_property
    def _media_tools(self) -> MediaTools:
        return self.make_media_tools()

    def load_media_tools(self) -> MediaTools:
        """Make :attr:`guard` and :attr:`preparer` now if they are not made yet; a server calls this at its
        start, so that their imports never hold up its event loop."""
        return self._media_tools

    @property
    def guard(self) -> UrlGuard:
        """Checks every URL the gateway fetches or posts to."""
        return self._media_tools.guard

    @property
    def preparer(self) -> MediaPreparer:
        """fetch → check → convert, for the worker's preparation and the sandbox's incoming media."""
        return self._media_tools.preparer

    def engine(self, name: EngineName) -> Engine:
        try:
            return self.engines[name]
        except KeyError:
            raise EngineUnavailableError(f"engine {name.value} is not available in this server") from None
