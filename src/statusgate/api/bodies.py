"""Request bodies read whole, capped by what the client announced and by what it actually sends."""

from __future__ import annotations

from starlette.requests import Request

from statusgate.api.validation import wire_int
from statusgate.errors import PayloadTooLargeError


def declared_length(request: Request) -> int:
    """The Content-Length the client announced (0 when absent or unreadable: the stream is capped anyway)."""
    return wire_int(request.headers.get("content-length"), "Content-Length") or 0


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body; :class:`PayloadTooLargeError` as soon as it is known to pass ``limit`` bytes."""
    if declared_length(request) > limit:
        raise PayloadTooLargeError()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError()
        chunks.append(chunk)
    return b"".join(chunks)
