from __future__ import annotations

import logging

from statusgate.api.errors import redact_path
from statusgate.logs import RedactingFormatter

TOKEN = "bde035edae3fc00bc116bd112297908d8145e5ba8decc5d884"


def test_paths_lose_their_token() -> None:
    assert (
        redact_path(f"/waInstance1101000001/sendMediaStatus/{TOKEN}")
        == "/waInstance1101000001/sendMediaStatus/***"
    )
    assert (
        redact_path(f"/waInstance1/deleteNotification/{TOKEN}/12") == "/waInstance1/deleteNotification/***/12"
    )
    assert redact_path("/health") == "/health"


def test_formatter_redacts_access_log_lines() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/waInstance1101000001/getSettings/{TOKEN}?x=1", "1.1", 200),
        None,
    )
    line = RedactingFormatter("%(message)s").format(record)
    assert TOKEN not in line
    assert "/waInstance1101000001/getSettings/***?x=1" in line
