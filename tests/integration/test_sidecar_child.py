"""An engine child under the engine-neutral supervision (``engines.sidecar.process``), as a real process:
it starts with the allow-listed environment only — never the server's settings (the database URL and its
password, tokens) — and stops when asked; its own requests are answered by ids of its own, without holding
up the reader, a bounded number at once, and a failing handler answers an error."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from statusgate.engines.sidecar.framing import FENCED, PERMANENT, TRANSIENT, Reply
from statusgate.engines.sidecar.process import ChildKind, ChildProcess
from statusgate.engines.sidecar.serving import RequestHandler
from statusgate.errors import EnginePermanentError, LeaseLostError
from tests.integration.sidecar_echo_child import CODEC, Ask, Env, Fire, Got, Hello, Ping, Stop

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


# --- the child's own requests ---------------------------------------------------------------------------------

ASKING = ChildKind(
    CODEC,
    lambda frame: isinstance(frame, (Env, Got)),
    lambda _frame: None,
    Stop(),
    is_request=lambda frame: isinstance(frame, Ask),
)


class Asking:
    """A running echo child whose Asks the test's handler answers, and the replies it reported."""

    def __init__(self, child: ChildProcess) -> None:
        self.child = child
        self.replies: dict[int, Reply] = {}
        self.arrived = asyncio.Event()

    def on_event(self, frame: Any) -> None:
        if isinstance(frame, Got):
            self.replies[frame.id] = frame.reply
            self.arrived.set()

    async def fire(self, *asks: Ask) -> list[int]:
        response = await self.child.request(Fire(list(asks)), timeout=60)
        assert response.ok, response
        return list(response.result["ids"])

    async def reply(self, request_id: int) -> Reply:
        deadline = time.monotonic() + 60
        while request_id not in self.replies:
            assert time.monotonic() < deadline, f"no reply to the child's request {request_id}"
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), 1)
        return self.replies[request_id]


@contextlib.asynccontextmanager
async def asking_child(handler: RequestHandler | None, **limits: int) -> AsyncIterator[Asking]:
    holder: list[Asking] = []
    child = ChildProcess(
        "echo",
        [sys.executable, str(CHILD)],
        ASKING,
        log=logging.getLogger("test.sidecar"),
        on_event=lambda frame: holder[0].on_event(frame),
        on_exit=lambda _code: None,
        on_request=handler,
        **limits,
    )
    holder.append(Asking(child))
    await child.start(Hello(1), timeout=60)
    try:
        yield holder[0]
    finally:
        await child.stop(timeout=30)
    assert child.returncode == 0  # the child found every reply's id among its own requests


class Handler:
    """Echoes an Ask's text; ``hold`` waits for :attr:`release`; counts how many run at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running = 0
        self.most = 0

    async def __call__(self, frame: Ask) -> Mapping[str, Any]:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if frame.hold:
                await self.release.wait()
            if frame.fail == "ours":
                raise EnginePermanentError("no such key")
            if frame.fail == "fenced":
                raise LeaseLostError()
            if frame.fail == "bug":
                raise RuntimeError("connection to 10.1.2.3 failed: password=hunter2")
            return {"echo": frame.text}
        finally:
            self.running -= 1


async def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_a_slow_answer_holds_up_neither_the_others_nor_the_servers_own_requests() -> None:
    handler = Handler()
    async with asking_child(handler) as asking:
        # the server's Fire is its request 1; the child's first Ask is the child's request 1
        slow, fast = await asking.fire(Ask("slow", hold=True), Ask("fast"))
        assert (slow, fast) == (1, 2)
        assert (await asking.reply(fast)) == Reply(ok=True, result={"echo": "fast"})
        assert slow not in asking.replies and handler.running == 1
        # the reader still reads the answers to the server's own requests
        pong = await asking.child.request(Ping(), timeout=60)
        assert pong.ok and pong.result == {"pong": True}
        handler.release.set()
        assert (await asking.reply(slow)) == Reply(ok=True, result={"echo": "slow"})


async def test_a_failing_handler_answers_an_error_and_the_child_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with asking_child(Handler()) as asking:
        ours, fenced, bug, after = await asking.fire(
            Ask("a", fail="ours"), Ask("b", fail="fenced"), Ask("c", fail="bug"), Ask("d")
        )
        assert await asking.reply(ours) == Reply(ok=False, error="no such key", error_kind=PERMANENT)
        refused = await asking.reply(fenced)
        assert (refused.ok, refused.error_kind) == (False, FENCED)
        assert "no longer holds the instance's lease" in refused.error
        # a failure that is not ours: the child learns only that the server failed; the log has the rest
        failed = await asking.reply(bug)
        assert failed == Reply(ok=False, error="the server failed to answer Ask", error_kind=TRANSIENT)
        assert "hunter2" in caplog.text and "RuntimeError" in caplog.text
        assert await asking.reply(after) == Reply(ok=True, result={"echo": "d"})
        assert asking.child.alive


async def test_a_bounded_number_run_at_once_and_a_flood_is_refused_at_once() -> None:
    handler = Handler()
    async with asking_child(handler, request_concurrency=2, request_backlog=3) as asking:
        ids = await asking.fire(*[Ask(str(n), hold=True) for n in range(6)])
        # two run, three wait for a turn, the sixth is refused without waiting for any of them
        assert await asking.reply(ids[5]) == Reply(
            ok=False, error="too many requests at once", error_kind=TRANSIENT
        )
        await _until(lambda: handler.running == 2, "two handlers running")
        assert not set(ids[:5]) & set(asking.replies)
        handler.release.set()
        for n, request_id in enumerate(ids[:5]):
            assert await asking.reply(request_id) == Reply(ok=True, result={"echo": str(n)})
        assert handler.most == 2


async def test_a_child_whose_server_takes_no_requests_is_told_so() -> None:
    async with asking_child(None) as asking:
        (only,) = await asking.fire(Ask("x"))
        assert await asking.reply(only) == Reply(
            ok=False, error="the server takes no Ask requests", error_kind=PERMANENT
        )
