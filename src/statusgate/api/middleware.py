"""The ASGI layers around the routes: the requests counted for /metrics, a last-resort 500 that keeps the
connection, and CORS."""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statusgate import metrics
from statusgate.api.errors import error_body
from statusgate.api.methods import METHODS
from statusgate.redaction import redact_path

log = logging.getLogger("statusgate.api")


class InternalErrors:
    """An exception no handler took becomes Green's 500 body — and goes no further.

    Starlette's outermost error layer re-raises after answering, and uvicorn then closes the connection, so
    one fault would break the client's keep-alive connection (its next request on it fails). Caught here,
    the fault is logged once and the connection stays usable. Once a response has started nothing can be
    answered any more, and the exception goes on as before.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            path = redact_path(scope.get("path", ""))
            log.error("unhandled error on %s %s: %r", scope.get("method"), path, exc, exc_info=exc)
            if started:
                raise
            response = error_body(path, 500, "Internal Server Error")
            await response(scope, receive, send)


class RequestCounts:
    """Counts each Green request by method and the status code it was answered (``statusgate_http_requests``):
    outermost, so the last-resort 500 is counted too. The label is the method's own name (any case in the
    path counts as it), ``other`` for a method statusgate does not serve; never the instance or the token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        label = _green_method(scope.get("path", "")) if scope["type"] == "http" else None
        if label is None:
            await self.app(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                metrics.HTTP_REQUESTS.labels(label, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, watch)


def _green_method(path: str) -> str | None:
    parts = path.split("/", 3)
    if len(parts) < 3 or not parts[1].startswith("waInstance"):
        return None
    method = METHODS.get(parts[2].lower())
    return method.name if method is not None else "other"


class GreenCors(CORSMiddleware):
    """Starlette's CORS, answering preflights as Green documents them: 204 No Content.

    Origins that are not allowed get the 204 without CORS headers, so the browser refuses the call itself.
    """

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code != 200:
            return Response(status_code=204)
        headers = {
            k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-type")
        }
        return Response(status_code=204, headers=headers)


def cors_origins(setting: str) -> list[str]:
    """The ``cors_allowed_origins`` setting (comma-separated) as a list; empty means no browser access."""
    return [origin.strip().rstrip("/") for origin in setting.split(",") if origin.strip()]
