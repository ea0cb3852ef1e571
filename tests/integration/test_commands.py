"""Calls that need the live account go to the worker as commands with a deadline (issue 10, step 5)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx
import pytest

from statusgate.api.app import build_app
from statusgate.domain.commands import CommandState, Logout
from statusgate.domain.models import EngineName
from statusgate.domain.states import InstanceState
from statusgate.services import commands as command_service
from statusgate.services import instances
from statusgate.store import workers
from statusgate.store.schema.instances import commands as commands_table
from statusgate.wiring.core import Core
from statusgate.worker.commands import CommandRunner
from statusgate.worker.ownership import Ownership


@pytest.fixture
async def api_only(make_settings: Any) -> Any:
    """The API over a core, with no worker in the process (as ``--role api``)."""
    async with _api_only(make_settings, command_timeout_seconds=0.5) as found:
        yield found


@contextlib.asynccontextmanager
async def _api_only(make_settings: Any, **settings: Any) -> Any:
    core = Core(make_settings(**settings))
    await core.open()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(core.ctx)), base_url="http://t")
    try:
        yield core, client
    finally:
        await client.aclose()
        await core.close()


@pytest.fixture
async def api_only_patient(make_settings: Any) -> Any:
    """As ``api_only``, with a command timeout far above what an answer at once takes on a busy machine."""
    async with _api_only(make_settings, command_timeout_seconds=30) as found:
        yield found


async def test_no_live_worker_answers_at_once(api_only_patient: Any) -> None:
    core, client = api_only_patient
    created = await instances.create(core.ctx, authorized=True)
    path = f"/waInstance{created.id_instance}/reboot/{created.api_token}"
    started = time.monotonic()
    response = await client.get(path)
    assert response.status_code == 502, response.text
    assert "no worker is running" in response.json()["message"]
    assert time.monotonic() - started < 10  # not the command timeout (30 s): nobody would have answered
    assert await core.ctx.db.read(lambda conn: conn.execute(commands_table.select()).all()) == []
    health = (await client.get("/health")).json()
    assert health == {"status": "ok", "database": True, "worker": False}


async def test_a_command_nobody_takes_in_time_fails_and_never_runs_later(api_only: Any) -> None:
    core, client = api_only
    ctx = core.ctx
    created = await instances.create(ctx, authorized=True)
    # a worker that heartbeats but carries nothing out (stuck): the request gives up at the timeout
    await ctx.db.write(workers.register, "stuck", "host", 1)
    response = await client.get(f"/waInstance{created.id_instance}/logout/{created.api_token}")
    assert response.status_code == 502, response.text
    assert "did not answer within 0.5 s" in response.json()["message"]
    # the worker comes back later: the command is past its deadline and is never carried out
    runner = CommandRunner(ctx, "late", lambda: {created.id_instance})
    await runner.start()
    try:

        async def settled() -> bool:
            rows = await ctx.db.read(lambda conn: conn.execute(commands_table.select()).all())
            return bool(rows) and rows[0].state == CommandState.EXPIRED.value

        deadline = time.monotonic() + 10
        while not await settled():
            assert time.monotonic() < deadline, "the late command was not expired"
            runner.wake()
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    engine = ctx.engine(EngineName.SANDBOX)
    assert await engine.state(created.id_instance) is InstanceState.AUTHORIZED  # no logout happened


async def test_the_worker_carries_out_and_answers(make_settings: Any) -> None:
    core = Core(make_settings())
    await core.open()
    ctx = core.ctx
    await ctx.db.write(workers.register, "w1", "host", 1)
    # the worker takes only its own instances' commands: w1 owns the instance
    created = await instances.create(ctx, authorized=True)
    ownership = Ownership(ctx.settings, ctx.db, "w1")
    await ownership.start()
    assert ownership.held() == {created.id_instance}
    runner = CommandRunner(ctx, "w1", ownership.held)
    core.wakeups.attach(_Wake(runner))
    await runner.start()
    try:
        assert await command_service.run(ctx, created.id_instance, Logout()) is None
        engine = ctx.engine(EngineName.SANDBOX)
        assert await engine.state(created.id_instance) is InstanceState.NOT_AUTHORIZED
        rows = await ctx.db.read(lambda conn: conn.execute(commands_table.select()).all())
        assert [(r.kind, r.state, r.taken_by) for r in rows] == [("logout", "done", "w1")]
    finally:
        await runner.stop()
        await ownership.stop()
        await core.close()


class _Wake:
    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    def status_queued(self, instance_id: int) -> None:
        return None

    def instance_changed(self, instance_id: int) -> None:
        return None

    def command_submitted(self, instance_id: int) -> None:
        self.runner.wake()
