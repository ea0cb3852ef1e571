"""The one place errors become HTTP answers: Green's shape for every status code."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse

from statusgate.errors import (
    ApiError,
    EngineError,
    EnginePermanentError,
    StorageFullError,
    TooManyRequestsError,
)
from statusgate.redaction import redact_path

log = logging.getLogger("statusgate.api")


def error_body(path: str, status: int, message: str) -> JSONResponse:
    """Green's error body; ``path`` must already be redacted."""
    return JSONResponse(
        {
            "statusCode": status,
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "path": path,
            "message": message,
        },
        status_code=status,
    )


def error_response(request: Request, status: int, message: str) -> JSONResponse:
    # the scope's path, not request.url: building a URL parses the Host header, which a client controls
    return error_body(redact_path(request.scope.get("path", "")), status, message)


async def api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = error_response(request, exc.http_status, exc.message)
    if isinstance(exc, TooManyRequestsError):
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


async def engine_error(request: Request, exc: Exception) -> JSONResponse:
    """The engine could not do what a request needed right now (phone unreachable, engine restarting):
    Green's 502, which its clients retry; a refusal by WhatsApp itself is a 400."""
    assert isinstance(exc, EngineError)
    if isinstance(exc, EnginePermanentError):
        return error_response(request, 400, exc.message)
    log.warning(
        "engine failed on %s %s: %s", request.method, redact_path(request.scope.get("path", "")), exc.message
    )
    return error_response(request, 502, f"Bad Gateway: {exc.message}")


async def storage_full(request: Request, exc: Exception) -> JSONResponse:
    """Nothing was stored (the write failed as a whole): the client may try again once there is room."""
    assert isinstance(exc, StorageFullError)
    log.error("storage full on %s %s: %s", request.method, redact_path(request.scope.get("path", "")), exc)
    return error_response(request, StorageFullError.http_status, StorageFullError().message)


async def not_found(request: Request, _exc: Exception) -> JSONResponse:
    return error_response(request, 404, "Not Found")
