"""The server process: the Green API and the media host over the core, with the worker beside them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from statusgate.api.app import build_app
from statusgate.wiring.core import Core
from statusgate.worker.role import Worker


def server_app(core: Core) -> FastAPI:
    """The ASGI application of ``statusgate serve``: its lifespan opens the core and runs the worker."""
    worker = Worker(core.ctx)
    core.wakeups.attach(worker)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await core.open()
        await worker.start()
        try:
            yield
        finally:
            await worker.stop()
            await core.close()

    return build_app(core.ctx, lifespan=lifespan)
