"""One exception tree for the whole gateway; ``api/errors.py`` renders it as Green-shaped JSON.

::

    GatewayError                      (500, never raised for bad input)
    ├── ApiError                      an answer to the caller, with its HTTP status and Green's text
    │   ├── ForbiddenError            403 ``Forbidden``: unknown instance, or status access off
    │   ├── UnauthorizedError         401 ``Unauthorized``: wrong token
    │   ├── NotFoundError             404 ``Not Found``: unknown method or wrong HTTP verb
    │   ├── PayloadTooLargeError      413 ``Payload Too Large``
    │   ├── TooManyRequestsError      429 ``Too Many Requests``, with ``Retry-After``
    │   └── BadRequestError           400
    │       ├── ValidationError       400 ``Validation failed. Details: …``
    │       ├── NotAuthorizedError    400 ``instance is starting or not authorized``
    │       └── UnsupportedError      400: the engine cannot do what was asked
    ├── StorageFullError              507 ``Insufficient Storage``: the server's disk (or database) is full
    ├── LeaseLostError                a write on behalf of an instance's owner that no longer holds its lease
    ├── EngineError                   an engine refused or failed a call (classified by queue/retry)
    │   ├── EngineTransientError      worth retrying (network blip, timeout)
    │   └── EnginePermanentError      retrying cannot help (rejected)
    └── MediaError                    urlFile could not be made into a status; the text is user-facing
"""

from __future__ import annotations


class GatewayError(Exception):
    """Internal error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class ApiError(GatewayError):
    """Bad Request"""

    http_status = 400


class ForbiddenError(ApiError):
    """Forbidden"""

    http_status = 403


class UnauthorizedError(ApiError):
    """Unauthorized"""

    http_status = 401


class NotFoundError(ApiError):
    """Not Found"""

    http_status = 404


class PayloadTooLargeError(ApiError):
    """Payload Too Large"""

    http_status = 413


class TooManyRequestsError(ApiError):
    """Too Many Requests"""

    http_status = 429

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__()
        #: whole seconds, as the Retry-After header carries them
        self.retry_after_seconds = retry_after_seconds


class BadRequestError(ApiError):
    """Bad Request"""

    http_status = 400


class ValidationError(BadRequestError):
    """Validation failed."""

    def __init__(self, details: str) -> None:
        super().__init__(f"Validation failed. Details: {details}")
        self.details = details


class NotAuthorizedError(BadRequestError):
    """instance is starting or not authorized"""


class UnsupportedError(BadRequestError):
    """The engine of this instance cannot do that."""


class StorageFullError(GatewayError):
    """Insufficient Storage: the server's disk is full; try again later"""

    http_status = 507


class LeaseLostError(GatewayError):
    """this worker no longer holds the instance's lease: nothing was written (another worker may own it)"""


class EngineError(GatewayError):
    """The engine failed."""


class EngineTransientError(EngineError):
    """The engine failed; trying again may work."""


class EnginePermanentError(EngineError):
    """The engine rejected the request."""


class MediaError(GatewayError):
    """The file could not be made into a status."""
