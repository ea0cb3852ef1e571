"""The durable per-instance status queue (FIFO by ``seq``) and its transition journal.

Every state change goes through :func:`transition`, which checks the domain transition table, does a
compare-and-set on the old state (so two workers can never both win) and appends to ``status_events``.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.models import StatusType
from statusgate.domain.notifications import Notification, OutgoingStatusChanged
from statusgate.domain.posts import StatusPost
from statusgate.domain.states import (
    CLEARABLE_STATES,
    PENDING_STATES,
    StatusState,
    check_transition,
)
from statusgate.store import notifications, posts
from statusgate.store.schema.statuses import PENDING_SQL, status_events, statuses


@dataclass(frozen=True)
class StatusRow:
    seq: int
    instance_id: int
    id_message: str
    post: StatusPost
    #: the kind of file: announced by the file name when queued, what the bytes were once prepared
    kind: str | None
    state: StatusState
    description: str | None
    media_id: str | None
    created_at: float
    updated_at: float
    expires_at: float
    attempts: int
    not_before: float | None
    lease_owner: str | None
    lease_expires_at: float | None
    recipients: list[str] | None
    skipped_participants: list[str] | None
    sent_at: float | None
    delete_requested: bool = False
    last_action_at: float = 0.0


def row_from_db(row: sa.Row[Any]) -> StatusRow:
    return StatusRow(
        seq=row.seq,
        instance_id=row.instance_id,
        id_message=row.id_message,
        post=posts.from_stored(StatusType(row.type), row.body, row.kind),
        kind=row.kind,
        state=StatusState(row.state),
        description=row.description,
        media_id=row.media_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        attempts=row.attempts,
        not_before=row.not_before,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        recipients=list(row.recipients) if row.recipients is not None else None,
        skipped_participants=(
            list(row.skipped_participants) if row.skipped_participants is not None else None
        ),
        sent_at=row.sent_at,
        delete_requested=bool(row.delete_requested),
        last_action_at=row.last_action_at,
    )


_PENDING = [s.value for s in PENDING_STATES]


def transition(
    conn: Connection,
    seq: int,
    old: StatusState,
    new: StatusState,
    now: float,
    *,
    description: str | None = None,
    **values: Any,
) -> bool:
    """Move one status from ``old`` to ``new``; False if it was no longer in ``old`` (someone else moved it)."""
    return transition_row(conn, seq, old, new, now, description=description, **values) is not None


def transition_row(
    conn: Connection,
    seq: int,
    old: StatusState,
    new: StatusState,
    now: float,
    *,
    description: str | None = None,
    **values: Any,
) -> Moved | None:
    """:func:`transition`, answering who the status belongs to (None if it was no longer in ``old``)."""
    check_transition(old, new)
    columns, params = _move_params(seq, old, new, now, description, values)
    row = conn.execute(_transition_statement(columns), params).first()
    if row is None:
        return None
    moved = Moved(row.instance_id, row.id_message, bool(row.delete_requested))
    conn.execute(
        _INSERT_EVENT, {"status_seq": seq, "state": new.value, "at": now, "description": description}
    )
    reported = OutgoingStatusChanged.after_move(moved.instance_id, moved.id_message, new, description, now)
    if reported is not None:
        notifications.journal(conn, reported)
    return moved


def _move_params(
    seq: int,
    old: StatusState,
    new: StatusState,
    at: float,
    description: str | None,
    values: dict[str, Any],
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The columns a move sets (the key of its pre-built statement) and the statement's bound values."""
    update = {"state": new.value, "updated_at": at, "last_action_at": at, **values}
    if description is not None:
        update["description"] = description
    params = {f"v_{key}": value for key, value in update.items()}
    return tuple(sorted(update)), {"w_seq": seq, "w_old": old.value, **params}


@dataclass(frozen=True)
class Move:
    """One status's move for :func:`transition_many`: from ``old`` to ``new`` at ``at``, setting ``values``."""

    seq: int
    old: StatusState
    new: StatusState
    at: float
    description: str | None = None
    values: tuple[tuple[str, Any], ...] = ()
    #: only if the status's lease is this worker's: a worker that stalled past the lease, while another
    #: took the status over in the same state, must not record its outcome
    leased_to: str | None = None


def transition_many(
    conn: Connection, moves: Sequence[Move], *, skip_locked: bool = False
) -> list[Moved | None]:
    """:func:`transition_row` for a group of statuses, in a few statements whatever their number.

    The group's rows are read first and locked (``FOR UPDATE`` on PostgreSQL; on SQLite the transaction holds
    the write lock from its start), so each move is known to win or lose before anything is written, and the
    winners' updates, journal rows and notifications go in one statement each. Answers per move, in order,
    who the status belongs to, or None if it was no longer in ``old``.

    ``skip_locked`` (claims): a row another transaction has locked counts as lost rather than waited for,
    so workers claiming at once take different statuses (PostgreSQL's ``SKIP LOCKED``). Never for results:
    a result must wait for its row, not be dropped.
    """
    for move in moves:
        check_transition(move.old, move.new)
    seqs = [move.seq for move in moves]
    if len(set(seqs)) != len(seqs):
        raise ValueError("a status moves at most once per group")
    current: dict[int, Any] = {}
    for start in range(0, len(seqs), 500):
        lock = _LOCK_ROWS_SKIP_LOCKED if skip_locked else _LOCK_ROWS
        for locked in conn.execute(lock, {"seqs": seqs[start : start + 500]}):
            current[locked.seq] = locked
    answers: list[Moved | None] = []
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    events: list[dict[str, Any]] = []
    facts: list[Notification] = []
    for move in moves:
        row = current.get(move.seq)
        if (
            row is None
            or row.state != move.old.value
            or (move.leased_to is not None and row.lease_owner != move.leased_to)
        ):
            answers.append(None)
            continue
        moved = Moved(row.instance_id, row.id_message, bool(row.delete_requested))
        answers.append(moved)
        columns, params = _move_params(
            move.seq, move.old, move.new, move.at, move.description, dict(move.values)
        )
        updates.setdefault(columns, []).append(params)
        events.append(
            {"status_seq": move.seq, "state": move.new.value, "at": move.at, "description": move.description}
        )
        reported = OutgoingStatusChanged.after_move(
            moved.instance_id, moved.id_message, move.new, move.description, move.at
        )
        if reported is not None:
            facts.append(reported)
    for columns, params_list in updates.items():
        result = conn.execute(_update_statement(columns), params_list)
        if result.rowcount != len(params_list):  # the rows are locked: only a bug can get here
            raise RuntimeError(f"{len(params_list)} locked statuses, {result.rowcount} moved")
    if events:
        conn.execute(_INSERT_EVENT, events)
    if facts:
        notifications.journal_many(conn, facts)
    return answers


_LOCKED_ROWS = sa.select(
    statuses.c.seq,
    statuses.c.state,
    statuses.c.instance_id,
    statuses.c.id_message,
    statuses.c.delete_requested,
    statuses.c.lease_owner,
).where(statuses.c.seq.in_(sa.bindparam("seqs", expanding=True)))
_LOCK_ROWS = _LOCKED_ROWS.with_for_update()
_LOCK_ROWS_SKIP_LOCKED = _LOCKED_ROWS.with_for_update(skip_locked=True)


@functools.cache
def _update_statement(columns: tuple[str, ...]) -> sa.Update:
    return (
        statuses.update()
        .where(statuses.c.seq == sa.bindparam("w_seq"), statuses.c.state == sa.bindparam("w_old"))
        .values({column: sa.bindparam(f"v_{column}") for column in columns})
    )


# Statements built once and run with bound values: building a Core statement per call costs several times
# more than running it (measured: ~80 µs against ~20 µs on SQLite), and these run for every status.
_INSERT_EVENT = status_events.insert()


@functools.cache
def _transition_statement(columns: tuple[str, ...]) -> sa.Update:
    return (
        statuses.update()
        .where(statuses.c.seq == sa.bindparam("w_seq"), statuses.c.state == sa.bindparam("w_old"))
        .values({column: sa.bindparam(f"v_{column}") for column in columns})
        .returning(statuses.c.instance_id, statuses.c.id_message, statuses.c.delete_requested)
    )


@dataclass(frozen=True)
class Moved:
    instance_id: int
    id_message: str
    delete_requested: bool


def update_fields(conn: Connection, seq: int, **values: Any) -> None:
    conn.execute(statuses.update().where(statuses.c.seq == seq).values(**values))


_GET = sa.select(statuses).where(statuses.c.seq == sa.bindparam("seq"))
_BY_MESSAGE_ID = sa.select(statuses).where(
    statuses.c.instance_id == sa.bindparam("instance_id"), statuses.c.id_message == sa.bindparam("id_message")
)
_SEQ_AND_STATE = sa.select(statuses.c.seq, statuses.c.state).where(
    statuses.c.instance_id == sa.bindparam("instance_id"), statuses.c.id_message == sa.bindparam("id_message")
)
_HEAD = (
    sa.select(statuses)
    .where(statuses.c.instance_id == sa.bindparam("instance_id"), sa.text(PENDING_SQL))
    .order_by(statuses.c.seq)
    .limit(1)
)


def get(conn: Connection, seq: int) -> StatusRow | None:
    row = conn.execute(_GET, {"seq": seq}).first()
    return row_from_db(row) if row else None


def get_by_message_id(conn: Connection, instance_id: int, id_message: str) -> StatusRow | None:
    row = conn.execute(_BY_MESSAGE_ID, {"instance_id": instance_id, "id_message": id_message}).first()
    return row_from_db(row) if row else None


def seq_and_state(conn: Connection, instance_id: int, id_message: str) -> tuple[int, StatusState] | None:
    row = conn.execute(_SEQ_AND_STATE, {"instance_id": instance_id, "id_message": id_message}).first()
    return (row.seq, StatusState(row.state)) if row is not None else None


def seqs_and_states(
    conn: Connection, keys: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], tuple[int, StatusState]]:
    """:func:`seq_and_state` for (instance, idMessage) pairs, in one statement per 500: those that exist."""
    wanted = set(keys)
    ids = sorted({id_message for _, id_message in wanted})
    found: dict[tuple[int, str], tuple[int, StatusState]] = {}
    for start in range(0, len(ids), 500):
        for row in conn.execute(_SEQS_AND_STATES, {"id_messages": ids[start : start + 500]}):
            key = (row.instance_id, row.id_message)
            if key in wanted:  # an idMessage is unique across instances; it counts only under its own
                found[key] = (row.seq, StatusState(row.state))
    return found


_SEQS_AND_STATES = sa.select(
    statuses.c.instance_id, statuses.c.id_message, statuses.c.seq, statuses.c.state
).where(statuses.c.id_message.in_(sa.bindparam("id_messages", expanding=True)))


def head(conn: Connection, instance_id: int) -> StatusRow | None:
    """The status that holds the line for this instance: the oldest one not yet final."""
    row = conn.execute(_HEAD, {"instance_id": instance_id}).first()
    return row_from_db(row) if row else None


def instances_with_pending(conn: Connection) -> list[int]:
    rows = conn.scalars(sa.select(statuses.c.instance_id).where(statuses.c.state.in_(_PENDING)).distinct())
    return list(rows.all())


def overdue(conn: Connection, now: float) -> list[StatusRow]:
    """Statuses that never started sending and are past their expiry."""
    rows = conn.execute(
        sa.select(statuses)
        .where(statuses.c.state.in_([s.value for s in CLEARABLE_STATES]), statuses.c.expires_at < now)
        .order_by(statuses.c.seq)
    )
    return [row_from_db(r) for r in rows]


def list_pending(conn: Connection, instance_id: int, limit: int) -> list[StatusRow]:
    rows = conn.execute(
        sa.select(statuses)
        .where(statuses.c.instance_id == instance_id, statuses.c.state.in_(_PENDING))
        .order_by(statuses.c.seq)
        .limit(limit)
    )
    return [row_from_db(r) for r in rows]


def count_pending(conn: Connection, instance_id: int) -> int:
    """How many statuses list_pending would list, were there no limit."""
    count = conn.scalar(
        sa.select(sa.func.count())
        .select_from(statuses)
        .where(statuses.c.instance_id == instance_id, statuses.c.state.in_(_PENDING))
    )
    return int(count or 0)


def count_by_state(conn: Connection, states: Collection[StatusState]) -> dict[StatusState, int]:
    """How many statuses (of every instance) are in each of ``states``; a state with none is left out."""
    rows = conn.execute(
        sa.select(statuses.c.state, sa.func.count())
        .where(statuses.c.state.in_([s.value for s in states]))
        .group_by(statuses.c.state)
    )
    return {StatusState(state): int(count) for state, count in rows}


def clearable(conn: Connection, instance_id: int) -> list[StatusRow]:
    rows = conn.execute(
        sa.select(statuses)
        .where(
            statuses.c.instance_id == instance_id,
            statuses.c.state.in_([s.value for s in CLEARABLE_STATES]),
        )
        .order_by(statuses.c.seq)
    )
    return [row_from_db(r) for r in rows]


def events(conn: Connection, seq: int) -> list[tuple[StatusState, float, str | None]]:
    rows = conn.execute(
        sa.select(status_events.c.state, status_events.c.at, status_events.c.description)
        .where(status_events.c.status_seq == seq)
        .order_by(status_events.c.event_id)
    )
    return [(StatusState(r.state), r.at, r.description) for r in rows]


# --- per-recipient statistics --------------------------------------------------------------------------------


def request_delete(conn: Connection, seq: int) -> bool:
    """Mark a status being sent for revocation once its send ends; False if it is no longer being sent."""
    result = conn.execute(
        statuses.update()
        .where(statuses.c.seq == seq, statuses.c.state == StatusState.SENDING.value)
        .values(delete_requested=True)
    )
    return result.rowcount == 1
