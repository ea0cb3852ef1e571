"""An engine child under the engine-neutral supervision (``engines.sidecar.process``), as a real process:
it starts with the allow-listed environment only — never the server's settings (the database URL and its
password, tokens) — and stops when asked."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest

from statusgate.engines.sidecar.process import ChildKind, ChildProcess
from tests.integration.sidecar_echo_child import CODEC, Env, Hello, Stop

CHILD = Path(__file__).with_name("sidecar_echo_child.py")


async def names_seen_by_a_child(kind: ChildKind) -> list[str]:
    events: asyncio.Queue[object] = asyncio.Queue()
    exits: list[int] = []
    child = ChildProcess(
        "echo",
        [sys.executable, str(CHILD)],
        kind,
        log=logging.getLogger("test.sidecar"),
        on_event=events.put_nowait,
        on_exit=exits.append,
    )
    welcome = await child.start(Hello(1), timeout=60)
    assert welcome.pid == child.pid
    event = await asyncio.wait_for(events.get(), 60)
    assert isinstance(event, Env)
    await child.stop(timeout=30)
    assert child.returncode == 0 and exits == [0]
    return event.names


async def test_a_child_gets_only_the_allowed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATUSGATE_DATABASE_URL", "postgresql://statusgate:secret@db/statusgate")
    monkeypatch.setenv("STATUSGATE_METRICS_TOKEN", "t" * 40)
    monkeypatch.setenv("GREEN_API_TOKEN", "t" * 50)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    kind = ChildKind(CODEC, lambda frame: isinstance(frame, Env), lambda _frame: None, Stop())
    names = await names_seen_by_a_child(kind)
    assert "PATH" in names and "LC_ALL" in names
    assert not any(name.startswith("STATUSGATE_") for name in names), names
    assert "GREEN_API_TOKEN" not in names
    # an engine may name more (the baileys child: NODE_EXTRA_CA_CERTS), but never one of the server's own
    wider = ChildKind(
        CODEC,
        lambda frame: isinstance(frame, Env),
        lambda _frame: None,
        Stop(),
        env_names=frozenset({"GREEN_API_TOKEN", "STATUSGATE_DATABASE_URL"}),
    )
    names = await names_seen_by_a_child(wider)
    assert "GREEN_API_TOKEN" in names and "STATUSGATE_DATABASE_URL" not in names
