"""Logging set-up shared by ``serve`` and uvicorn: every line passes through a token-redacting formatter."""

from __future__ import annotations

import logging
import re
from typing import Any

_TOKEN_IN_PATH = re.compile(r"(/waInstance[^/\s]*/[^/\s]+/)([^/?#\s\"']+)")


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then replaces the token segment of any Green API path with ``***``.

    uvicorn's access log prints the request path, and Green puts the API token in the path, so redaction
    has to happen on the final text, whatever logger produced it.
    """

    def format(self, record: logging.LogRecord) -> str:
        return _TOKEN_IN_PATH.sub(r"\1***", super().format(record))


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server, uvicorn's loggers included."""
    formatter = {
        "()": f"{__name__}.RedactingFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"redacting": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "redacting",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            "aiosqlite": {"level": "WARNING"},
        },
    }
