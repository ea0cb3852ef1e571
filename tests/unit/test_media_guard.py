"""The SSRF guard's decisions, on addresses and URL text only: nothing here opens a socket or asks DNS."""

from __future__ import annotations

import contextlib
import ipaddress
import random

import pytest

from statusgate.errors import MediaError
from statusgate.media.guard import (
    BlockedUrlError,
    InvalidUrlError,
    IPAddress,
    UrlGuard,
    UrlTarget,
    forbidden_reason,
    is_forbidden_address,
    parse_url,
    url_target,
)

FORBIDDEN = [
    "127.0.0.1",
    "127.255.0.9",
    "::1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "fc00::1",
    "fd12:3456::1",
    "169.254.0.1",
    "169.254.169.254",
    "fe80::1",
    "100.64.0.1",
    "100.100.100.200",
    "fd00:ec2::254",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "ff0e::1",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.2.10",
    "198.51.100.1",
    "203.0.113.7",
    "198.18.0.1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a00:1",
    "64:ff9b::7f00:1",
    "64:ff9b:1::808:808",
    "2002:7f00:1::1",
    "2002:a00:1::",
    "2001::1",
    "::7f00:1",
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


def ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize("address", FORBIDDEN)
def test_non_public_addresses_are_forbidden(address: str) -> None:
    assert is_forbidden_address(ip(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden_address(ip(address))


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::ffff:127.0.0.1", "loopback (as 127.0.0.1)"),
        ("64:ff9b::a00:1", "private (as 10.0.0.1)"),
    ],
)
def test_reason_names_the_kind_of_address(address: str, reason: str) -> None:
    assert forbidden_reason(ip(address)) == reason


STRICT = UrlGuard(allow_private=False)
LAX = UrlGuard(allow_private=True)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://example.com/a.jpg", "scheme must be http or https, not 'ftp'"),
        ("file:///etc/passwd", "scheme must be http or https, not 'file'"),
        ("example.com/a.jpg", "scheme must be http or https"),
        ("http:///a.jpg", "has no host"),
        ("http://127.0.0.1/x", "127.0.0.1, a loopback address"),
        ("http://[::1]/", "::1, a loopback address"),
        ("http://[::ffff:127.0.0.1]:8080/x", "loopback (as 127.0.0.1)"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://10.1.2.3:9000/a.jpg", "private"),
        ("http://2130706433/", "127.0.0.1, a loopback address"),
        ("http://0x7f.1/", "127.0.0.1, a loopback address"),
        ("http://0/", "0.0.0.0, an unspecified address"),
        ("http://localhost/", "localhost, a loopback name"),
        ("http://LOCALHOST./a", "loopback name"),
        ("https://api.localhost:8443/a", "api.localhost, a loopback name"),
    ],
)
def test_check_request_url_refuses(url: str, fragment: str) -> None:
    with pytest.raises(BlockedUrlError) as caught:
        STRICT.check_request_url(url)
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a.jpg",
        "http://media.example.org:8080/download?id=5",
        "http://8.8.8.8/a.jpg",
        "http://[2001:4860:4860::8888]/a.jpg",
        "https://bücher.example/bild.png",
        "http://deadbeef.cafe/x.mp4",
    ],
)
def test_check_request_url_accepts_public_urls(url: str) -> None:
    STRICT.check_request_url(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/x", "http://[::1]/", "http://localhost/", "http://10.0.0.1/", "http://0/"]
)
def test_allow_private_lets_private_urls_through(url: str) -> None:
    LAX.check_request_url(url)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http:///x", "gopher://localhost/"])
def test_allow_private_still_requires_http_and_a_host(url: str) -> None:
    with pytest.raises(BlockedUrlError):
        LAX.check_request_url(url)


class StubResolver:
    """Answers from a table and records every question; unknown names fail like NXDOMAIN."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise OSError(-2, "Name or service not known")
        return [ip(a) for a in self.answers[host]]


async def test_resolve_returns_public_answers() -> None:
    resolver = StubResolver({"media.example": ["93.184.216.34", "2606:4700:4700::1111"]})
    guard = UrlGuard(allow_private=False, resolver=resolver)
    assert await guard.resolve("media.example", 443) == [ip("93.184.216.34"), ip("2606:4700:4700::1111")]
    assert resolver.calls == [("media.example", 443)]


@pytest.mark.parametrize("private", ["127.0.0.1", "10.0.0.7", "169.254.169.254", "::ffff:192.168.0.1"])
async def test_resolve_refuses_when_any_answer_is_private(private: str) -> None:
    resolver = StubResolver({"media.example": ["93.184.216.34", private]})
    guard = UrlGuard(allow_private=False, resolver=resolver)
    with pytest.raises(BlockedUrlError) as caught:
        await guard.resolve("media.example", 80)
    assert f"media.example resolves to {ip(private)}" in caught.value.message
    assert "not allowed" in caught.value.message


async def test_resolve_with_allow_private_accepts_private_answers() -> None:
    resolver = StubResolver({"media.test": ["127.0.0.1"]})
    guard = UrlGuard(allow_private=True, resolver=resolver)
    assert await guard.resolve("media.test", 80) == [ip("127.0.0.1")]


async def test_resolve_takes_ip_literals_as_they_are_without_asking_dns() -> None:
    resolver = StubResolver({})
    strict = UrlGuard(allow_private=False, resolver=resolver)
    assert await strict.resolve("8.8.8.8", 80) == [ip("8.8.8.8")]
    assert await strict.resolve("[2001:4860:4860::8888]", 80) == [ip("2001:4860:4860::8888")]
    with pytest.raises(BlockedUrlError):
        await strict.resolve("127.0.0.1", 80)
    with pytest.raises(BlockedUrlError):
        await strict.resolve("2130706433", 80)
    assert await UrlGuard(allow_private=True, resolver=resolver).resolve("::1", 80) == [ip("::1")]
    assert resolver.calls == []


async def test_resolve_refuses_localhost_names_without_asking_dns() -> None:
    resolver = StubResolver({"localhost": ["8.8.8.8"]})
    guard = UrlGuard(allow_private=False, resolver=resolver)
    with pytest.raises(BlockedUrlError):
        await guard.resolve("localhost", 80)
    assert resolver.calls == []


async def test_resolve_reports_unknown_hosts_as_media_errors() -> None:
    guard = UrlGuard(allow_private=False, resolver=StubResolver({}))
    with pytest.raises(MediaError, match=r"could not resolve host nowhere\.example") as caught:
        await guard.resolve("nowhere.example", 80)
    assert not isinstance(caught.value, BlockedUrlError)


async def test_resolve_refuses_an_empty_answer() -> None:
    guard = UrlGuard(allow_private=False, resolver=StubResolver({"empty.example": []}))
    with pytest.raises(MediaError, match="has no addresses"):
        await guard.resolve("empty.example", 80)


# --- url_target: the request path's quick read must agree with httpx's whole parse ---------------------------

URLS = [
    "http://example.com/a.jpg",
    "HTTPS://Example.COM:443/a.jpg?x=1#f",
    "http://example.com:80",
    "http://example.com:8080/p",
    "https://example.com:0/",
    "https://example.com:65536/",
    "https://example.com:00443/",
    "http://127.0.0.1:8080/media/u/p.jpg",
    "http://1.2.3.999/",
    "http://1.2.3/",
    "http://01.2.3.4/",
    "http://[1.2.3.4]/",
    "http://[abc]/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://[::1]:8080/x",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[zz::1]/",
    "http://[1:2:3:4:5:6:7:8:9]/",
    "http://a..b/",
    "http://./",
    "http://-a.com/",
    "http://a_b.example/",
    "http://localhost./x",
    "http://x.localhost/",
    "http://a" + "b" * 70 + ".com/",
    "http://example.com/path with space",
    "http://user:pw@example.com/",
    "http://example.com@127.0.0.1/",
    "http://127.0.0.1:80@example.com/",
    "http://example.com\\@127.0.0.1/",
    "http://пример.рф/картинка.jpg",
    "http://xn--e1afmkfd.xn--p1ai/",
    "ftp://example.com/a.jpg",
    "http:///a.jpg",
    "http://:80/",
    "http://example.com:/",
    "http://example.com/%zz",
    "http://example.com/~a/!$&'()*+,;=:@",
    "http://example.com?q",
    "http://example.com#frag",
    "http://EXAMPLE.com./a",
]


def _by_httpx(url: str) -> UrlTarget | str:
    try:
        return UrlTarget.of(parse_url(url))
    except InvalidUrlError as exc:
        return f"invalid: {exc.reason}"


def _quick(url: str) -> UrlTarget | str:
    try:
        return url_target(url)
    except InvalidUrlError as exc:
        return f"invalid: {exc.reason}"


@pytest.mark.parametrize("url", URLS)
def test_url_target_reads_what_httpx_reads(url: str) -> None:
    assert _quick(url) == _by_httpx(url)


def test_url_target_agrees_with_httpx_on_random_urls() -> None:
    rng = random.Random(20261202)
    pieces = [
        "http",
        "https",
        "HTTP",
        "://",
        ":",
        "/",
        "?",
        "#",
        "@",
        "[",
        "]",
        ".",
        "-",
        "_",
        "%",
        "a",
        "Z",
        "0",
        "1",
        "9",
        "80",
        "443",
        "65535",
        "99999",
        "127.0.0.1",
        "::1",
        "localhost",
        "é",
        " ",
        "\\",
    ]
    for _ in range(3000):
        url = rng.choice(["http://", "https://", "HTTPS://"]) + "".join(
            rng.choice(pieces) for _ in range(rng.randint(0, 8))
        )
        assert _quick(url) == _by_httpx(url), url


@pytest.mark.parametrize(
    ("url", "blocked"),
    [
        ("http://127.0.0.1:8080/a.jpg", True),
        ("http://[::1]/a.jpg", True),
        ("http://2130706433/a.jpg", True),
        ("http://169.254.169.254/latest", True),
        ("http://foo.localhost/a.jpg", True),
        ("http://example.com/a.jpg", False),
        ("https://93.184.216.34/a.jpg", False),
    ],
)
def test_check_target_refuses_what_check_request_url_refuses(url: str, blocked: bool) -> None:
    guard = UrlGuard(allow_private=False)
    with pytest.raises(BlockedUrlError) if blocked else contextlib.nullcontext():
        guard.check_target(url_target(url))
    with pytest.raises(BlockedUrlError) if blocked else contextlib.nullcontext():
        guard.check_request_url(url)
