"""Commands for live sessions: written by the API, carried out and answered by the worker.

The JSON of ``args`` and ``result`` is this module's business: the rest of the gateway sees the typed
:mod:`statusgate.domain.commands` values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.commands import (
    COMMAND_TRANSITIONS,
    CheckNumbers,
    Command,
    CommandFailure,
    CommandState,
    FailureKind,
    Logout,
    PairingCode,
    Reboot,
    RevokeStatus,
    ShowQr,
)
from statusgate.store import signals
from statusgate.store.schema.instances import commands

_KINDS: dict[type[Any], str] = {
    ShowQr: "qr",
    PairingCode: "pairing_code",
    Logout: "logout",
    Reboot: "reboot",
    CheckNumbers: "check_numbers",
    RevokeStatus: "revoke_status",
}


def _args(command: Command) -> dict[str, Any]:
    if isinstance(command, PairingCode):
        return {"phone_number": command.phone_number}
    if isinstance(command, CheckNumbers):
        return {"chat_ids": list(command.chat_ids)}
    if isinstance(command, RevokeStatus):
        return {"message_id": command.message_id, "recipients": list(command.recipients)}
    return {}


def _command(kind: str, args: dict[str, Any]) -> Command:
    if kind == "qr":
        return ShowQr()
    if kind == "pairing_code":
        return PairingCode(args["phone_number"])
    if kind == "logout":
        return Logout()
    if kind == "reboot":
        return Reboot()
    if kind == "check_numbers":
        return CheckNumbers(tuple(args["chat_ids"]))
    if kind == "revoke_status":
        return RevokeStatus(args["message_id"], tuple(args["recipients"]))
    raise ValueError(f"unknown command kind {kind!r}")


@dataclass(frozen=True)
class CommandRow:
    command_id: int
    instance_id: int
    command: Command
    state: CommandState
    deadline: float
    #: the answer (DONE): JSON-able, its shape depends on the command
    answer: Any = None
    failure: CommandFailure | None = None


def _row(r: sa.Row[Any]) -> CommandRow:
    result = r.result or {}
    failure = None
    if "failure" in result:
        failure = CommandFailure(FailureKind(result["failure"]), str(result.get("message", "")))
    return CommandRow(
        command_id=r.command_id,
        instance_id=r.instance_id,
        command=_command(r.kind, dict(r.args)),
        state=CommandState(r.state),
        deadline=r.deadline,
        answer=result.get("answer"),
        failure=failure,
    )


def submit(conn: Connection, instance_id: int, command: Command, now: float, deadline: float) -> int:
    result = conn.execute(
        commands.insert().values(
            instance_id=instance_id,
            kind=_KINDS[type(command)],
            args=_args(command),
            state=CommandState.PENDING.value,
            created_at=now,
            deadline=deadline,
        )
    )
    command_id = result.inserted_primary_key[0]  # type: ignore[index]
    signals.send(conn, signals.Signal.COMMAND_SUBMITTED, [instance_id])
    return int(command_id)


def get(conn: Connection, command_id: int) -> CommandRow | None:
    row = conn.execute(sa.select(commands).where(commands.c.command_id == command_id)).first()
    return _row(row) if row is not None else None


def _move(conn: Connection, command_id: int, old: CommandState, new: CommandState, **values: Any) -> bool:
    if new not in COMMAND_TRANSITIONS[old]:
        raise ValueError(f"a command cannot go from {old} to {new}")
    result = conn.execute(
        commands.update()
        .where(commands.c.command_id == command_id, commands.c.state == old.value)
        .values(state=new.value, **values)
    )
    return result.rowcount == 1


def take_due(
    conn: Connection, worker_id: str, instance_ids: set[int] | None, now: float, limit: int
) -> list[CommandRow]:
    """Take pending commands whose deadline has not passed (oldest first), for these instances (None: any);
    expire the pending ones whose deadline has."""
    conn.execute(
        commands.update()
        .where(commands.c.state == CommandState.PENDING.value, commands.c.deadline <= now)
        .values(state=CommandState.EXPIRED.value, finished_at=now)
    )
    query = (
        sa.select(commands)
        .where(commands.c.state == CommandState.PENDING.value)
        .order_by(commands.c.command_id)
        .limit(limit)
    )
    if instance_ids is not None:
        query = query.where(commands.c.instance_id.in_(sorted(instance_ids)))
    taken = []
    for row in conn.execute(query).all():
        if _move(conn, row.command_id, CommandState.PENDING, CommandState.RUNNING, taken_by=worker_id):
            taken.append(_row(row))
    return taken


def answer(conn: Connection, command_id: int, value: Any, now: float) -> bool:
    return _move(
        conn, command_id, CommandState.RUNNING, CommandState.DONE, result={"answer": value}, finished_at=now
    )


def fail(conn: Connection, command_id: int, failure: CommandFailure, now: float) -> bool:
    result = {"failure": failure.kind.value, "message": failure.message}
    return _move(conn, command_id, CommandState.RUNNING, CommandState.FAILED, result=result, finished_at=now)


def forget_finished(conn: Connection, before: float) -> int:
    """Remove commands that ended (or expired) before ``before``: their answers were read long ago."""
    result = conn.execute(
        commands.delete().where(
            commands.c.state.in_(
                [s.value for s in (CommandState.DONE, CommandState.FAILED, CommandState.EXPIRED)]
            ),
            commands.c.finished_at < before,
        )
    )
    return int(result.rowcount)


def release(conn: Connection, worker_id: str | None, now: float) -> int:
    """What a worker took and did not finish fails (never re-run: the engine may have acted on it). For a
    worker that stops (``worker_id``), or for every worker (None: SQLite, where a starting worker is the
    only one and the others are dead)."""
    running = commands.c.state == CommandState.RUNNING.value
    chosen = running if worker_id is None else sa.and_(running, commands.c.taken_by == worker_id)
    result = conn.execute(
        commands.update()
        .where(chosen)
        .values(
            finished_at=now,
            state=CommandState.FAILED.value,
            result={
                "failure": FailureKind.TRANSIENT.value,
                "message": "the worker stopped while carrying it out",
            },
        )
    )
    return int(result.rowcount)
