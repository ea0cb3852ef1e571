"""Downloading a urlFile to disk: streamed, size-capped, time-boxed, through the SSRF guard at every hop."""

from __future__ import annotations

import asyncio
import functools
import math
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from statusgate.errors import MediaError
from statusgate.media.guard import BlockedUrlError, IPAddress, UrlGuard

_WRITE_BATCH_BYTES = 1024 * 1024
_MIB = 1024 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "statusgate"


@dataclass(frozen=True)
class FetchResult:
    size: int
    content_type: str
    content_disposition: str
    final_url: str


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes tens of milliseconds, a sizeable part of a small download; one context
    # serves every download (SSLContext is safe to share).
    return httpx.create_ssl_context()


def _whole_mb(n: int) -> int:
    # Rounded up so a file only just over a whole-MB limit never reads "Size: 100mb Limit: 100mb".
    return math.ceil(n / _MIB)


def too_big_error(size: int, max_bytes: int, url: str) -> MediaError:
    """Green API's error for an oversized urlFile (its wording, which clients may match on)."""
    return MediaError(
        f"File from url exceeded max upload size. Size: {_whole_mb(size)}mb "
        f"Limit: {_whole_mb(max_bytes)}mb Url: {url}"
    )


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class _Limits:
    max_bytes: int
    connect_timeout: float
    read_timeout: float


async def fetch_to_file(
    url: str,
    dest: Path,
    *,
    guard: UrlGuard,
    max_bytes: int,
    connect_timeout: float,
    read_timeout: float,
    total_timeout: float,
    max_redirects: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FetchResult:
    """Download ``url`` into ``dest`` (created or truncated) and describe what was received.

    Every error is a :class:`MediaError` whose text can be shown to the API user. On error ``dest`` may hold a
    partial download (at most ``max_bytes``): the caller owns the file and deletes it.

    ``transport`` replaces the network (tests that must not leave loopback); it gets requests addressed to the
    checked IP, never to the host name.
    """
    limits = _Limits(max_bytes, connect_timeout, read_timeout)
    timeout = httpx.Timeout(
        connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
    )
    try:
        async with (
            asyncio.timeout(total_timeout),
            httpx.AsyncClient(
                transport=(
                    httpx.AsyncHTTPTransport(retries=0, verify=_tls_context())
                    if transport is None
                    else transport
                ),
                timeout=timeout,
                follow_redirects=False,
                # Proxy variables would send the request somewhere other than the address the guard checked.
                trust_env=False,
            ) as client,
        ):
            return await _follow(client, url, dest, guard, limits, max_redirects)
    except TimeoutError:
        raise MediaError(f"urlFile did not finish downloading within {total_timeout:g} s: {url}") from None


async def _follow(
    client: httpx.AsyncClient, url: str, dest: Path, guard: UrlGuard, limits: _Limits, max_redirects: int
) -> FetchResult:
    current = url
    for hop in range(max_redirects + 1):
        try:
            guard.check_request_url(current)
        except BlockedUrlError as exc:
            if hop == 0:
                raise
            raise BlockedUrlError(f"urlFile redirected to a refused URL: {exc.message}") from None
        parsed = httpx.URL(current)
        host = parsed.raw_host.decode("ascii")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            async with asyncio.timeout(limits.connect_timeout):
                addresses = await guard.resolve(host, port)
        except TimeoutError:
            raise MediaError(
                f"could not resolve urlFile host {host} within {limits.connect_timeout:g} s"
            ) from None
        outcome = await _get(client, url, parsed, addresses, dest, limits)
        if isinstance(outcome, FetchResult):
            return outcome
        current = outcome
    raise MediaError(f"urlFile redirected more than {max_redirects} times: {url}")


async def _get(
    client: httpx.AsyncClient,
    original_url: str,
    parsed: httpx.URL,
    addresses: list[IPAddress],
    dest: Path,
    limits: _Limits,
) -> FetchResult | str:
    """One request to the first of ``addresses`` that accepts a connection: the result, or the redirect."""
    host = parsed.raw_host.decode("ascii")
    headers = {
        # The request goes to an IP; the server still has to see the name it is asked for.
        "Host": parsed.netloc.decode("ascii"),
        "User-Agent": _USER_AGENT,
        "Accept": "*/*",
        # Compressed bodies would be inflated in memory before the size cap could see them.
        "Accept-Encoding": "identity",
        # A kept-alive TLS connection verified for one name must not carry the next hop's request.
        "Connection": "close",
    }
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    last_error: Exception | None = None
    for ip in addresses:
        target = parsed.copy_with(host=str(ip))
        try:
            async with client.stream("GET", target, headers=headers, extensions=extensions) as response:
                return await _receive(response, original_url, parsed, dest, limits)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Hosts often publish an AAAA record this machine cannot route to; the next address may work.
            last_error = exc
        except httpx.TimeoutException:
            raise MediaError(
                f"urlFile stopped sending data for {limits.read_timeout:g} s: {original_url}"
            ) from None
        except httpx.TransportError as exc:
            raise MediaError(f"urlFile download failed ({_describe(exc)}): {original_url}") from None
    if isinstance(last_error, httpx.ConnectTimeout):
        raise MediaError(
            f"urlFile host {host} did not accept a connection within {limits.connect_timeout:g} s"
        )
    raise MediaError(f"could not connect to urlFile host {host}: {_describe(last_error or OSError())}")


async def _receive(
    response: httpx.Response, original_url: str, parsed: httpx.URL, dest: Path, limits: _Limits
) -> FetchResult | str:
    status = response.status_code
    location = response.headers.get("location")
    if status in _REDIRECT_STATUSES and location:
        try:
            return str(parsed.join(location))
        except httpx.InvalidURL:
            raise MediaError(f"urlFile redirected to an invalid URL {location!r}") from None
    if not 200 <= status < 300:
        raise MediaError(f"urlFile answered HTTP {status} {response.reason_phrase}: {parsed}")
    announced = response.headers.get("content-length", "")
    identity = response.headers.get("content-encoding", "identity").lower() == "identity"
    if identity and announced.isdigit() and int(announced) > limits.max_bytes:
        raise too_big_error(int(announced), limits.max_bytes, original_url)
    file = await asyncio.to_thread(dest.open, "wb")
    try:
        size = await _write_capped(response, file, original_url, limits.max_bytes)
    finally:
        file.close()
    return FetchResult(
        size=size,
        content_type=response.headers.get("content-type", ""),
        content_disposition=response.headers.get("content-disposition", ""),
        final_url=str(parsed),
    )


class _BatchWriter:
    """Writes the body in a worker thread, a MiB at a time, while the next MiB is being received.

    Chunks arrive as the socket delivers them (tens of KB); handing each one to a thread costs more than
    writing it. Memory stays bounded by two batches.
    """

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._batch: list[bytes] = []
        self._size = 0
        self._writing: asyncio.Future[None] | None = None

    async def add(self, chunk: bytes) -> None:
        self._batch.append(chunk)
        self._size += len(chunk)
        if self._size >= _WRITE_BATCH_BYTES:
            await self._start()

    async def finish(self) -> None:
        if self._batch:
            await self._start()
        await self.wait()

    async def wait(self) -> None:
        """Let the write in flight end (also on errors: the caller closes the file next)."""
        writing, self._writing = self._writing, None
        if writing is not None:
            await writing

    async def _start(self) -> None:
        await self.wait()
        batch, self._batch, self._size = self._batch, [], 0
        self._writing = asyncio.ensure_future(asyncio.to_thread(self._file.writelines, batch))


async def _write_capped(response: httpx.Response, file: BinaryIO, original_url: str, max_bytes: int) -> int:
    received = 0
    writer = _BatchWriter(file)
    try:
        async for chunk in response.aiter_bytes():
            room = max_bytes - received
            received += len(chunk)
            if received > max_bytes:
                await writer.add(chunk[:room])
                await writer.finish()
                raise too_big_error(received, max_bytes, original_url)
            await writer.add(chunk)
        await writer.finish()
    finally:
        await writer.wait()
    return received
