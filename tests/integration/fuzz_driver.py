"""The fuzzer's two sides in one process: a real uvicorn server and a client throwing hostile requests at it.

Run by ``test_fuzz.py`` as ``python -m tests.integration.fuzz_driver SEED COUNT`` inside ``unshare -n``
(a network namespace with nothing but loopback). On top of that, every name lookup goes to a stub resolver
that answers from a fixed table and records what it was asked, and ``socket.getaddrinfo``/``connect`` are
wrapped so that a lookup of any other name, or a connection beyond loopback, is recorded as a violation.

Prints one JSON summary on stdout; the server's log goes to stderr (the test searches it for the token).
"""

from __future__ import annotations

import asyncio
import fcntl
import ipaddress
import json
import random
import socket
import struct
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from statusgate.logs import log_config
from statusgate.media.guard import IPAddress
from statusgate.services import instances
from statusgate.settings import Settings
from statusgate.wiring.core import Core
from statusgate.wiring.server import server_app

#: names the stub resolver knows (all refused by the SSRF guard once resolved); any other name fails
STUB_ZONE: dict[str, list[str]] = {
    "files.loopback.test": ["127.0.0.1"],
    "intranet.private.test": ["10.1.2.3", "93.184.216.34"],
    "metadata.google.internal": ["169.254.169.254"],
    "rebind.test": ["::ffff:127.0.0.1"],
    "v6.private.test": ["fd00::1"],
}

violations: list[str] = []
stub_lookups: list[str] = []


def guard_the_sockets() -> None:
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def literal(host: Any) -> bool:
        text = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            return text == "localhost"
        return True

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not literal(host):
            violations.append(f"lookup of {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, "fuzz network: no DNS")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback:
            violations.append(f"connection to {address!r}")
            raise OSError("fuzz network: loopback only")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    setattr(socket, "getaddrinfo", getaddrinfo)  # noqa: B010 - typeshed's signatures are stricter
    setattr(socket.socket, "connect", connect)  # noqa: B010
    setattr(socket.socket, "connect_ex", connect_ex)  # noqa: B010


async def stub_resolver(host: str, _port: int) -> list[IPAddress]:
    stub_lookups.append(host)
    answers = STUB_ZONE.get(host.rstrip(".").lower())
    if answers is None:
        raise OSError(f"stub resolver: {host} does not exist")
    return [ipaddress.ip_address(a) for a in answers]


def loopback_up() -> None:
    """A new network namespace has its loopback interface down; bring it up (SIOCSIFFLAGS, IFF_UP)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


# --- the hostile inputs ------------------------------------------------------------------------------------

ODD_NUMBERS = [
    "²",
    "١٢٣",
    "１２",
    "9" * 400,
    "-1",
    "0",
    "1.5",
    "1e3",
    "0x10",
    " 5",
    "5 ",
    "",
    "+5",
    "٥",
    "9223372036854775808",
]
BAD_HOSTS = [
    "http://[::1/p.jpg",
    "http://[zz::1]/p.jpg",
    "http://xn--/p.jpg",
    "http://a..b/p.jpg",
    "http://h:99999/p.jpg",
    "http://%zz/p.jpg",
    "http://\u2028/p.jpg",
    "http://user@/p.jpg",
    "http://" + "a" * 70 + ".x/p.jpg",
    "http://127.0.0.1/p.jpg",
    "http://[::1]/p.jpg",
    "http://0x7f.1/p.jpg",
    "http://2130706433/p.jpg",
    "http://169.254.169.254/latest/meta-data",
    "http://[::ffff:127.0.0.1]/p.jpg",
    "http://localhost/p.jpg",
    "http://files.loopback.test/p.jpg",
    "http://intranet.private.test/p.jpg",
    "http://metadata.google.internal/x",
    "http://rebind.test/p.jpg",
    "http://v6.private.test/p.jpg",
    "http://unknown.name.test/p.jpg",
    "https://[fd00:ec2::254]/x",
    "http://100.100.100.200/x",
    "ftp://x/p.jpg",
    "javascript:alert(1)",
    "http://",
    "http://[::1]:0/p.jpg",
    "http://10.0.0.1:-5/p.jpg",
    "http://é.test/p.jpg",
]
BAD_HEADER_VALUES = ["été", "a\u2028b", "a\nb", "a\rb", " lead", "trail ", "nul\x00", "\t", "ok-token"]
SETTINGS_KEYS = [
    "webhookUrl",
    "webhookUrlToken",
    "delaySendMessagesMilliseconds",
    "markIncomingMessagesReaded",
    "outgoingWebhook",
    "incomingWebhook",
    "stateWebhook",
    "keepOnlineStatus",
    "wid",
    "proxyInstance",
    "noSuchKey",
]
POST_METHODS = [
    "sendTextStatus",
    "sendMediaStatus",
    "sendVoiceStatus",
    "deleteStatus",
    "setSettings",
    "checkWhatsapp",
    "getAuthorizationCode",
]
GET_METHODS = [
    ("getOutgoingStatuses", "minutes"),
    ("getIncomingStatuses", "minutes"),
    ("getStatusStatistic", "idMessage"),
    ("getContacts", "count"),
    ("getContacts", "group"),
    ("receiveNotification", "receiveTimeout"),
    ("showMessagesQueue", "x"),
    ("getStateInstance", "x"),
    ("getSettings", "x"),
    ("qr", "x"),
    ("getWebhooksCount", "x"),
]


def odd_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(12)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([10 ** rng.randrange(1, 40), -(10**30), 2**63, 2**64, 0, -1, 1.5, 1e308])
    if choice == 2:
        return rng.choice(ODD_NUMBERS)
    if choice == 3:
        return rng.choice(BAD_HOSTS)
    if choice == 4:
        return rng.choice(BAD_HEADER_VALUES)
    if choice == 5 and depth < 3:
        return [odd_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if choice == 6 and depth < 3:
        return {rng.choice(SETTINGS_KEYS): odd_value(rng, depth + 1)}
    if choice == 7:
        return rng.choice([True, False])
    if choice == 8:
        return "x" * rng.choice([0, 1, 500, 501, 1025, 5000])
    if choice == 9:
        return rng.choice(
            ["79990000001@c.us", "1@c.us", "x@g.us", "\ufeffa.jpg", "a/b.jpg", "a.jpg", "v.mp3"]
        )
    return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(1, 20)))


def nested(rng: random.Random) -> bytes:
    depth = rng.choice([50, 500, 963, 1000, 5000, 100_000])
    opening, closing = rng.choice([("[", "]"), ('{"a":', "}"), ('{"message":[', "]}")])
    return (opening * depth + rng.choice(["1", "null", ""]) + closing * depth).encode()


def json_body(rng: random.Random, method: str) -> bytes:
    kind = rng.randrange(10)
    if kind == 0:
        return nested(rng)
    if kind == 1:
        return rng.choice(
            [b"", b"null", b"[]", b"1", b'"x"', b"{", b"\xff\xfe", b"\xef\xbb\xbf{}", b"{}{}", b"NaN"]
        )
    if kind == 2:
        return b'{"delaySendMessagesMilliseconds": ' + b"9" * rng.choice([20, 4300, 5000]) + b"}"
    if method == "setSettings":
        body = {key: odd_value(rng) for key in rng.sample(SETTINGS_KEYS, rng.randrange(1, 5))}
        if rng.random() < 0.3:
            body = {key: None for key in SETTINGS_KEYS[:-1]}
    else:
        fields = [
            "urlFile",
            "fileName",
            "caption",
            "participants",
            "message",
            "backgroundColor",
            "font",
            "idMessage",
            "phoneNumber",
            "chatId",
            "force",
        ]
        body = {key: odd_value(rng) for key in rng.sample(fields, rng.randrange(0, 5))}
        if rng.random() < 0.4:
            body["urlFile"] = rng.choice(BAD_HOSTS)
            body["fileName"] = rng.choice(["p.jpg", "v.mp3", "c.mp4"])
    return json.dumps(body, ensure_ascii=rng.random() < 0.5).encode()


def odd_path(rng: random.Random, id_instance: int, token: str) -> str:
    ids = [
        str(id_instance),
        "".join(chr(0xFF10 + int(d)) for d in str(id_instance)),
        "9223372036854775808",
        "%C2%B2",
        "-1",
        "0",
        "abc",
        "",
        "%00",
        "1" * 400,
    ]
    method = rng.choice(["getStateInstance", "GETSTATEINSTANCE", "getstateinstance", "nope", "", "%2e%2e"])
    shapes = [
        f"/waInstance{rng.choice(ids)}/{method}/{token}",
        f"/waInstance{id_instance}/{method}//{token}",
        f"/waInstance{id_instance}//{token}",
        f"/waInstance{id_instance}/{token}",
        f"/waInstance/{id_instance}/{method}/{token}",
        f"/waInstance{id_instance}/{method}/x/{token}",
        f"/waInstance{id_instance}/deleteNotification/{token}/{rng.choice([*ODD_NUMBERS, token])}",
        f"/waInstance{id_instance}/{method}/{rng.choice(['%22', '%27', '%20', ''])}{token}",
        f"/media/{token}/x.jpg",
        f"/media/p/{token}/{token}.jpg",
        f"/{token}",
    ]
    return rng.choice(shapes)


def requests(rng: random.Random, id_instance: int, token: str, count: int) -> list[dict[str, Any]]:
    base = f"/waInstance{id_instance}"
    made: list[dict[str, Any]] = []
    for _ in range(count):
        kind = rng.randrange(6)
        if kind <= 1:
            method = rng.choice(POST_METHODS)
            made.append(
                {
                    "method": "POST",
                    "url": f"{base}/{method}/{token}",
                    "content": json_body(rng, method),
                    "headers": {"Content-Type": rng.choice(["application/json", "text/plain", "x/y"])},
                }
            )
        elif kind == 2:
            method, param = rng.choice(GET_METHODS)
            value = rng.choice(ODD_NUMBERS + BAD_HOSTS[:3] + ["true", "TRUE", "maybe", "3EB0" + "F" * 16])
            if method == "receiveNotification" and value.strip().isascii() and value.strip().isdigit():
                value = "61"  # a valid timeout would only wait
            made.append({"method": "GET", "url": f"{base}/{method}/{token}", "params": {param: value}})
        elif kind == 3:
            verb = rng.choice(["GET", "POST", "DELETE", "PUT", "OPTIONS", "HEAD"])
            made.append({"method": verb, "url": odd_path(rng, id_instance, token)})
        elif kind == 4:
            content_type = rng.choice(
                [
                    "multipart/form-data",
                    "multipart/form-data; boundary=zz",
                    "application/x-www-form-urlencoded",
                    "text/html",
                    "",
                    "image/jpeg",
                ]
            )
            body = rng.choice(
                [
                    b"",
                    b"--zz\r\n",
                    b"--zz\r\nContent-Disposition: form-data; name=file; filename=a\r\n\r\nx",
                    b"a=b&c=d",
                    b"<script>x</script>",
                    bytes(rng.randrange(256) for _ in range(64)),
                ]
            )
            headers = {"Content-Type": content_type} if content_type else {}
            if rng.random() < 0.5:
                headers["GA-Filename"] = rng.choice(
                    ["a.jpg", "%E9t%E9.jpg", "../../etc/passwd", "a%00.jpg", "x" * 300]
                )
            made.append(
                {"method": "POST", "url": f"{base}/uploadFile/{token}", "content": body, "headers": headers}
            )
        else:
            key = rng.choice(["webhookUrlToken", "webhookUrl", "delaySendMessagesMilliseconds"])
            setting: Any = rng.choice([*BAD_HEADER_VALUES, *BAD_HOSTS, None, 2**70, -5, "500"])
            made.append(
                {
                    "method": "POST",
                    "url": f"{base}/setSettings/{token}",
                    "content": json.dumps({key: setting}).encode(),
                }
            )
    return made


# --- the run -----------------------------------------------------------------------------------------------


def judge(request: dict[str, Any], response: httpx.Response, token: str, problems: list[str]) -> None:
    where = f"{request['method']} {request['url'][:90]}"
    if response.status_code >= 500:
        problems.append(f"{where}: HTTP {response.status_code} {response.text[:200]}")
    if token in response.text or any(token in v for v in response.headers.values()):
        problems.append(f"{where}: token in the answer")
    if response.status_code >= 400 and request["method"] != "HEAD":
        try:
            body = response.json()
        except ValueError:
            problems.append(f"{where}: error body is not JSON: {response.text[:120]!r}")
            return
        if (
            set(body) != {"statusCode", "timestamp", "path", "message"}
            or body["statusCode"] != response.status_code
        ):
            problems.append(f"{where}: not Green's error shape: {body}")


async def fetch_every_stub_name(client: httpx.AsyncClient, base: str, token: str) -> dict[str, str]:
    """Queue a status for every name the stub knows (and one it doesn't); once the queue is empty, each
    failed its preparation: {host: the reason given}."""
    await client.get(f"{base}/clearMessagesQueue/{token}")
    sent: dict[str, str] = {}
    for host in [*STUB_ZONE, "unknown.name.test"]:
        body = {"urlFile": f"http://{host}/p.jpg", "fileName": "p.jpg", "participants": ["79990000001@c.us"]}
        answer = await client.post(f"{base}/sendMediaStatus/{token}", json=body)
        sent[answer.json()["idMessage"]] = host
    for _ in range(600):
        if not (await client.get(f"{base}/showMessagesQueue/{token}")).json():
            break
        await asyncio.sleep(0.05)
    journal = (await client.get(f"{base}/getOutgoingStatuses/{token}")).json()
    return {
        sent[i["idMessage"]]: f"{i['statusMessage']}: {i.get('description', '')}"
        for i in journal
        if i["idMessage"] in sent
    }


def loopback_settings(data_dir: Path, **overrides: Any) -> Settings:
    """A server on a free loopback port, guarding its fetches (no private addresses), polling fast."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "port": port,
        "public_url": f"http://127.0.0.1:{port}",
        "allow_private_urls": False,
        "poll_interval_seconds": 0.05,
        "delay_default_ms": 500,
        "sandbox_reboot_seconds": 0.1,
    }
    return Settings(**(values | overrides))


async def serve_on_loopback(settings: Settings) -> tuple[Core, uvicorn.Server, asyncio.Task[None]]:
    """A real uvicorn server of ``settings`` on 127.0.0.1, its names resolved by the stub: once it listens."""
    core = Core(settings, resolver=stub_resolver)
    config = uvicorn.Config(server_app(core), host="127.0.0.1", port=settings.port, log_config=log_config())
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.02)
    return core, server, serving


async def run(seed: int, count: int) -> dict[str, Any]:
    rng = random.Random(seed)
    data_dir = Path(tempfile.mkdtemp(prefix="statusgate-fuzz-"))
    settings = loopback_settings(data_dir, rate_limits="off")  # every request is to reach validation
    port = settings.port
    core, server, serving = await serve_on_loopback(settings)
    credentials = await instances.create(core.ctx, authorized=True)
    token = credentials.api_token
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    transport_errors = 0
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as client:
        for request in requests(rng, credentials.id_instance, token, count):
            try:
                response = await client.request(**request)
            except httpx.LocalProtocolError:
                continue  # a header httpx itself will not send: never reached the server
            except httpx.TransportError as exc:
                transport_errors += 1
                problems.append(f"{request['method']} {request['url'][:90]}: {type(exc).__name__}")
                continue
            statuses[response.status_code] += 1
            judge(request, response, token, problems)
        failed_fetches = await fetch_every_stub_name(client, f"/waInstance{credentials.id_instance}", token)
    server.should_exit = True
    await serving
    return {
        "token": token,
        "statuses": dict(statuses),
        "problems": problems,
        "transport_errors": transport_errors,
        "violations": violations,
        "stub_lookups": sorted(set(stub_lookups)),
        "failed_fetches": failed_fetches,
    }


def drive(run: Callable[[int, int], Coroutine[Any, Any, dict[str, Any]]]) -> None:
    """``python -m <driver> SEED COUNT [--netns]``: loopback up (in a new namespace), sockets guarded, ``run``'s
    summary as one JSON line on stdout."""
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    if "--netns" in sys.argv:
        loopback_up()
    guard_the_sockets()
    summary = asyncio.run(run(seed, count))
    sys.stdout.write(json.dumps(summary) + "\n")


def main() -> None:
    drive(run)


if __name__ == "__main__":
    main()
