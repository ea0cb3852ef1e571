"""The server process in its three roles, over one core.

- ``all``: the Green API and the media host, with the worker beside them (wake-ups go straight to it).
- ``api``: the Green API and the media host only. It starts no engine session and sends nothing; what it
  writes (statuses, commands) the workers hear of at the commit on PostgreSQL (``store.signals``) and find
  by polling the database on SQLite, and what the workers write (notifications, command answers) it learns
  the same way.
- ``worker``: everything else, and only ``/health`` over HTTP, on its own port.
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from statusgate.api.app import build_app
from statusgate.api.metrics_page import metrics_routes
from statusgate.services import health
from statusgate.wiring.core import Core
from statusgate.worker.role import Worker

ROLES = ("all", "api", "worker")


def server_app(core: Core, role: str = "all") -> ASGIApp:
    """The ASGI application of ``statusgate serve --role ROLE``: its lifespan opens the core (and runs the
    worker, in the roles that have one) and closes it on shutdown."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    core.ctx.load_media_tools()
    worker = Worker(core.ctx) if role in ("all", "worker") else None
    if worker is not None:
        core.wakeups.attach(worker)

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await core.open()
        core.listen()
        if worker is not None:
            await worker.start()
        # The cyclic collector's pauses delay every send due meanwhile: with Python's defaults, 30-50 ms
        # pauses every few seconds under load (bench/dispatch.py, 200 instances: lateness p99 22-90 ms).
        # Everything made so far lives as long as the process, so it is put out of the collector's sight
        # (a full collection no longer walks it), and collections start after 7,000 allocations instead of
        # 700, so fewer of them walk what the sends keep alive meanwhile (p99 8-27 ms).
        gc.freeze()
        gc.set_threshold(7000, 10, 10)
        try:
            yield
        finally:
            core.ctx.stopping.set()
            if worker is not None:
                await worker.stop()
            await core.close()

    if role == "worker":
        return _worker_app(core, lifespan)
    return build_app(core.ctx, lifespan=lifespan)


def _worker_app(core: Core, lifespan: Any) -> Starlette:
    started = time.time()

    async def health_page(_request: Request) -> JSONResponse:
        report = await health.report(core.ctx)
        report |= {"role": "worker", "uptimeSeconds": round(time.time() - started, 1)}
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    routes = [Route("/health", health_page, methods=["GET"]), *metrics_routes(core.ctx)]
    return Starlette(routes=routes, lifespan=lifespan)
