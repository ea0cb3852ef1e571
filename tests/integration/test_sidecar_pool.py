"""Child processes of several accounts each (``engines.sidecar.pool``), with a real echo child: accounts fill
a process up to its capacity before another starts; each account's frames carry its address, its own
requests are answered by its own handler; a process stops with its last account; a process that dies is
every account's child dying."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from statusgate.engines.sidecar.pool import AccountChannel, ProcessPool
from statusgate.engines.sidecar.process import DIED, ChildKind, ChildStartError
from tests.integration.sidecar_echo_child import CODEC, Ask, Env, Fire, Got, Hello, Ping, Stop

CHILD = Path(__file__).with_name("sidecar_echo_child.py")

KIND = ChildKind(
    CODEC,
    lambda frame: isinstance(frame, (Env, Got)),
    lambda _frame: None,
    Stop(),
    is_request=lambda frame: isinstance(frame, Ask),
)


class Seat:
    """One account on the pool: its channel, its events and exits, its handler (which names it)."""

    def __init__(self, pool: ProcessPool, account: int) -> None:
        self.account = account
        self.events: list[Any] = []
        self.exits: list[int] = []
        self.channel: AccountChannel = pool.channel(
            account, self.events.append, self.exits.append, self.answer
        )

    async def answer(self, frame: Ask) -> Mapping[str, Any]:
        return {"echo": frame.text, "by": self.account}

    def alive(self, pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def pool_of(capacity: int) -> ProcessPool:
    return ProcessPool(
        "echo", lambda: [sys.executable, str(CHILD)], KIND, capacity, log=logging.getLogger("t")
    )


async def until(check: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_accounts_fill_a_process_then_the_next_and_a_process_stops_with_its_last_account() -> None:
    pool = pool_of(2)
    seats = [Seat(pool, account) for account in (11, 12, 13)]
    welcomes = [await seat.channel.start(Hello(1), timeout=30) for seat in seats]
    pids = [seat.channel.pid for seat in seats]
    assert [w.pid for w in welcomes] == pids
    assert pids[0] == pids[1] != pids[2]
    assert len(pool.processes) == 2
    # each account's own event, and its requests answered under its own address
    for seat in seats:
        await until(lambda seat=seat: seat.events, f"{seat.account}'s Env")
        assert isinstance(seat.events[0], Env)
        pong = await seat.channel.request(Ping(), timeout=30)
        assert pong.ok and pong.result == {"pong": True, "account": seat.account}

    await seats[2].channel.stop(timeout=30)
    assert seats[2].exits == [0] and not seats[2].channel.alive
    first, second = pids[0], pids[2]
    assert second is not None and not seats[2].alive(second)
    await seats[0].channel.stop(timeout=30)
    assert first is not None and seats[1].alive(first) and seats[1].channel.alive
    # a new account takes the free slot
    seats.append(Seat(pool, 14))
    await seats[3].channel.start(Hello(1), timeout=30)
    assert seats[3].channel.pid == first
    for seat in seats[1], seats[3]:
        await seat.channel.stop(timeout=30)
    assert not seats[1].alive(first) and pool.processes == []


async def test_each_accounts_own_requests_go_to_its_own_handler_and_back_to_it() -> None:
    pool = pool_of(3)
    seats = [Seat(pool, account) for account in (21, 22)]
    for seat in seats:
        await seat.channel.start(Hello(1), timeout=30)
    for seat in seats:
        fired = await seat.channel.request(Fire([Ask(f"from {seat.account}")]), timeout=30)
        assert fired.ok
        (request_id,) = fired.result["ids"]

        def got(seat: Seat = seat, request_id: int = request_id) -> bool:
            return any(isinstance(e, Got) and e.id == request_id for e in seat.events)

        await until(got, f"the reply to {seat.account}")
        (reply,) = [e.reply for e in seat.events if isinstance(e, Got) and e.id == request_id]
        assert reply.ok and reply.result == {"echo": f"from {seat.account}", "by": seat.account}
    # nobody else heard it
    assert not any(isinstance(e, Got) and e.reply.result.get("by") == 22 for e in seats[0].events)
    for seat in seats:
        await seat.channel.stop(timeout=30)


async def test_a_dead_process_is_every_accounts_child_dying() -> None:
    pool = pool_of(3)
    seats = [Seat(pool, account) for account in (31, 32, 33)]
    for seat in seats:
        await seat.channel.start(Hello(1), timeout=30)
    pid = seats[0].channel.pid
    assert pid is not None and {seat.channel.pid for seat in seats} == {pid}
    os.kill(pid, signal.SIGKILL)
    await until(lambda: all(seat.exits for seat in seats), "every account's exit")
    assert all(seat.exits == [-signal.SIGKILL] and not seat.channel.alive for seat in seats)
    answer = await seats[0].channel.request(Ping(), timeout=30)
    assert not answer.ok and answer.error_kind != DIED  # not running: refused at once
    assert pool.processes == []
    # a new share starts a new process
    again = Seat(pool, 31)
    await again.channel.start(Hello(1), timeout=30)
    assert again.channel.pid not in (None, pid)
    await again.channel.stop(timeout=30)


async def test_an_account_stopped_while_starting_fails_its_start_and_leaves_the_process() -> None:
    pool = pool_of(3)
    staying, leaving = Seat(pool, 41), Seat(pool, 42)
    await staying.channel.start(Hello(1), timeout=30)
    # a hello the echo child never answers: the start waits for its Welcome
    start = asyncio.create_task(leaving.channel.start(Env([]), timeout=30))
    await until(lambda: 42 in pool.processes[0].channels, "the account placed")
    await leaving.channel.stop(timeout=30)
    with pytest.raises(ChildStartError, match="stopped while starting"):
        await start
    assert leaving.exits == [] and list(pool.processes[0].channels) == [41]
    assert staying.channel.alive
    await staying.channel.stop(timeout=30)
