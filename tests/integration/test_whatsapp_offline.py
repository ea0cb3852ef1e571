"""A REAL neonize client, offline: connecting fails cleanly, bounded in time, and the server goes on.

No test may reach the network: neonize is pointed at a SOCKS5 proxy on 127.0.0.1 that records the
destination it is asked for and refuses it. The destination travels to the proxy as a name, so not even a
DNS lookup happens here. Where ``unshare -n`` works, the child also runs in an empty network namespace.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.whatsapp_support import neonize_or_skip

neonize_or_skip()

from statusgate.domain.states import InstanceState  # noqa: E402
from statusgate.engines.whatsapp.engine import WhatsAppEngine  # noqa: E402
from statusgate.settings import Settings  # noqa: E402
from tests.whatsapp_support import DeadSocksProxy  # noqa: E402

WHATSAPP_WEB = "web.whatsapp.com:443"


@pytest.fixture
def proxy() -> Any:
    with DeadSocksProxy() as dead:
        yield dead


@pytest.fixture
async def engines(make_settings: Callable[..., Settings], proxy: DeadSocksProxy) -> AsyncIterator[Any]:
    made: list[WhatsAppEngine] = []

    async def make(**overrides: Any) -> WhatsAppEngine:
        settings = make_settings(
            test_whatsapp_proxy=proxy.url,
            whatsapp_restart_base_seconds=0.1,
            whatsapp_restart_cap_seconds=0.2,
            whatsapp_qr_timeout_seconds=15,
            **overrides,
        )
        engine = WhatsAppEngine(settings)
        made.append(engine)
        await engine.start()
        return engine

    yield make
    for engine in made:
        await engine.close()


def _bogus_device(store: Path) -> None:
    """A device row in whatsmeow's real schema: the account looks linked (its keys are random)."""
    r = os.urandom
    with sqlite3.connect(store) as conn:
        conn.execute(
            "INSERT INTO whatsmeow_device (jid, registration_id, noise_key, identity_key, signed_pre_key, "
            "signed_pre_key_id, signed_pre_key_sig, adv_key, adv_details, adv_account_sig, "
            "adv_account_sig_key, adv_device_sig) VALUES (?, 1, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
            ("79990000001:1@s.whatsapp.net", r(32), r(32), r(32), r(64), r(32), b"", r(64), r(32), r(64)),
        )


async def test_pairing_offline_answers_a_clear_error(engines: Any, proxy: DeadSocksProxy) -> None:
    engine = await engines()
    await engine.provision(1)
    answer = await asyncio.wait_for(engine.qr(1), 20)
    assert answer.type == "error"
    assert answer.message.startswith("could not connect to WhatsApp: failed to dial whatsapp web websocket")
    assert proxy.destinations == [WHATSAPP_WEB]  # it tried, and went nowhere but our loopback stub
    assert await engine.state(1) is InstanceState.NOT_AUTHORIZED
    for _ in range(200):  # the child ended by itself: nothing hangs
        if engine.accounts[1].child is None:
            break
        await asyncio.sleep(0.02)
    assert engine.accounts[1].child is None
    # whatsmeow created its store in the session dir, not in ours
    assert (engine.session_dir(1) / "whatsmeow.db").exists()


async def test_linked_session_offline_is_starting_and_retried(engines: Any, proxy: DeadSocksProxy) -> None:
    first = await engines()
    await first.provision(1)
    await first.qr(1)  # lets the real client create whatsmeow's schema
    await first.close()
    _bogus_device(first.session_dir(1) / "whatsmeow.db")

    engine = await engines()
    await engine.hold([1])  # the worker that takes the instance over finds the linked session and runs it
    account = engine.accounts[1]
    for _ in range(300):
        if account.restarts >= 2:
            break
        await asyncio.sleep(0.02)
    assert account.restarts >= 2
    assert await engine.state(1) is InstanceState.STARTING
    assert "failed to dial whatsapp web websocket" in account.reason
    answer = await engine.qr(1)
    assert answer.type == "error" and answer.message.startswith("instance is starting (could not connect")
    assert set(proxy.destinations) == {WHATSAPP_WEB}


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(
    not _unshare_works(), reason="unshare -n is not available here (needs root or user namespaces)"
)
async def test_in_an_empty_network_namespace(engines: Any, proxy: DeadSocksProxy) -> None:
    engine = await engines(test_whatsapp_child_prefix="unshare -n")
    await engine.provision(1)
    answer = await asyncio.wait_for(engine.qr(1), 20)
    assert answer.type == "error" and "could not connect to WhatsApp" in answer.message
    assert proxy.destinations == []  # not even our loopback stub is reachable from there
