"""Writing what must not be lost while the disk is full: wait for room and try again, never give up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from statusgate.errors import StorageFullError
from statusgate.queue.retry import next_wait
from statusgate.settings import Settings

T = TypeVar("T")
log = logging.getLogger("statusgate.queue")


async def write_when_room(write: Callable[[], Awaitable[T]], what: str, settings: Settings) -> T:
    """``await write()`` until the database has room for it; the waits double from
    ``prepare_retry_base_seconds`` up to ``prepare_retry_cap_seconds``. Any other error is raised."""
    wait: float | None = None
    while True:
        try:
            return await write()
        except StorageFullError:
            wait = next_wait(wait, settings.prepare_retry_base_seconds, settings.prepare_retry_cap_seconds)
            log.warning("recording %s failed: the disk is full; trying again in %.3g s", what, wait)
            await asyncio.sleep(wait)
