"""POSTing one webhook: to the very address the SSRF guard checked, never following redirects."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from statusgate.domain.instance_settings import is_header_value
from statusgate.errors import MediaError
from statusgate.media.guard import BlockedUrlError, UrlGuard

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]* ")


def authorization(token: str) -> str | None:
    """``Bearer <token>``; a token that already names its scheme (``Basic …``) goes as is."""
    if not token:
        return None
    return token if _SCHEME.match(token) else f"Bearer {token}"


@dataclass(frozen=True)
class WebhookResult:
    ok: bool
    #: why not, for the log (HTTP status, timeout, refused address…)
    error: str = ""


async def post_webhook(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], token: str, guard: UrlGuard, timeout: float
) -> WebhookResult:
    if not is_header_value(token):
        # stored before setSettings checked it: sending it would fail inside httpx on every attempt
        return WebhookResult(
            False, "webhookUrlToken cannot be sent as an HTTP header (non-ASCII or control characters)"
        )
    try:
        parsed = guard.check_request_url(url)
        host = parsed.raw_host.decode("ascii")
        addresses = await guard.resolve(host, parsed.port or (443 if parsed.scheme == "https" else 80))
    except BlockedUrlError as exc:
        return WebhookResult(False, exc.message)
    except (MediaError, OSError, httpx.InvalidURL) as exc:
        return WebhookResult(False, f"cannot resolve the webhook host: {exc}")
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {
        "Host": parsed.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": "statusgate",
    }
    auth = authorization(token)
    if auth is not None:
        headers["Authorization"] = auth
    extensions = {
        "sni_hostname": host,
        "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout},
    }
    if parsed.scheme != "https":
        del extensions["sni_hostname"]
    last = "no address"
    for ip in addresses:
        try:
            response = await client.post(
                parsed.copy_with(host=str(ip)), content=content, headers=headers, extensions=extensions
            )
        except httpx.ConnectError as exc:
            last = f"connection refused ({exc})"
            continue
        except httpx.TimeoutException:
            return WebhookResult(False, f"no answer within {timeout:g} s")
        except httpx.TransportError as exc:
            return WebhookResult(False, f"transport error ({type(exc).__name__})")
        except (httpx.HTTPError, ValueError) as exc:  # a request httpx could not even build
            return WebhookResult(False, f"the request could not be made ({type(exc).__name__})")
        if 200 <= response.status_code < 300:
            return WebhookResult(True)
        return WebhookResult(False, f"HTTP {response.status_code}")
    return WebhookResult(False, last)
