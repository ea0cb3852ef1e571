"""SSRF guard: which URLs the gateway may fetch (urlFile) or call (webhookUrl), and what they may reach.

Two stages, because a request handler must answer at once while a fetch may wait for DNS:

* :meth:`UrlGuard.check_request_url` looks only at the URL text (scheme, host, IP literals, ``localhost``);
* :meth:`UrlGuard.resolve` resolves the host and refuses the lot if any answer is non-public. The fetcher
  then connects to one of exactly these addresses, so a second, different DNS answer (rebinding) is never
  used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from statusgate.errors import MediaError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

_ALLOWED_SCHEMES = frozenset({"http", "https"})
_ALLOW_HINT = (
    "(for local use only, the server permits it with STATUSGATE_ALLOW_PRIVATE_URLS=true or "
    "`statusgate serve --allow-private-urls`)"
)
#: one DNS label after IDNA encoding (RFC 1035: letters, digits, hyphens; 1–63 long)
#: (underscores too: not in host names by the RFC, but resolvers look them up and such names exist)
_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
_MAX_HOST_NAME = 253

#: the plain shape nearly every real URL has: http(s), an ASCII host name or IP literal, an optional port,
#: then only printable ASCII. For these the scheme, host and port are read straight from the text (see
#: :func:`url_target`); anything else is parsed by httpx.
_PLAIN_URL = re.compile(
    r"(?P<scheme>[Hh][Tt][Tt][Pp][Ss]?)://"
    r"(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?:[/?#][!-~]*)?"
)
#: what httpx takes for an IPv4 literal (anything else made of digits and dots is a name to it)
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}

# AWS, GCP, Azure and OpenStack use 169.254.169.254, AWS also fd00:ec2::254, Alibaba 100.100.100.200. All are
# non-global anyway; naming them makes the refusal message say what was at stake.
_METADATA = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)
_SHARED_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_PRIVATE = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv6Network("fc00::/7"),
)
# RFC 6052 well-known NAT64 prefix: on IPv6-only networks DNS64 answers public IPv4 hosts with these, so
# they must be judged by the IPv4 address inside (Python calls the whole /96 "reserved").
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class BlockedUrlError(MediaError):
    """The URL may not be fetched."""


class InvalidUrlError(BlockedUrlError):
    """The text is not a URL that could be fetched at all (bad host, port, scheme…)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"URL is not valid: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class UrlTarget:
    """Where a URL leads, as the fetcher (httpx) reads it: the scheme lowercased, the host as it is looked up
    (lowercased, IDNA-encoded, an IPv6 address without its brackets), the port connected to, and the address
    the host denotes by itself when it is an IP literal (see :func:`_literal_address`)."""

    scheme: str
    host: str
    port: int
    address: IPAddress | None

    @classmethod
    def of(cls, parsed: httpx.URL) -> UrlTarget:
        host = parsed.raw_host.decode("ascii")
        port = _DEFAULT_PORTS[parsed.scheme] if parsed.port is None else parsed.port
        return cls(parsed.scheme, host, port, _literal_address(host))


def url_target(url: str) -> UrlTarget:
    """:func:`parse_url` reduced to where the URL leads, or :class:`InvalidUrlError` saying why not.

    The request path checks every urlFile this way, and httpx's whole parse (every character of the path
    percent-encoded in Python) costs more than the rest of the check. A URL of the plain shape is read
    directly: for it the result is the one httpx gives (a unit test compares the two over many URLs).
    """
    plain = _PLAIN_URL.fullmatch(url)
    if plain is None:
        return UrlTarget.of(parse_url(url))
    scheme, host, port_text = plain.group("scheme", "host", "port")
    host = host.lower()
    if host.startswith("["):
        host = host[1:-1]
        address = _literal_address(host)
        if not isinstance(address, ipaddress.IPv6Address):
            return UrlTarget.of(parse_url(url))  # httpx says what is wrong with it
    elif _IPV4_STYLE.fullmatch(host):
        try:  # strictly, as httpx does: no octal or hexadecimal parts here
            address = ipaddress.IPv4Address(host)
        except ValueError:
            return UrlTarget.of(parse_url(url))
    else:
        address = _literal_address(host)
    scheme = scheme.lower()
    port = _DEFAULT_PORTS[scheme] if port_text is None else int(port_text)
    if not 1 <= port <= 65535:
        raise InvalidUrlError(f"port {port} is out of range")
    if address is None and not _is_host_name(host):
        raise InvalidUrlError(f"{host!r} is not a host name")
    return UrlTarget(scheme, host, port, address)


def parse_url(url: str) -> httpx.URL:
    """``url`` parsed the way the fetcher will use it, or :class:`InvalidUrlError` saying why not.

    httpx (and the IDNA codec under it) raise several kinds of errors for odd hosts, and accept ports
    outside 1–65535 and hosts no resolver could look up: all of it is refused here, before anything else
    looks at the URL.
    """
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
        port = parsed.port
    except (httpx.InvalidURL, ValueError) as exc:  # IDNA's errors are UnicodeError, a ValueError
        raise InvalidUrlError(str(exc) or type(exc).__name__) from None
    if parsed.scheme not in _ALLOWED_SCHEMES:
        raise InvalidUrlError(f"the scheme must be http or https, not {parsed.scheme or 'none'!r}")
    if not host:
        raise InvalidUrlError("it has no host")
    if port is not None and not 1 <= port <= 65535:
        raise InvalidUrlError(f"port {port} is out of range")
    if _literal_address(host) is None and not _is_host_name(host):
        raise InvalidUrlError(f"{host!r} is not a host name")
    return parsed


def _is_host_name(host: str) -> bool:
    name = host.removesuffix(".")
    return 0 < len(name) <= _MAX_HOST_NAME and all(_DNS_LABEL.fullmatch(label) for label in name.split("."))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why the address may not be reached (``"loopback"``, ``"private"`` …), or None when it is public."""
    if ip in _METADATA:
        return "cloud metadata"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            # The packet really goes to the IPv4 host, so only that host's status counts.
            reason = forbidden_reason(inner)
            return None if reason is None else f"{reason} (as {inner})"
        if ip.sixtofour is not None:
            reason = forbidden_reason(ip.sixtofour)
            if reason is not None:
                return f"{reason} (as {ip.sixtofour})"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip in _SHARED_CGNAT:
        return "shared (carrier-grade NAT)"
    if any(ip in net for net in _PRIVATE):
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "special-purpose (non-public)"
    return None


def _with_article(reason: str) -> str:
    return f"{'an' if reason[0] in 'aeiou' else 'a'} {reason}"


def is_forbidden_address(ip: IPAddress) -> bool:
    return forbidden_reason(ip) is not None


def _literal_address(host: str) -> IPAddress | None:
    """The address a host string denotes by itself, without DNS.

    Besides normal literals this accepts what the C resolver accepts as IPv4 (``2130706433``, ``127.1``,
    ``0x7f.1``): such a "name" would never reach DNS, so it must be judged as the address it is.
    """
    bare = host.removeprefix("[").removesuffix("]")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if bare and all(c in "0123456789abcdefxABCDEFX." for c in bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def _is_localhost_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0])
        if ip not in addresses:
            addresses.append(ip)
    return addresses


class UrlGuard:
    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self._allow_private = allow_private
        self._resolver = resolver

    @property
    def allow_private(self) -> bool:
        return self._allow_private

    def check_request_url(self, url: str | httpx.URL) -> httpx.URL:
        """Refuse what the URL text alone shows to be invalid, unreachable or off-limits; never does I/O.

        Takes the text or what :func:`parse_url` made of it, and returns the parsed URL (so every later step
        reads the same host and port).
        """
        parsed = url if isinstance(url, httpx.URL) else parse_url(url)
        self.check_target(UrlTarget.of(parsed))
        return parsed

    def check_target(self, target: UrlTarget) -> None:
        """:meth:`check_request_url` for what :func:`url_target` read."""
        host = target.host
        if self._allow_private:
            return
        if _is_localhost_name(host):
            raise BlockedUrlError(
                f"URL points to {host}, a loopback name, which is not allowed {_ALLOW_HINT}"
            )
        literal = target.address
        if literal is not None:
            reason = forbidden_reason(literal)
            if reason is not None:
                raise BlockedUrlError(
                    f"URL points to {literal}, {_with_article(reason)} address, which is not allowed "
                    f"{_ALLOW_HINT}"
                )

    async def resolve(self, url_host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to; unless private ones are allowed, every one has passed the guard."""
        literal = _literal_address(url_host)
        if literal is not None:
            addresses = [literal]
        else:
            if not self._allow_private and _is_localhost_name(url_host):
                raise BlockedUrlError(f"{url_host} is a loopback name, which is not allowed {_ALLOW_HINT}")
            try:
                addresses = await self._resolver(url_host, port)
            except OSError as exc:
                raise MediaError(f"could not resolve host {url_host}: {exc.strerror or exc}") from None
            except ValueError as exc:  # the resolver's own IDNA step (UnicodeError)
                raise MediaError(f"could not resolve host {url_host}: {exc}") from None
            if not addresses:
                raise MediaError(f"host {url_host} has no addresses")
        if not self._allow_private:
            for ip in addresses:
                reason = forbidden_reason(ip)
                if reason is not None:
                    raise BlockedUrlError(
                        f"{url_host} resolves to {ip}, {_with_article(reason)} address, which is not allowed "
                        f"{_ALLOW_HINT}"
                    )
        return addresses
