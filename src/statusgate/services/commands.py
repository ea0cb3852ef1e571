"""Asking an account's live session for something: a command the owning worker carries out.

The request waits for the answer up to ``command_timeout_seconds`` (longer than the engines' own waits);
it is answered at once when no worker is alive to take it. Either way the answer is what calling the engine
directly would have been: its result, or the same errors.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from statusgate.domain.commands import Command, CommandFailure, CommandState, FailureKind
from statusgate.errors import (
    EngineError,
    EnginePermanentError,
    EngineTransientError,
    NotAuthorizedError,
    UnsupportedError,
)
from statusgate.services.context import ServiceContext
from statusgate.store import commands as store
from statusgate.store import workers

NO_WORKER = "no worker is running to carry this out (start one: statusgate serve --role worker)"
#: how often a waiting request looks at its command: soon at first (an in-process worker answers within
#: milliseconds), then less often
_FIRST_LOOK = 0.002
_LONGEST_LOOK = 0.05


def failure_error(failure: CommandFailure) -> Exception:
    """The error the engine would have raised for this failure (rendered as Green's answer)."""
    if failure.kind is FailureKind.NOT_AUTHORIZED:
        return NotAuthorizedError()
    if failure.kind is FailureKind.UNSUPPORTED:
        return UnsupportedError(failure.message)
    if failure.kind is FailureKind.PERMANENT:
        return EnginePermanentError(failure.message)
    return EngineTransientError(failure.message)


def failure_of(exc: Exception) -> CommandFailure:
    """How an error raised while carrying out a command is written down."""
    if isinstance(exc, NotAuthorizedError):
        return CommandFailure(FailureKind.NOT_AUTHORIZED, exc.message)
    if isinstance(exc, UnsupportedError):
        return CommandFailure(FailureKind.UNSUPPORTED, exc.message)
    if isinstance(exc, EnginePermanentError):
        return CommandFailure(FailureKind.PERMANENT, exc.message)
    if isinstance(exc, EngineError):
        return CommandFailure(FailureKind.TRANSIENT, exc.message)
    return CommandFailure(FailureKind.TRANSIENT, f"the command failed in the worker ({type(exc).__name__})")


async def run(ctx: ServiceContext, instance_id: int, command: Command) -> Any:
    """Have ``command`` carried out for the instance; its answer (JSON-able, per command)."""
    settings = ctx.settings
    now = time.time()
    if not await ctx.db.read(workers.alive, settings.lease_seconds):
        raise EngineTransientError(NO_WORKER)
    wait = settings.command_timeout_seconds
    command_id = await ctx.db.write(store.submit, instance_id, command, now, now + wait)
    ctx.wakeups.command_submitted(instance_id)
    give_up = time.monotonic() + wait
    look = _FIRST_LOOK
    while True:
        row = await ctx.db.read(store.get, command_id)
        if row is None:  # the instance was deleted meanwhile
            raise EngineTransientError("the instance is gone")
        if row.state is CommandState.DONE:
            return row.answer
        if row.state is CommandState.FAILED:
            assert row.failure is not None
            raise failure_error(row.failure)
        if row.state is CommandState.EXPIRED:
            raise EngineTransientError(f"no worker took the command within {wait:g} s")
        remaining = give_up - time.monotonic()
        if remaining <= 0:
            raise EngineTransientError(f"the worker did not answer within {wait:g} s")
        await asyncio.sleep(min(look, remaining))
        look = min(look * 2, _LONGEST_LOOK)
