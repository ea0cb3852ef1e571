"""Secrets out of everything the server echoes or logs: API tokens in paths, passwords in URLs.

Green puts the API token in the URL path, and clients get paths wrong in every way (an extra slash, the token
one segment early or late, quotes around it, the method missing). So paths are redacted by what is *known to
be safe* rather than by where the token should be: a segment survives only if it is the instance segment, a
method-like word, or a short number; anything else becomes ``***``. Under ``/media/`` (upload ids and file
names, which are not secrets) segments survive unless they hold a token-length run of hex digits. On top of
that, any token-length run of hex digits anywhere in a log line is masked, whatever produced the line.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote

MASK = "***"

#: API tokens are 50 hex digits; message ids (20 ours, 32 a phone's) stay visible, anything token-long does not
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{40,}")
_INSTANCE_SEGMENT = re.compile(r"waInstance[0-9]{0,20}", re.IGNORECASE)
#: method names are letters only (the longest is 20); no token is letters only and this short
_WORD = re.compile(r"[A-Za-z]{1,30}")
_NUMBER = re.compile(r"[0-9]{1,20}")
#: a query value shown as is: short and plain (minutes=60, idMessage=3EB0…, group=true)
_PLAIN_QUERY_VALUE = re.compile(r"[A-Za-z0-9_.:@-]{0,31}")
#: user:password@ in any URL (a database URL in an error, say)
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]*@")
#: the files statusgate serves under a fixed name (/openapi.json, Swagger UI's under /docs): no token is one
PUBLIC_FILE_NAMES = frozenset(
    {
        "openapi.json",
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "initializer.js",
        "htmx.min.js",
        "console.css",
        "console.js",
        "favicon.svg",
    }
)
_PARTNER_PREFIX = "/partner/"
#: a path inside free text: a slash, then anything up to whitespace or a quote
_PATH_IN_TEXT = re.compile(r"/[^\s\"'<>]*")


def _safe_segment(segment: str, under_media: bool) -> bool:
    if not segment or _WORD.fullmatch(segment) or _NUMBER.fullmatch(segment) or segment in PUBLIC_FILE_NAMES:
        return True
    if _INSTANCE_SEGMENT.fullmatch(segment):
        return True
    return under_media and len(segment) <= 255 and not _HEX_RUN.search(segment)


def redact_path(path: str) -> str:
    """``path`` (no query) with every segment that might carry a token replaced by ``***``."""
    segments = path.split("/")
    under_media = len(segments) > 2 and segments[0] == "" and segments[1] == "media"
    return "/".join(s if _safe_segment(s, under_media) else MASK for s in segments)


def redact_query(query: str) -> str:
    """A query string with every value that is not short and plain replaced by ``***``."""
    if not query:
        return query
    shown = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        safe_key = key if _WORD.fullmatch(key) else MASK
        safe_value = value if _PLAIN_QUERY_VALUE.fullmatch(value) else MASK
        shown.append(f"{safe_key}={quote(safe_value, safe='*:@')}")
    return "&".join(shown)


def redact_target(target: str) -> str:
    """A request target (path and query, as an access log prints it)."""
    path, sep, query = target.partition("?")
    return redact_path(path) + (sep + redact_query(query) if sep else "")


def redact_url(url: str) -> str:
    """A URL with its password masked (``postgresql://user:***@host/db``)."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + "@", url)


def redact_text(text: str) -> str:
    """Any text bound for a log: Green paths redacted, URL passwords and token-length hex runs masked."""
    text = _PATH_IN_TEXT.sub(_redact_path_match, redact_url(text))
    return _HEX_RUN.sub(MASK, text)


def _redact_path_match(match: re.Match[str]) -> str:
    found = match.group(0)
    # only paths that address an instance or the Partner API (its token in the path too, and set by hand
    # it need not be hex) are taken apart: other slashes in a log line (file paths, "a/b" in prose) are not
    # request paths
    lowered = found.lower()
    if "wainstance" not in lowered and not lowered.startswith(_PARTNER_PREFIX):
        return found
    return redact_target(found)
