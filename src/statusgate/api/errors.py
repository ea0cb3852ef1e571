"""The one place errors become HTTP answers: Green's shape for every status code."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse

from statusgate.errors import ApiError, EngineError, EnginePermanentError

log = logging.getLogger("statusgate.api")

_TOKEN_IN_PATH = re.compile(r"(/waInstance[^/]*/[^/]+/)([^/?#\s\"']+)")


def redact_path(path: str) -> str:
    """The request path with the API token replaced by ``***`` (error bodies and logs never show tokens)."""
    return _TOKEN_IN_PATH.sub(r"\1***", path)


def error_response(request: Request, status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "statusCode": status,
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "path": redact_path(request.url.path),
            "message": message,
        },
        status_code=status,
    )


async def api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(request, exc.http_status, exc.message)


async def engine_error(request: Request, exc: Exception) -> JSONResponse:
    """The engine could not do what a request needed right now (phone unreachable, engine restarting):
    Green's 502, which its clients retry; a refusal by WhatsApp itself is a 400."""
    assert isinstance(exc, EngineError)
    if isinstance(exc, EnginePermanentError):
        return error_response(request, 400, exc.message)
    log.warning("engine failed on %s %s: %s", request.method, redact_path(request.url.path), exc.message)
    return error_response(request, 502, f"Bad Gateway: {exc.message}")


async def not_found(request: Request, _exc: Exception) -> JSONResponse:
    return error_response(request, 404, "Not Found")


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "unhandled error on %s %s: %r", request.method, redact_path(request.url.path), exc, exc_info=exc
    )
    return error_response(request, 500, "Internal Server Error")
