"""Helpers for the whatsapp engine's tests: fast settings, a fake-backed engine, a dead loopback proxy."""

from __future__ import annotations

import importlib.util
import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from statusgate.domain.models import EngineEvent
from statusgate.engines.whatsapp.engine import WhatsAppEngine


def neonize_or_skip() -> None:
    """Skip a test module when the whatsapp extra is not installed; else import neonize quietly."""
    if importlib.util.find_spec("neonize") is None:
        pytest.skip("the whatsapp extra (neonize) is not installed", allow_module_level=True)
    import tests.whatsapp_fake  # noqa: F401  (its import of neonize is the quiet one)


FAKE_CLIENT = "tests.whatsapp_fake:FakeClient"

#: what every whatsapp test runs with: the fake client, quick restarts and stops
FAST: dict[str, Any] = {
    "test_whatsapp_client": FAKE_CLIENT,
    "whatsapp_restart_base_seconds": 0.05,
    "whatsapp_restart_cap_seconds": 0.2,
    "whatsapp_stop_timeout_seconds": 2,
    "whatsapp_qr_timeout_seconds": 10,
}


def store_device(session_dir: Path, jid: str = "79990000001:1@s.whatsapp.net") -> None:
    """A linked device in a whatsmeow-shaped store (what the fake writes on pairing)."""
    session_dir.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(session_dir / "whatsmeow.db") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS whatsmeow_device (jid TEXT PRIMARY KEY)")
        conn.execute("INSERT OR IGNORE INTO whatsmeow_device VALUES (?)", (jid,))


class Drain:
    """An event handler that keeps what the engine hands over (and can refuse some, to be offered again)."""

    def __init__(self) -> None:
        self.events: list[EngineEvent] = []
        self.refuse: Any = None

    async def __call__(self, events: Any) -> list[bool]:
        handled = []
        for event in events:
            ok = self.refuse is None or not self.refuse(event)
            if ok:
                self.events.append(event)
            handled.append(ok)
        return handled

    async def pull(self, engine: WhatsAppEngine) -> list[EngineEvent]:
        await engine.drain_events(self)
        return self.events

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class DeadSocksProxy:
    """A SOCKS5 server on 127.0.0.1 that records where each client wants to go, then refuses it.

    neonize is pointed at it so that a real client never leaves the machine: the destination travels to
    the proxy as a name (no local DNS lookup), and the proxy answers "connection not allowed"."""

    def __init__(self) -> None:
        self.destinations: list[str] = []
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = int(self._server.getsockname()[1])
        self.url = f"socks5://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.settimeout(5)
                    conn.recv(16)  # greeting: version, methods
                    conn.sendall(b"\x05\x00")  # no authentication
                    request = conn.recv(512)
                    self.destinations.append(_destination(request))
                    conn.sendall(b"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00")  # not allowed by ruleset
                except OSError:
                    continue

    def __enter__(self) -> DeadSocksProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.close()


def _destination(request: bytes) -> str:
    """``host:port`` of a SOCKS5 CONNECT request."""
    kind = request[3]
    if kind == 3:  # a domain name: resolved by the proxy, not by the client
        length = request[4]
        host = request[5 : 5 + length].decode()
        port = int.from_bytes(request[5 + length : 7 + length], "big")
        return f"{host}:{port}"
    if kind == 1:
        host = socket.inet_ntoa(request[4:8])
        return f"{host}:{int.from_bytes(request[8:10], 'big')} (IP literal)"
    return f"address type {kind}"
