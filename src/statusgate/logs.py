"""Logging set-up shared by ``serve`` and uvicorn: every line passes through a token-redacting formatter,
as text or as one JSON object per line (``log_format``)."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

from statusgate.redaction import redact_target, redact_text


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks what could be a secret in the final text (tracebacks included).

    Green puts the API token in the URL path, and any logger (uvicorn's, a library's) may print a path or a
    URL, so this runs on the finished line whatever produced it.
    """

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


#: the LogRecord attributes that are not a record's own fields (python-json-logger's default list)
_RESERVED = list(JsonFormatter().reserved_attrs)


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per record (the record's ``extra`` fields included), masked as the text lines are:
    on the finished line, whatever field a secret ended up in."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class AccessPathFilter(logging.Filter):
    """uvicorn's access log hands the request target over as an argument: redact it as a path, where the
    rules are exact, before it is formatted into free text."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_target(args[2]), *args[3:])
        return True


def log_config(level: str = "INFO", log_format: Literal["text", "json"] = "text") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server, uvicorn's loggers included."""
    formatter: dict[str, Any] = {
        "()": f"{__name__}.RedactingFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s",
    }
    if log_format == "json":
        formatter = {
            "()": f"{__name__}.RedactingJsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
            # uvicorn's access records carry their parts as extras: the line says it already
            "reserved_attrs": [*_RESERVED, "color_message"],
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"redacting": formatter},
        "filters": {"access_path": {"()": f"{__name__}.AccessPathFilter"}},
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
            "uvicorn.access": {"handlers": [], "propagate": True, "filters": ["access_path"]},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            "aiosqlite": {"level": "WARNING"},
            # it warns about every malformed multipart body a client sends; the client gets a 400 instead
            "python_multipart": {"level": "ERROR"},
        },
    }
