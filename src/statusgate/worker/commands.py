"""Carrying out the API's commands on the live sessions this worker holds, and answering them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from statusgate.domain.commands import (
    CheckNumbers,
    Command,
    CommandFailure,
    FailureKind,
    Logout,
    PairingCode,
    Reboot,
    RevokeStatus,
    ShowQr,
)
from statusgate.engines.base import Engine, SupportsPairingCode
from statusgate.errors import UnsupportedError
from statusgate.services.commands import failure_of
from statusgate.services.context import ServiceContext
from statusgate.store import commands as store
from statusgate.store import instances as instance_store

log = logging.getLogger("statusgate.worker")

#: commands taken per look at the table
_BATCH = 50


async def carry_out(engine: Engine, instance_id: int, command: Command) -> Any:
    """The engine call behind a command; its answer as JSON-able data."""
    if isinstance(command, ShowQr):
        qr = await engine.qr(instance_id)
        return {"type": qr.type, "message": qr.message}
    if isinstance(command, PairingCode):
        if not isinstance(engine, SupportsPairingCode):
            raise UnsupportedError(f"the {engine.name.value} engine cannot link a phone by code; use qr")
        return await engine.pairing_code(instance_id, command.phone_number)
    if isinstance(command, Logout):
        await engine.logout(instance_id)
        return None
    if isinstance(command, Reboot):
        await engine.reboot(instance_id)
        return None
    if isinstance(command, CheckNumbers):
        return sorted(await engine.existing(instance_id, list(command.chat_ids)))
    if isinstance(command, RevokeStatus):
        await engine.revoke_status(instance_id, command.message_id, list(command.recipients))
        return None
    raise AssertionError(f"unknown command {command!r}")


class CommandRunner:
    def __init__(self, ctx: ServiceContext, worker_id: str, held: Callable[[], set[int]]) -> None:
        self.ctx = ctx
        self.worker_id = worker_id
        #: the instances this worker owns: only their commands are its to carry out
        self.held = held
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        #: one command at a time per account: a logout and a QR request must not interleave
        self._locks: dict[int, asyncio.Lock] = {}

    async def start(self) -> None:
        if self.ctx.db.is_sqlite:
            # one worker per SQLite database: whatever a predecessor left running died with it
            await self.ctx.db.write(store.release, None, time.time())
        self._loop = asyncio.create_task(self._run(), name="statusgate.commands")

    async def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._loop is not None:
            await asyncio.gather(self._loop, return_exceptions=True)
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.ctx.db.write(store.release, self.worker_id, time.time())

    def wake(self) -> None:
        self._wakeup.set()

    async def _run(self) -> None:
        poll = self.ctx.settings.poll_interval_seconds
        while not self._stopping.is_set():
            self._wakeup.clear()
            try:
                taken = await self.ctx.db.write(
                    store.take_due, self.worker_id, self.held(), time.time(), _BATCH
                )
                for row in taken:
                    task = asyncio.create_task(
                        self._execute(row), name=f"statusgate.command[{row.command_id}]"
                    )
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
            except Exception:
                log.exception("taking commands failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), poll)

    async def _execute(self, row: store.CommandRow) -> None:
        lock = self._locks.setdefault(row.instance_id, asyncio.Lock())
        async with lock:
            try:
                instance = await self.ctx.db.read(instance_store.get, row.instance_id)
                if instance is None:
                    raise UnsupportedError("the instance is gone")
                engine = self.ctx.engine(instance.engine)
                # the request gives up at the deadline; the engine's own waits are shorter still
                async with asyncio.timeout(max(0.0, row.deadline - time.time())):
                    answer = await carry_out(engine, row.instance_id, row.command)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure = (
                    CommandFailure(FailureKind.TRANSIENT, "the engine did not answer in time")
                    if isinstance(exc, TimeoutError)
                    else failure_of(exc)
                )
                log.info(
                    "command %s of instance %s failed: %s", row.command_id, row.instance_id, failure.message
                )
                await self.ctx.db.write(store.fail, row.command_id, failure, time.time())
                return
            await self.ctx.db.write(store.answer, row.command_id, answer, time.time())
