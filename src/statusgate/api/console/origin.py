"""Origins as a browser compares them (scheme, host, port), for the check on every console POST.

A form posted from ``http://host`` to a console served as ``https://host`` is another origin: whoever can
serve the plain-HTTP page (anyone on the path to the browser) could otherwise post as the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

#: the port a browser leaves out of an origin, per scheme; no other scheme serves the console
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int


def from_header(value: str) -> Origin | None:
    """An ``Origin`` header's origin; None for ``null`` and anything that is not ``scheme://host[:port]``
    (a browser sends nothing more, so more is not a browser's)."""
    parts = urlsplit(value)
    if parts.path or parts.query or parts.fragment or value.endswith(("?", "#")):
        return None
    return _origin(parts.scheme, parts.netloc)


def from_url(url: str) -> Origin | None:
    """The origin of a base URL such as ``public_url`` (its path, if any, is not part of it)."""
    parts = urlsplit(url.strip())
    return _origin(parts.scheme, parts.netloc)


def of_request(scheme: str, host: str) -> Origin | None:
    """The origin a request was sent to: its scheme (the proxy's, when uvicorn trusts its headers) and its
    ``Host`` header."""
    return _origin(scheme, host)


def _origin(scheme: str, netloc: str) -> Origin | None:
    scheme = scheme.lower()
    default = DEFAULT_PORTS.get(scheme)
    if default is None or "@" in netloc:
        return None
    parts = urlsplit(f"//{netloc}")
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range: "127.0.0.1:9.evil.example"
        return None
    if not parts.hostname:
        return None
    return Origin(scheme, parts.hostname, default if port is None else port)
