"""The baileys engine against the Baileys stand-in: linking by QR and by pairing code, the keys in the
database only once linked, a login from them by another worker's engine, logout wiping them, and a dead
chat server keeping a linked account ``starting``. The engine's Node children run in the stand-in's
network namespace (loopback only, ``tests/baileys_standin/driver.py``); the server side runs here."""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from statusgate.domain.models import EngineName
from statusgate.domain.ownership import Fence
from statusgate.domain.states import InstanceState
from statusgate.engines.baileys.engine import BaileysEngine
from statusgate.engines.baileys.launcher import is_loopback_literal, root_key_refusal
from statusgate.errors import EnginePermanentError
from statusgate.services import instances
from statusgate.settings import Settings
from statusgate.store import engine_keys, engine_states, ownership
from statusgate.wiring.core import Core
from tests.baileys_standin import driver
from tests.baileys_standin.fixtures import standin_for
from tests.integration.test_baileys_standin import PAIRING_CODE

SEED = 20261203
DEADLINE = 60.0


standin = standin_for(SEED)


def engine_settings(make: Callable[..., Settings], standin: driver.StandIn, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "baileys_ws_url": standin.url,
        "baileys_test_root_key": standin.root_public_key,
        "test_baileys_child_prefix": shlex.join(driver.joined_namespace(standin.process.pid, [])),
        "baileys_restart_base_seconds": 0.2,
        "baileys_restart_cap_seconds": 1.0,
        "baileys_start_timeout_seconds": 60,
    }
    return make(**(values | overrides))


@pytest.fixture(params=[1, 3], ids=["own-process", "shared-process"])
async def core(
    make_settings: Callable[..., Settings], standin: driver.StandIn, request: pytest.FixtureRequest
) -> AsyncIterator[Core]:
    # with 3, each account is one share of a process (a process of one account, in these tests)
    opened = Core(engine_settings(make_settings, standin, baileys_accounts_per_process=request.param))
    await opened.open()
    yield opened
    await opened.close()


async def owned(core: Core, owner: str = "worker-a") -> Fence:
    """A new baileys instance and ``owner``'s lease on it."""
    instance_id = (await instances.create(core.ctx, engine=EngineName.BAILEYS)).id_instance
    leases = await core.ctx.db.write(ownership.claim, owner, 600, 100)
    (lease,) = [lease for lease in leases if lease.instance_id == instance_id]
    return Fence(owner, lease)


def phone(instance_id: int) -> str:
    """A number of the instance's own: the stand-in outlives a test (both store backends use it)."""
    return f"1555{instance_id % 10**7:07d}"


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    until = time.monotonic() + DEADLINE
    while not await check():
        assert time.monotonic() < until, f"no {what} within {DEADLINE:g} s"
        await asyncio.sleep(0.05)


async def started(settings: Settings, core: Core, fence: Fence) -> BaileysEngine:
    """An engine as a worker holding ``fence`` runs it."""
    engine = BaileysEngine(settings, core.ctx.db)
    await engine.start(lambda i: fence if i == fence.lease.instance_id else None)
    return engine


async def keys(core: Core, instance_id: int) -> int:
    return await core.ctx.db.read(engine_keys.count, instance_id)


async def test_qr_link_then_a_login_from_the_database_then_logout_wipes(
    core: Core, standin: driver.StandIn, make_settings: Callable[..., Settings]
) -> None:
    fence = await owned(core)
    instance_id = fence.lease.instance_id
    engine = await started(core.ctx.settings, core, fence)
    try:
        answer = await engine.qr(instance_id)
        assert answer.type == "qrCode", answer
        account = engine.accounts[instance_id]
        assert account.qr_code is not None
        # a pairing that has not completed leaves nothing in the database
        assert await keys(core, instance_id) == 0
        linked = standin.command("scan", qr=account.qr_code, phone=phone(instance_id), device=4)

        async def authorized() -> bool:
            return await engine.state(instance_id) is InstanceState.AUTHORIZED

        await eventually(authorized, "authorized")
        assert await engine.wid(instance_id) == f"{phone(instance_id)}@c.us"
        assert await keys(core, instance_id) > 0
        assert (await engine.qr(instance_id)).type == "alreadyLogged"

        async def published() -> bool:
            row = await core.ctx.db.read(engine_states.get, instance_id)
            return row is not None and row.state is InstanceState.AUTHORIZED

        await eventually(published, "the state published for other processes")
        await engine.let_go([instance_id])
    finally:
        await engine.close()

    # another worker's engine logs in with the keys in the database: no QR, no pairing
    again = await started(core.ctx.settings, core, fence)
    try:
        await again.hold([instance_id])
        await eventually(
            lambda: _is(again, instance_id, InstanceState.AUTHORIZED), "a login from the stored keys"
        )
        standin.wait_for_event("logged-in", jid=linked["jid"])
        assert again.accounts[instance_id].qr_code is None
        await again.logout(instance_id)
        assert await again.state(instance_id) is InstanceState.NOT_AUTHORIZED
        assert await keys(core, instance_id) == 0
        standin.wait_for_event("device-removed", jid=linked["jid"])
    finally:
        await again.close()


async def _is(engine: BaileysEngine, instance_id: int, state: InstanceState) -> bool:
    return await engine.state(instance_id) is state


async def test_pairing_code_links_the_account(core: Core, standin: driver.StandIn) -> None:
    fence = await owned(core)
    instance_id = fence.lease.instance_id
    engine = await started(core.ctx.settings, core, fence)
    try:
        number = phone(instance_id)
        code = await engine.pairing_code(instance_id, number)
        assert PAIRING_CODE.fullmatch(code), code
        assert await keys(core, instance_id) == 0  # Baileys set creds.me already; nothing is stored
        assert standin.command("enter-code", code=code, phone=number) == {"phone": number}
        await eventually(lambda: _is(engine, instance_id, InstanceState.AUTHORIZED), "authorized")
        assert await engine.wid(instance_id) == f"{number}@c.us"
        with pytest.raises(EnginePermanentError, match="already linked"):
            await engine.pairing_code(instance_id, number)
    finally:
        await engine.close()


async def test_a_dead_chat_server_keeps_a_linked_account_starting(
    core: Core, standin: driver.StandIn, make_settings: Callable[..., Settings]
) -> None:
    fence = await owned(core)
    instance_id = fence.lease.instance_id
    engine = await started(core.ctx.settings, core, fence)
    try:
        await engine.qr(instance_id)
        standin.command("scan", qr=engine.accounts[instance_id].qr_code, phone=phone(instance_id), device=2)
        await eventually(lambda: _is(engine, instance_id, InstanceState.AUTHORIZED), "authorized")
    finally:
        await engine.close()
    # nothing listens on port 9 in the stand-in's namespace
    dead = engine_settings(make_settings, standin, baileys_ws_url="ws://127.0.0.1:9/ws/chat")
    engine = await started(dead, core, fence)
    try:
        await engine.hold([instance_id])
        account = engine.accounts[instance_id]

        async def refused_twice() -> bool:
            return "ECONNREFUSED" in account.reason and standin.process.poll() is None

        await eventually(refused_twice, "a refused connection")
        assert await engine.state(instance_id) is InstanceState.STARTING
        assert await keys(core, instance_id) > 0  # a dead server is no logout
    finally:
        await engine.close()


def test_the_test_root_key_is_honoured_for_loopback_ip_literals_only(
    make_settings: Callable[..., Settings],
) -> None:
    key = "A" * 43 + "="
    for url in ("ws://127.0.0.1:5000/ws", "ws://127.8.9.10/ws", "ws://[::1]:80/ws"):
        assert is_loopback_literal(url), url
        assert root_key_refusal(make_settings(baileys_ws_url=url, baileys_test_root_key=key)) is None
    for url in (
        "ws://localhost:5000/ws",
        "wss://web.whatsapp.com/ws/chat",
        "ws://127.1/ws",
        "ws://0x7f.0.0.1/ws",
        "ws://10.0.0.1/ws",
        "ws://[::ffff:127.0.0.1]/ws",
        "ws://127.0.0.1.nip.io/ws",
    ):
        assert not is_loopback_literal(url), url
        refusal = root_key_refusal(make_settings(baileys_ws_url=url, baileys_test_root_key=key))
        assert refusal is not None and "loopback IP literal" in refusal
    assert "32" in str(root_key_refusal(make_settings(baileys_test_root_key="AAAA")))
