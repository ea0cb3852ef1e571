"""The whatsapp engine end to end over its real process protocol, each child running the fake client."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.whatsapp_support import neonize_or_skip

neonize_or_skip()

from statusgate.domain.models import DeliveryCheck, DeliveryState, ReceiptEvent, StateEvent  # noqa: E402
from statusgate.domain.posts import OutgoingStatus, TextPost  # noqa: E402
from statusgate.domain.states import InstanceState, ReceiptStatus  # noqa: E402
from statusgate.engines.sandbox import qr_png_base64  # noqa: E402
from statusgate.engines.whatsapp import files  # noqa: E402
from statusgate.engines.whatsapp.engine import NOT_IN_SERVER, WhatsAppEngine  # noqa: E402
from statusgate.engines.whatsapp.sends import CUT_OFF, DIED_WHILE_SENDING  # noqa: E402
from statusgate.errors import EnginePermanentError, EngineTransientError  # noqa: E402
from statusgate.settings import Settings  # noqa: E402
from tests.whatsapp_fake import DEFAULT_SCRIPT, SCAN_FILE, read_calls, write_script  # noqa: E402
from tests.whatsapp_support import FAST, Drain, store_device  # noqa: E402

Make = Callable[..., Awaitable[WhatsAppEngine]]


@pytest.fixture
async def make_engine(make_settings: Callable[..., Settings]) -> AsyncIterator[Make]:
    engines: list[WhatsAppEngine] = []

    async def make(start: bool = True, **overrides: Any) -> WhatsAppEngine:
        engine = WhatsAppEngine(make_settings(**(FAST | overrides)))
        engines.append(engine)
        if start:
            await engine.start()
        return engine

    yield make
    for engine in engines:
        await engine.close()


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10) -> None:
    """Poll (the state lives in child processes, nothing to wait on) with a generous deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def authorized(engine: WhatsAppEngine, instance_id: int = 1, **script: Any) -> WhatsAppEngine:
    """A linked, connected account (the fake links right after the first QR code)."""
    await engine.provision(instance_id)
    write_script(engine.session_dir(instance_id), autopair=True, **script)
    assert (await engine.qr(instance_id)).type == "qrCode"
    await until(lambda: _is(engine, instance_id, InstanceState.AUTHORIZED), "authorized")
    return engine


async def _is(engine: WhatsAppEngine, instance_id: int, state: InstanceState) -> bool:
    return await engine.state(instance_id) is state


def text(message_id: str) -> OutgoingStatus:
    return OutgoingStatus(message_id, TextPost("hello", background_color="#228B22"))


async def test_pairing_by_qr(make_engine: Make) -> None:
    engine = await make_engine()
    await engine.provision(1)
    write_script(engine.session_dir(1))
    assert await engine.state(1) is InstanceState.NOT_AUTHORIZED
    answer, same = await asyncio.gather(engine.qr(1), engine.qr(1))
    assert answer.type == same.type == "qrCode"
    assert base64.b64decode(answer.message).startswith(b"\x89PNG\r\n\x1a\n")
    connects = [c for c in read_calls(engine.session_dir(1)) if c["method"] == "connect"]
    assert len(connects) == 1  # two `qr` calls at once share one pairing process
    # WhatsApp rotates the code: `qr` shows the newest one
    newest = DEFAULT_SCRIPT["qr_codes"][-1]
    await until(lambda: asyncio.sleep(0, engine.accounts[1].qr_code == newest), "rotation")
    assert (await engine.qr(1)).message == qr_png_base64(newest)
    (engine.session_dir(1) / SCAN_FILE).touch()  # the phone scans it
    await until(lambda: _is(engine, 1, InstanceState.AUTHORIZED), "authorized")
    assert await engine.wid(1) == "79990000001@c.us"
    assert (await engine.qr(1)).type == "alreadyLogged"
    drain = Drain()
    await drain.pull(engine)
    assert [e.state for e in drain.of(StateEvent)] == [InstanceState.STARTING, InstanceState.AUTHORIZED]

    # another process (the CLI) reads what the server recorded, and never starts a child itself
    cli = await make_engine(start=False)
    assert await cli.state(1) is InstanceState.AUTHORIZED
    assert await cli.wid(1) == "79990000001@c.us"
    assert (await cli.qr(1)).message == NOT_IN_SERVER
    assert cli.accounts == {}


async def test_pairing_code(make_engine: Make) -> None:
    engine = await make_engine()
    await engine.provision(1)
    write_script(engine.session_dir(1))
    assert await engine.pairing_code(1, "79001112233") == "FAKE1234"
    pair_calls = [c for c in read_calls(engine.session_dir(1)) if c["method"] == "PairPhone"]
    assert pair_calls == [
        {"method": "PairPhone", "args": {"phone": "79001112233", "show_push_notification": True}}
    ]


@pytest.mark.parametrize("crash", ["exit134", "abort"])
async def test_engine_process_dies_mid_send(make_engine: Make, crash: str) -> None:
    engine = await authorized(await make_engine(), crash_on_send=crash)
    first_pid = engine.accounts[1].child.pid  # type: ignore[union-attr]
    with pytest.raises(EnginePermanentError) as died:
        await engine.send_status(1, text("OURS1"), ["ignored@c.us"])
    assert died.value.message == DIED_WHILE_SENDING
    # the engine restarts the process (state starting meanwhile) and the account comes back
    await until(lambda: _is(engine, 1, InstanceState.AUTHORIZED), "back")
    assert engine.accounts[1].child.pid != first_pid  # type: ignore[union-attr]
    # asked, the engine says it cannot tell: the intent is open and nothing is under way
    assert await engine.delivered(1, "OURS1") == DeliveryCheck(DeliveryState.UNKNOWN)
    # and should the queue try again all the same, nothing is resent
    with pytest.raises(EnginePermanentError) as again:
        await engine.send_status(1, text("OURS1"), [])
    assert again.value.message == CUT_OFF
    sends = [c for c in read_calls(engine.session_dir(1)) if c["method"] == "send_message"]
    assert len(sends) == 1


async def test_receipts_map_to_our_ids(make_engine: Make) -> None:
    engine = await authorized(
        await make_engine(),
        receipts=[
            # before the send's answer: held until WhatsApp's id is mapped to ours
            {"from": "79001112233", "type": "DELIVERED", "before_response": True},
            {"from": "lid:555", "type": "PLAYED"},
        ],
        lid_map={"555": "79001112266"},
    )
    outcome = await engine.send_status(1, text("OURS1"), [])
    assert outcome.recipients == ()  # the real audience shows up as receipts
    drain = Drain()
    drain.refuse = lambda e: (
        isinstance(e, ReceiptEvent) and e.status is ReceiptStatus.READ and not drain.events[-1:]
    )

    async def both() -> bool:
        await drain.pull(engine)
        return len(drain.of(ReceiptEvent)) == 2

    await until(both, "receipts")
    got = {(e.message_id, e.participant, e.status) for e in drain.of(ReceiptEvent)}
    assert got == {
        ("OURS1", "79001112233@c.us", ReceiptStatus.DELIVERED),
        ("OURS1", "79001112266@c.us", ReceiptStatus.READ),
    }
    # the intent records WhatsApp's id: delivered; a second send of the id publishes nothing
    assert await engine.delivered(1, "OURS1") == DeliveryCheck(DeliveryState.DELIVERED)
    await engine.send_status(1, text("OURS1"), [])
    assert len([c for c in read_calls(engine.session_dir(1)) if c["method"] == "send_message"]) == 1


async def test_a_send_waiting_for_whatsapp_is_pending_until_it_answers(make_engine: Make) -> None:
    engine = await authorized(await make_engine(whatsapp_send_timeout_seconds=0.3))
    assert await engine.delivered(1, "OURS1") == DeliveryCheck(DeliveryState.NOT_DELIVERED)
    pid = engine.accounts[1].child.pid  # type: ignore[union-attr]
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # the request is written, and nobody reads it: no answer in time
    try:
        with pytest.raises(EngineTransientError):
            await engine.send_status(1, text("OURS1"), [])
        assert await engine.delivered(1, "OURS1") == DeliveryCheck(DeliveryState.PENDING)
    finally:
        os.kill(pid, signal.SIGCONT)

    async def answered() -> bool:
        return (await engine.delivered(1, "OURS1")).state is DeliveryState.DELIVERED

    await until(answered, "delivered once WhatsApp answered")
    assert len([c for c in read_calls(engine.session_dir(1)) if c["method"] == "send_message"]) == 1


async def test_restart_with_backoff_after_a_kill(make_engine: Make) -> None:
    engine = await authorized(await make_engine())
    pid = engine.accounts[1].child.pid  # type: ignore[union-attr]
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await until(lambda: _is(engine, 1, InstanceState.STARTING), "starting")
    await until(lambda: _is(engine, 1, InstanceState.AUTHORIZED), "back")
    assert engine.accounts[1].child.pid != pid  # type: ignore[union-attr]


async def test_linked_but_offline_is_starting(make_engine: Make) -> None:
    engine = await make_engine(start=False)
    await engine.provision(1)
    store_device(engine.session_dir(1))
    write_script(engine.session_dir(1), connect_error="failed to dial whatsapp web websocket: offline")
    await engine.start()
    await engine.hold([1])
    account = engine.accounts[1]
    await until(lambda: asyncio.sleep(0, account.restarts >= 2), "restarts")
    assert await engine.state(1) is InstanceState.STARTING
    answer = await engine.qr(1)
    assert answer.type == "error" and "instance is starting" in answer.message and "offline" in answer.message


async def test_ban_is_blocked_with_its_reason(make_engine: Make) -> None:
    engine = await make_engine()
    await engine.provision(1)
    write_script(engine.session_dir(1), autopair=True, ban="temporary")
    await engine.qr(1)
    await until(lambda: _is(engine, 1, InstanceState.BLOCKED), "blocked")
    answer = await engine.qr(1)
    assert answer.type == "error" and "SEND_TO_TOO_MANY_PEOPLE" in answer.message


async def test_logged_out_on_the_phone(make_engine: Make) -> None:
    engine = await make_engine()
    await engine.provision(1)
    write_script(engine.session_dir(1), autopair=True, ban="logged_out")
    await engine.qr(1)
    await until(lambda: _is(engine, 1, InstanceState.NOT_AUTHORIZED), "logged out", timeout=10)
    await until(lambda: asyncio.sleep(0, engine.accounts[1].child is None), "child stopped")
    assert not files.has_device(engine.session_dir(1))
    assert not engine.accounts[1].linked


async def test_logout_and_forget(make_engine: Make) -> None:
    engine = await authorized(await make_engine())
    await authorized(engine, 2)
    await engine.logout(1)
    assert await engine.state(1) is InstanceState.NOT_AUTHORIZED
    assert not files.has_device(engine.session_dir(1))
    assert "logout" in [c["method"] for c in read_calls(engine.session_dir(1))]

    child = engine.accounts[2].child
    assert child is not None
    await engine.forget(2)
    assert not engine.session_dir(2).exists()
    assert not child.alive


async def test_revoke_uses_whatsapps_id(make_engine: Make) -> None:
    engine = await authorized(await make_engine())
    await engine.send_status(1, text("OURS1"), [])
    wa_id = next(c for c in read_calls(engine.session_dir(1)) if c["method"] == "send_message")
    assert wa_id
    await engine.revoke_status(1, "OURS1", [])
    (revoke,) = [c for c in read_calls(engine.session_dir(1)) if c["method"] == "revoke_message"]
    known = files.Intents(engine.session_dir(1)).get("OURS1")
    assert known is not None and revoke["args"]["message_id"] == known.wa_message_id
    with pytest.raises(EnginePermanentError):
        await engine.revoke_status(1, "NEVER-SENT", [])


async def test_linked_without_neonize_keeps_retrying(make_engine: Make) -> None:
    engine = await make_engine(start=False, test_whatsapp_client="no_such_module_here:NewClient")
    await engine.provision(1)
    store_device(engine.session_dir(1))
    await engine.start()
    await engine.hold([1])
    account = engine.accounts[1]
    await until(lambda: asyncio.sleep(0, account.restarts >= 3), "restarts")
    assert await engine.state(1) is InstanceState.STARTING
    assert "neonize cannot be loaded" in account.reason


async def test_missing_neonize_is_a_clear_error(make_engine: Make, tmp_path: Path) -> None:
    engine = await make_engine(test_whatsapp_client="no_such_module_here:NewClient")
    await engine.provision(1)
    answer = await engine.qr(1)
    assert answer.type == "error" and "pip install 'statusgate[whatsapp]'" in answer.message


async def test_only_held_sessions_run_and_a_let_go_stops_them(make_engine: Make) -> None:
    first = await authorized(await make_engine(), 1)
    await authorized(first, 2)
    await first.close()
    # the next worker process: started, it runs no child until it is given instances
    engine = await make_engine()
    assert engine.accounts == {}
    await engine.hold([2])
    await until(lambda: _is(engine, 2, InstanceState.AUTHORIZED), "the held session back")
    assert set(engine.accounts) == {2}
    pid = engine.accounts[2].child.pid  # type: ignore[union-attr]
    assert pid is not None
    await engine.let_go([2])
    assert engine.accounts == {}

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    await until(lambda: asyncio.sleep(0, gone()), "the child stopped")
    assert files.has_device(engine.session_dir(2))  # the session stays, for the next owner
