"""A real server on loopback, spoken to byte by byte: a fault keeps the connection, and no request shape puts
the token in an answer or a log line (issue 9, F7 and F9)."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.support import ServerProcess, base_env, cli_json, wait_for

FAULTY_METHOD = "getSettings"


class Connection:
    """One keep-alive HTTP/1.1 connection; each request is written exactly as given."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)

    def request(self, verb: str, target: str, body: bytes = b"", headers: str = "") -> tuple[int, str, Any]:
        head = f"{verb} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
        self.sock.sendall(head.encode("latin-1") + body)
        response = http.client.HTTPResponse(self.sock, method=verb)
        response.begin()
        text = response.read().decode()
        if response.getheader("connection", "").lower() == "close":
            raise AssertionError(f"the server closes the connection after {verb} {target}")
        return response.status, text, response

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def env(data_dir: Path, store_settings: dict[str, str]) -> dict[str, str]:
    """The module's server (conftest's, in each shape) fails FAULTY_METHOD on purpose and fetches nothing
    private."""
    return base_env(data_dir, test_fail_method=FAULTY_METHOD, allow_private_urls="false", **store_settings)


@pytest.fixture(scope="module")
def credentials(server: ServerProcess) -> tuple[int, str]:
    created = cli_json(server.env, "instance", "create", "--authorized")
    return int(created["idInstance"]), str(created["apiTokenInstance"])


def green_body(text: str, status: int) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(text)
    assert set(body) == {"statusCode", "timestamp", "path", "message"}, body
    assert body["statusCode"] == status
    return body


def test_f7_a_fault_leaves_the_connection_usable(server: ServerProcess, credentials: tuple[int, str]) -> None:
    id_instance, token = credentials
    base = f"/waInstance{id_instance}"
    connection = Connection(server.port)
    try:
        status, text, _ = connection.request("GET", f"{base}/{FAULTY_METHOD}/{token}")
        assert status == 500, text
        assert green_body(text, 500)["message"] == "Internal Server Error"
        assert token not in text
        # the inputs that used to end in a 500, one after the other on the same connection
        deep = ("[" * 1000 + "]" * 1000).encode()
        for verb, target, body, expected in [
            ("GET", f"{base}/getStateInstance/{token}", b"", 200),
            ("POST", f"{base}/sendTextStatus/{token}", deep, 400),
            ("GET", f"/waInstance9223372036854775808/getStateInstance/{token}", b"", 403),
            ("GET", f"/waInstance%C2%B2/getStateInstance/{token}", b"", 403),
            ("GET", f"{base}/getOutgoingStatuses/{token}?minutes={'9' * 400}", b"", 200),
            ("DELETE", f"{base}/deleteNotification/{token}/9223372036854775808", b"", 200),
            (
                "POST",
                f"{base}/sendMediaStatus/{token}",
                b'{"urlFile":"http://[::1/p.jpg","fileName":"p.jpg"}',
                400,
            ),
            ("POST", f"{base}/setSettings/{token}", b'{"webhookUrl":"http://xn--/x"}', 400),
            ("GET", f"{base}/{FAULTY_METHOD}/{token}", b"", 500),
            ("GET", f"{base}/getStateInstance/{token}", b"", 200),
        ]:
            status, text, _ = connection.request(verb, target, body)
            assert status == expected, (verb, target[:80], status, text)
    finally:
        connection.close()
    assert "Exception in ASGI application" not in server.output()


def test_f9_no_token_in_bodies_or_logs_whatever_the_path(
    server: ServerProcess, credentials: tuple[int, str], tmp_path: Path
) -> None:
    id_instance, token = credentials
    shapes = [
        ("GET", f"/waInstance{id_instance}/getStateInstance//{token}"),
        ("GET", f"/waInstance{id_instance}//{token}"),
        ("GET", f"/waInstance{id_instance}/{token}"),
        ("GET", f"/wainstance{id_instance}/getStateInstance/{token}"),
        ("GET", f"/waInstance/{id_instance}/getStateInstance/{token}"),
        ("GET", f"/waInstance{id_instance}/getStateInstance/x/{token}"),
        ("DELETE", f"/waInstance{id_instance}/deleteNotification/{token}/{token}"),
        ("GET", f"/waInstance{id_instance}/getStateInstance/{token}?x={token}"),
        ("GET", f"/{token}"),
        ("GET", f"/media/{token}/x.jpg"),
    ]
    for prefix in ("'", '"', "%22", "%27", "%20"):
        shapes.append(("GET", f"/waInstance{id_instance}/getStateInstance/{prefix}{token}"))
    # the access log is the API process's (of a pair, its api); this test's own lines only: the server is the
    # module's
    api_process: ServerProcess = getattr(server, "api", server)
    logged_before = len(api_process.output())
    connection = Connection(server.port)
    try:
        for verb, target in shapes:
            status, text, _ = connection.request(verb, target)
            assert status in (200, 400, 401, 403, 404), (target, status, text)
            assert token not in text, (target, text)
            if status != 200:  # the token in the query of a good request is still a good request
                green_body(text, status)
    finally:
        connection.close()
    # every request above is in the access log, redacted
    expected = sum(1 for _verb, target in shapes if target.startswith("/waInstance"))

    def own_lines() -> str | None:
        log = api_process.output()[logged_before:]
        found = log.count('"GET /waInstance') + log.count('"DELETE /waInstance')
        return log if found >= expected else None

    log = wait_for(own_lines, timeout=30, what=f"{expected} access-log lines of this test")
    assert token not in server.output()
    assert '"GET /waInstance/' + str(id_instance) + '/getStateInstance/*** HTTP/1.1" 404' in log, log[-3000:]
