from __future__ import annotations

import logging

import pytest

from statusgate.logs import AccessPathFilter, RedactingFormatter, RedactingJsonFormatter, log_config
from statusgate.redaction import redact_path, redact_target, redact_text, redact_url

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


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (f"/waInstance1/getStateInstance//{TOKEN}", "/waInstance1/getStateInstance//***"),
        (f"/waInstance1//{TOKEN}", "/waInstance1//***"),
        (f"/waInstance1/{TOKEN}", "/waInstance1/***"),
        (f"/wainstance1/getStateInstance/{TOKEN}", "/wainstance1/getStateInstance/***"),
        (f"/waInstance/1/getStateInstance/{TOKEN}", "/waInstance/1/getStateInstance/***"),
        (f"/waInstance1/getStateInstance/x/{TOKEN}", "/waInstance1/getStateInstance/x/***"),
        (f"/waInstance1/deleteNotification/{TOKEN}/{TOKEN}", "/waInstance1/deleteNotification/***/***"),
        (f"/waInstance1/getStateInstance/'{TOKEN}", "/waInstance1/getStateInstance/***"),
        (f'/waInstance1/getStateInstance/"{TOKEN}', "/waInstance1/getStateInstance/***"),
        (f"/waInstance1/getStateInstance/ {TOKEN}", "/waInstance1/getStateInstance/***"),
        (f"/waInstance1/getStateInstance/{TOKEN[:-1]}", "/waInstance1/getStateInstance/***"),
        (f"/{TOKEN}", "/***"),
        ("/waInstance²/getStateInstance/x", "/***/getStateInstance/x"),
        # media links keep their (shareable) ids and names, but never something token-long
        ("/media/AbC_d-9/holiday.jpg", "/media/AbC_d-9/holiday.jpg"),
        (f"/media/{TOKEN}/x.jpg", "/media/***/x.jpg"),
        (f"/media/p/{'a' * 64}/x.jpg", "/media/p/***/x.jpg"),
        # the files served under fixed names are shown; nothing else like them
        ("/openapi.json", "/openapi.json"),
        ("/docs/swagger-ui.css", "/docs/swagger-ui.css"),
        ("/docs/swagger-ui.css.map", "/docs/***"),
        (f"/docs/{TOKEN}.css", "/docs/***"),
    ],
)
def test_every_path_shape_loses_the_token(path: str, shown: str) -> None:
    assert redact_path(path) == shown


def test_query_values_that_are_not_plain_are_masked() -> None:
    assert redact_target("/waInstance1/getOutgoingStatuses/t0k?minutes=60") == (
        "/waInstance1/getOutgoingStatuses/***?minutes=60"
    )
    shown = redact_target(f"/waInstance1/getStatusStatistic/{TOKEN}?idMessage=3EB0ABCDEF&x={TOKEN}")
    assert TOKEN not in shown
    assert "idMessage=3EB0ABCDEF" in shown and "x=***" in shown
    encoded = "".join(f"%{ord(c):02x}" for c in TOKEN)
    assert TOKEN not in redact_target(f"/waInstance1/qr/x?t={encoded}")


def test_url_passwords_and_free_text() -> None:
    assert (
        redact_url("postgresql+psycopg://sg:s3cr%40t@db:5432/sg") == "postgresql+psycopg://sg:***@db:5432/sg"
    )
    assert redact_url("sqlite:////data/statusgate.db") == "sqlite:////data/statusgate.db"
    line = f"failed on GET /waInstance1/getSettings/{TOKEN}: ValueError('{TOKEN}') at postgresql://u:pw@h/d"
    shown = redact_text(line)
    assert TOKEN not in shown and "pw@" not in shown
    assert "/waInstance1/getSettings/***" in shown
    # a partner token set by hand need not be hex: the partner path is taken apart like an instance's
    partner = "Partner-Token_set-by-hand.0123456789"
    shown = redact_text(f"wrong token on POST /partner/createInstance/{partner}?x=1 from 127.0.0.1")
    assert partner not in shown and "/partner/createInstance/***" in shown
    assert redact_path(f"/partner/getInstances/{partner}") == "/partner/getInstances/***"
    # what must stay readable: message ids (ours 20 hex, a phone's 32), file paths
    assert redact_text("3EB0ABCDEF0123456789 " + "A" * 32 + " /data/sessions/1") == (
        "3EB0ABCDEF0123456789 " + "A" * 32 + " /data/sessions/1"
    )


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
    assert AccessPathFilter().filter(record)
    line = RedactingFormatter("%(message)s").format(record)
    assert TOKEN not in line
    assert "/waInstance1101000001/getSettings/***?x=1" in line


def test_formatter_redacts_tracebacks() -> None:
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError as exc:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), (type(exc), exc, None))
    assert TOKEN not in RedactingFormatter("%(message)s").format(record)


def test_json_lines_carry_the_record_fields_and_are_masked_too() -> None:
    import json

    options = dict(log_config("INFO", "json")["formatters"]["redacting"])
    assert options.pop("()") == "statusgate.logs.RedactingJsonFormatter"
    formatter = RedactingJsonFormatter(**options)
    record = logging.LogRecord(
        "statusgate.queue", logging.INFO, __file__, 1, "sent %s", (f"/waInstance1/qr/{TOKEN}",), None
    )
    record.idMessage = "3EB0AAAA"
    record.sendMs = 12.5
    line = formatter.format(record)
    assert TOKEN not in line
    parsed = json.loads(line)
    assert parsed["message"] == "sent /waInstance1/qr/***"
    assert (parsed["level"], parsed["logger"]) == ("INFO", "statusgate.queue")
    assert (parsed["idMessage"], parsed["sendMs"]) == ("3EB0AAAA", 12.5)
    assert parsed["time"].endswith("+00:00")  # UTC, ISO 8601
