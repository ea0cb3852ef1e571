"""build_app(settings): the ASGI application — Green routes, the media host, health, and the workers' lifespan."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from statusgate.api.bodies import read_capped
from statusgate.api.console import console_routes
from statusgate.api.context import Call
from statusgate.api.docs_pages import docs_routes
from statusgate.api.errors import api_error, engine_error, not_found, storage_full
from statusgate.api.methods import METHODS
from statusgate.api.metrics_page import metrics_routes
from statusgate.api.middleware import GreenCors, InternalErrors, RequestCounts, cors_origins
from statusgate.api.partner import partner_routes
from statusgate.api.rate_limits import RateLimiter
from statusgate.api.schemas import Schemas
from statusgate.api.throttle import FailureThrottle
from statusgate.errors import (
    ApiError,
    EngineError,
    ForbiddenError,
    NotFoundError,
    StorageFullError,
)
from statusgate.services import health
from statusgate.services import media as media_service
from statusgate.services.context import ServiceContext
from statusgate.services.instances import Authenticator
from statusgate.settings import Settings, parse_rate_overrides

log = logging.getLogger("statusgate.api")


class _Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        # Green's bodies are UTF-8 JSON with non-ASCII kept as is
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


#: what /media/ serves inline; anything else (HTML, SVG, scripts, PDFs…) is a download, so nothing uploaded
#: can run as a page of this origin
_INLINE_TYPES = ("image/", "video/", "audio/")
_NOT_INLINE = frozenset({"image/svg+xml"})
_MEDIA_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


def media_headers(mime_type: str, file_name: str) -> dict[str, str]:
    """Headers of every file under ``/media/``: never sniffed, never scripted, inline only if a picture,
    a video or a sound (uploads made before this rule included: it is decided when the file is served)."""
    bare = mime_type.split(";", 1)[0].strip().lower()
    inline = bare.startswith(_INLINE_TYPES) and bare not in _NOT_INLINE
    disposition = "inline" if inline else "attachment"
    return _MEDIA_HEADERS | {"Content-Disposition": f"{disposition}; filename*=UTF-8''{_quote(file_name)}"}


class GreenRouter:
    """``/waInstance{idInstance}/{method}/{apiTokenInstance}[/{extra}]``, checked in Green's order:
    instance (403) → token (401) → method and verb (404) → status access (403) → body (400)."""

    def __init__(self, ctx: ServiceContext, auth: Authenticator, schemas: Schemas) -> None:
        self.ctx = ctx
        self.auth = auth
        self.fail_method = ctx.settings.test_fail_method.lower()
        self.limiter = rate_limiter(ctx.settings)
        self.bodies = {key: m.body(schemas) if m.body else None for key, m in METHODS.items()}
        self.declared = {key: frozenset(p.name for p in m.query) for key, m in METHODS.items()}
        # every answer leaves through its method's shape: checked, then serialised from the checked value
        self.answers: dict[str, TypeAdapter[Any]] = {
            key: TypeAdapter(m.response) for key, m in METHODS.items() if m.response is not None
        }

    async def handle(self, request: Request) -> Response:
        params = request.path_params
        instance = await self.auth.instance(params["id_instance"])
        self.auth.check_token(instance, params["token"])
        key = params["method"].lower()
        method = METHODS.get(key)
        if method is None or request.method not in method.verbs or ("extra" in params) != method.takes_extra:
            raise NotFoundError()
        if self.limiter is not None:
            self.limiter.check(instance.id_instance, method.name)
        if method.status_method and not instance.status_access:
            raise ForbiddenError()
        if method.name.lower() == self.fail_method:
            raise RuntimeError(f"test fault in {method.name} (the test_fail_method setting)")
        limit = self.ctx.settings.max_body_bytes
        model = self.bodies[key]
        body = await read_capped(request, limit) if model is not None else b""
        call = Call(
            self.ctx, self.auth, instance, request, body, model, self.declared[key], params.get("extra")
        )
        result = await method.handler(call)
        answer = self.answers.get(key)
        if answer is None:
            return Response(status_code=200)
        # non-ASCII is kept as is, as in Green's bodies
        return Response(answer.dump_json(answer.validate_python(result)), media_type="application/json")


def rate_limiter(settings: Settings) -> RateLimiter | None:
    """Green's limits from the method table, changed by ``rate_limit_overrides``; None when they are off."""
    if settings.rate_limits == "off":
        return None
    limits = {m.name.lower(): m.rate_limit for m in METHODS.values() if m.rate_limit is not None}
    for name, rate in parse_rate_overrides(settings.rate_limit_overrides).items():
        if name not in METHODS:
            log.warning("rate_limit_overrides names %r, a method statusgate does not serve: ignored", name)
        elif rate is None:
            limits.pop(name, None)
        else:
            limits[name] = rate
    return RateLimiter(limits, api_nodes=settings.rate_limit_api_nodes)


Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def build_app(ctx: ServiceContext, *, lifespan: Lifespan | None = None) -> Starlette:
    """The Green routes and the media host over ``ctx``; ``lifespan`` (the composition root's) opens and
    closes what the process runs — without one, the caller has opened ``ctx`` itself."""
    settings = ctx.settings
    auth = Authenticator(ctx)
    schemas = Schemas(settings)
    router = GreenRouter(ctx, auth, schemas)

    async def health_page(_request: Request) -> Response:
        report = await health.report(ctx)
        return _Json(report, status_code=200 if report["status"] == "ok" else 503)

    async def media_file(request: Request) -> Response:
        found = await media_service.find_upload(ctx, request.path_params["upload_id"])
        if found is None:
            raise NotFoundError()
        path, mime_type, file_name = found
        return FileResponse(path, media_type=mime_type, headers=media_headers(mime_type, file_name))

    async def prepared_file(request: Request) -> Response:
        found = await ctx.prepared.load(request.path_params["media_id"])
        if found is None:
            raise NotFoundError()
        name = request.path_params["file_name"]
        return FileResponse(
            found.path, media_type=found.mime_type, headers=media_headers(found.mime_type, name)
        )

    async def preflight(_request: Request) -> Response:
        # CORS preflights from allowed origins are answered by GreenCors; this is every other OPTIONS
        return Response(status_code=204)

    verbs = ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD"]
    # Green's calls first: nearly every request is one, and the router tries the routes in order (an OPTIONS
    # request still reaches ``preflight``: a route whose verbs do not match is passed over)
    # one count of wrong tokens per client, whether guessed at /partner/* or at the console's sign-in
    sign_in_failures = FailureThrottle(settings.partner_failures_per_minute)
    routes: list[BaseRoute] = [
        Route("/waInstance{id_instance}/{method}/{token}", router.handle, methods=verbs),
        Route("/waInstance{id_instance}/{method}/{token}/{extra}", router.handle, methods=verbs),
        Route("/media/p/{media_id}/{file_name}", prepared_file, methods=["GET", "HEAD"]),
        Route("/media/{upload_id}/{file_name}", media_file, methods=["GET", "HEAD"]),
        Route("/health", health_page, methods=["GET"]),
        *metrics_routes(ctx),
        *partner_routes(ctx, schemas, auth, sign_in_failures),
        *console_routes(ctx, schemas, auth, sign_in_failures),
        *docs_routes(settings),
        Route("/{any:path}", preflight, methods=["OPTIONS"]),
    ]
    middleware = [Middleware(RequestCounts), Middleware(InternalErrors)]
    origins = cors_origins(settings.cors_allowed_origins)
    if origins:
        # without allowed origins CORS has nothing to add (``preflight`` answers every OPTIONS), so the
        # layer, which reads every request's headers, is left out
        middleware.append(
            Middleware(
                GreenCors,
                allow_origins=origins,
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["*"],
                expose_headers=["Retry-After"],
                max_age=600,
            )
        )
    # Starlette rather than FastAPI: every route here is a plain Starlette route (the Green methods are
    # dispatched and validated by GreenRouter), and FastAPI's extra layers would cost each request for nothing
    app = Starlette(
        lifespan=lifespan,
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ApiError: api_error,
            EngineError: engine_error,
            StorageFullError: storage_full,
            StarletteHTTPException: not_found,
        },
    )
    return app


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
