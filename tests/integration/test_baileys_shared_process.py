"""Three baileys accounts in one Node process (``baileys_accounts_per_process``): each links and sends on
its own; a kill of the process restarts all three, which log in again from the database; one account's
logout leaves the others connected, in the same process."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable

import pytest

from statusgate.domain.ownership import Fence
from statusgate.domain.posts import OutgoingStatus, TextPost
from statusgate.domain.states import InstanceState
from statusgate.engines.baileys.engine import BaileysEngine
from statusgate.engines.baileys.launcher import Launcher
from statusgate.engines.baileys.protocol import CODEC
from statusgate.engines.sidecar.frames import Fatal, Logout
from statusgate.engines.sidecar.framing import TRANSIENT
from statusgate.settings import Settings
from statusgate.store import ownership
from statusgate.wiring.core import Core
from tests.baileys_standin import driver
from tests.baileys_standin.fixtures import standin_for
from tests.integration.test_baileys_engine import engine_settings, eventually, keys, owned, phone

SEED = 20261204
DEVICE = 6


standin = standin_for(SEED)


@pytest.fixture
async def core(make_settings: Callable[..., Settings], standin: driver.StandIn) -> AsyncIterator[Core]:
    opened = Core(engine_settings(make_settings, standin, baileys_accounts_per_process=3))
    await opened.open()
    yield opened
    await opened.close()


def pid_of(engine: BaileysEngine, instance_id: int) -> int | None:
    child = engine.accounts[instance_id].child
    return child.pid if child is not None and child.alive else None


async def test_three_accounts_share_a_process_and_each_survives_the_others(
    core: Core, standin: driver.StandIn
) -> None:
    fences: dict[int, Fence] = {}
    for _ in range(3):
        fence = await owned(core)
        fences[fence.lease.instance_id] = fence
    ids = sorted(fences)
    engine = BaileysEngine(core.ctx.settings, core.ctx.db)
    await engine.start(fences.get)
    try:
        devices: dict[int, str] = {}
        for instance_id in ids:
            assert (await engine.qr(instance_id)).type == "qrCode"
            code = engine.accounts[instance_id].qr_code
            assert code is not None
            scanned = standin.command("scan", qr=code, phone=phone(instance_id), device=DEVICE)
            devices[instance_id] = scanned["jid"]

        async def all_authorized() -> bool:
            return all([await engine.state(i) is InstanceState.AUTHORIZED for i in ids])

        await eventually(all_authorized, "three accounts authorized")
        pids = {pid_of(engine, i) for i in ids}
        assert len(pids) == 1 and None not in pids, pids
        (first_pid,) = pids
        assert first_pid is not None
        for instance_id in ids:
            assert await engine.wid(instance_id) == f"{phone(instance_id)}@c.us"
            assert await keys(core, instance_id) > 0

        # each sends under its own device, with its own keys
        reader = standin.command("register", phone=f"1677{ids[0] % 10**7:07d}", devices=[0])
        reader_chat = f"{str(reader['jid']).split('@')[0]}@c.us"
        for instance_id in ids:
            message_id = f"BAE5{instance_id:012d}"
            post = TextPost(f"from {instance_id}", background_color="#FF8800", font="NORICAN_REGULAR")
            status = OutgoingStatus(message_id, post, None, fences[instance_id])
            outcome = await engine.send_status(instance_id, status, [reader_chat])
            assert outcome.recipients == (reader_chat,)
            sent = standin.wait_for_event("status", id=message_id)
            assert sent["from"] == devices[instance_id]
            assert sent["undecryptable"] == [], sent["why"]

        # a fatal error of one account (its worker lost its lease) ends that account alone
        fenced = await owned(core)
        await core.ctx.db.write(ownership.release, fenced.owner, [fenced.lease.instance_id])
        fences[fenced.lease.instance_id] = fenced
        # (its first write, the wipe of what an unlinked account may have left, is refused: Fatal)
        answer = await engine.qr(fenced.lease.instance_id)
        failure = engine.accounts[fenced.lease.instance_id].qr_failure
        assert answer.type == "error" and failure is not None and "lease" in failure, (answer, failure)
        assert await keys(core, fenced.lease.instance_id) == 0
        await engine.let_go([fenced.lease.instance_id])
        del fences[fenced.lease.instance_id]
        assert await all_authorized() and {pid_of(engine, i) for i in ids} == {first_pid}

        # the process dies: every account on it restarts, into one new process, from its stored keys
        os.kill(first_pid, signal.SIGKILL)

        async def all_back() -> bool:
            restarted = {pid_of(engine, i) for i in ids}
            return len(restarted) == 1 and first_pid not in restarted and await all_authorized()

        await eventually(all_back, "three accounts back in a new process")
        (second_pid,) = {pid_of(engine, i) for i in ids}

        # one logs out: the others stay connected, in the same process
        await engine.logout(ids[0])
        assert await engine.state(ids[0]) is InstanceState.NOT_AUTHORIZED
        assert await keys(core, ids[0]) == 0
        for instance_id in ids[1:]:
            assert await engine.state(instance_id) is InstanceState.AUTHORIZED
            assert pid_of(engine, instance_id) == second_pid
        assert (await engine.qr(ids[0])).type == "qrCode"
        assert pid_of(engine, ids[0]) == second_pid
    finally:
        await engine.close()
    # the process went with its last account
    assert second_pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(second_pid, 0)


async def test_a_process_refuses_a_second_hello_for_an_account_and_requests_for_an_account_it_lacks(
    core: Core,
) -> None:
    fence = await owned(core)
    instance_id = fence.lease.instance_id
    launcher = Launcher(core.ctx.settings, core.ctx.db, lambda i: fence if i == instance_id else None)
    events: list[object] = []
    exits: list[int] = []
    channel = launcher.child(instance_id, events.append, exits.append)
    await channel.start(launcher.hello(instance_id, pair=True), timeout=60)
    assert launcher.pool is not None
    (process,) = launcher.pool.processes
    await process.write(CODEC.encode(launcher.hello(instance_id, pair=True), None, instance_id))

    async def refused() -> bool:
        return any(isinstance(e, Fatal) for e in events)

    await eventually(refused, "the second hello refused")
    (fatal,) = [e for e in events if isinstance(e, Fatal)]
    assert f"holds account {instance_id} already" in fatal.reason
    elsewhere = await process.wait(await process.submit(Logout(), account=instance_id + 1), 30)
    assert not elsewhere.ok and elsewhere.error_kind == TRANSIENT and "no account" in elsewhere.error
    # the account itself is untouched
    assert channel.alive and exits == []
    await channel.stop(timeout=30)
    assert exits == [0] and not process.alive and launcher.pool.processes == []
