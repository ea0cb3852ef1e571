from __future__ import annotations

import ipaddress
import random
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from statusgate.api.app import build_app
from statusgate.services.context import ServiceContext
from statusgate.settings import Settings
from statusgate.wiring.core import Core
from statusgate.worker.role import Worker
from tests.baileys_standin.fixtures import baileys_dir, node  # noqa: F401  (fixtures of every Baileys test)


@pytest.fixture(autouse=True)
def _seeded_random() -> None:
    random.seed(20261126)


def _is_loopback_host(host: object) -> bool:
    if host in (None, "localhost", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host)).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process code may resolve only ``localhost`` and IP literals, and connect only to loopback."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback_host(host):
            try:
                ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host))
            except ValueError:
                raise socket.gaierror(socket.EAI_NONAME, f"test network: no DNS lookups ({host!r})") from None
        return real_getaddrinfo(host, *args, **kwargs)

    def _check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback_host(address[0]):
            raise AssertionError(f"test network: connection to {address!r} refused (loopback only)")

    def connect(self: socket.socket, address: Any) -> None:
        _check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "allow_private_urls": True,
            "poll_interval_seconds": 0.05,
            "delay_default_ms": 500,
            "sandbox_reboot_seconds": 0.3,
            "public_url": "http://127.0.0.1:9",
            # tests poll as fast as they like; the limits' own tests switch them on
            "rate_limits": "off",
        }
        return Settings(**(values | overrides))

    return make


class Gateway:
    """An in-process gateway (real app, real SQLite, real workers) with an HTTP client on its ASGI app."""

    def __init__(self, ctx: ServiceContext, worker: Worker, client: httpx.AsyncClient) -> None:
        self.ctx = ctx
        self.worker = worker
        self.client = client

    async def create_instance(self, *, authorized: bool = True, name: str | None = None) -> tuple[int, str]:
        from statusgate.services import instances

        credentials = await instances.create(self.ctx, authorized=authorized, name=name)
        return credentials.id_instance, credentials.api_token

    def path(self, id_instance: int, token: str, method: str) -> str:
        return f"/waInstance{id_instance}/{method}/{token}"


@pytest.fixture
async def start_gateway() -> AsyncIterator[Callable[[Settings], Any]]:
    started: list[tuple[Core, Worker, httpx.AsyncClient]] = []

    async def start(settings: Settings) -> Gateway:
        core = Core(settings)
        worker = Worker(core.ctx)
        core.wakeups.attach(worker)
        await core.open()
        await worker.start()
        app = build_app(core.ctx)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:9")
        started.append((core, worker, client))
        return Gateway(core.ctx, worker, client)

    yield start
    for core, worker, client in started:
        await client.aclose()
        await worker.stop()
        await core.close()
