"""The console's origin check: what counts as the same origin (scheme, host and port, as a browser has them)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from statusgate.api.console import origin
from statusgate.api.console.web import CsrfRejected, _same_origin


def post(scheme: str, host: str, presented: str | None) -> Request:
    headers = [(b"host", host.encode())]
    if presented is not None:
        headers.append((b"origin", presented.encode()))
    return Request({"type": "http", "method": "POST", "scheme": scheme, "path": "/", "headers": headers})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com", origin.Origin("https", "example.com", 443)),
        ("HTTPS://Example.COM:443", origin.Origin("https", "example.com", 443)),
        ("http://example.com:80", origin.Origin("http", "example.com", 80)),
        ("http://127.0.0.1:9", origin.Origin("http", "127.0.0.1", 9)),
        ("http://[::1]:8080", origin.Origin("http", "::1", 8080)),
    ],
)
def test_an_origin_is_its_scheme_host_and_port_with_the_defaults_filled_in(
    text: str, expected: origin.Origin
) -> None:
    assert origin.from_header(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "null",
        "",
        "example.com",
        "ftp://example.com",
        "http://127.0.0.1:9.evil.example",
        "http://example.com:99999",
        "http://user@example.com",
        "http://example.com/",
        "http://example.com/path",
        "http://example.com?",
        "http://",
    ],
)
def test_what_no_browser_sends_as_an_origin_is_none(text: str) -> None:
    assert origin.from_header(text) is None


def test_a_public_urls_path_is_not_part_of_its_origin() -> None:
    assert origin.from_url("https://gw.example/statusgate/") == origin.Origin("https", "gw.example", 443)
    assert origin.from_url("gw.example") is None


def test_without_a_configured_origin_the_requests_scheme_and_host_decide() -> None:
    _same_origin(post("http", "gw.example:8080", "http://gw.example:8080"), None)
    _same_origin(post("https", "GW.example", "https://gw.example:443"), None)
    _same_origin(post("https", "gw.example", None), None)  # no Origin: not a cross-site browser request
    for request in [
        post("https", "gw.example", "http://gw.example"),
        post("http", "gw.example", "https://gw.example"),
        post("http", "gw.example:8080", "https://gw.example:8080"),
        post("http", "gw.example", "http://gw.example:8080"),
        post("http", "gw.example", "null"),
        post("http", "", "http://gw.example"),
    ]:
        with pytest.raises(CsrfRejected):
            _same_origin(request, None)


def test_a_configured_origin_wins_over_the_request() -> None:
    public = origin.from_url("https://gw.example")
    # a TLS proxy in front, forwarding plain http to another address
    _same_origin(post("http", "10.0.0.5:7000", "https://gw.example"), public)
    for presented in ["http://gw.example", "http://10.0.0.5:7000", "https://gw.example:8443"]:
        with pytest.raises(CsrfRejected):
            _same_origin(post("http", "10.0.0.5:7000", presented), public)
