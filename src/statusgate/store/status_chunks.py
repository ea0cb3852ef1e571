"""The baileys engine's records of a status' chunks (``status_chunks``): before each leaves, after its ack.

A status goes to its audience in chunks under one message id. A chunk is recorded ``sending`` in its own
transaction before the child is asked to send it, and ``acked`` or ``rejected`` once WhatsApp's server
answered. What the records say outlives the worker: a chunk still ``sending`` after a crash may or may not
have reached WhatsApp, so it is never sent again; acked chunks stand, and their recipients are the ones the
status reached.

Writes are the instance owner's alone (``ownership.require``): a stale owner's record would tell the next
owner that a chunk it never sent is out, or hide one that is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.ownership import Fence
from statusgate.store import ownership
from statusgate.store.schema.statuses import status_chunks


class ChunkState(StrEnum):
    #: recorded before it left; no ack (yet)
    SENDING = "sending"
    #: WhatsApp's server acknowledged it
    ACKED = "acked"
    #: the server's ack carried an error (479, …): nobody in it got the status
    REJECTED = "rejected"


#: a chunk's record moves only forward, once
TRANSITIONS: dict[ChunkState, frozenset[ChunkState]] = {
    ChunkState.SENDING: frozenset({ChunkState.ACKED, ChunkState.REJECTED}),
    ChunkState.ACKED: frozenset(),
    ChunkState.REJECTED: frozenset(),
}


@dataclass(frozen=True)
class Chunk:
    index: int
    recipients: tuple[str, ...]
    state: ChunkState
    error: str
    dropped: tuple[str, ...]
    sent_at: float


def begin(
    conn: Connection, fence: Fence, id_message: str, index: int, recipients: Sequence[str], at: float
) -> None:
    """Record chunk ``index`` as leaving now (LeaseLostError, nothing written, from a stale owner)."""
    ownership.require(conn, fence)
    conn.execute(
        status_chunks.insert().values(
            instance_id=fence.lease.instance_id,
            id_message=id_message,
            chunk=index,
            recipients=list(recipients),
            state=ChunkState.SENDING.value,
            sent_at=at,
        )
    )


def end(
    conn: Connection,
    fence: Fence,
    id_message: str,
    index: int,
    state: ChunkState,
    at: float,
    *,
    error: str = "",
    dropped: Sequence[str] = (),
) -> None:
    """Record the server's answer to chunk ``index``: ``acked`` or ``rejected`` (with its error code)."""
    if state not in TRANSITIONS[ChunkState.SENDING]:
        raise ValueError(f"a chunk cannot end {state.value}")
    ownership.require(conn, fence)
    table = status_chunks
    conn.execute(
        table.update()
        .where(
            table.c.instance_id == fence.lease.instance_id,
            table.c.id_message == id_message,
            table.c.chunk == index,
            table.c.state == ChunkState.SENDING.value,
        )
        .values(state=state.value, error=error or None, dropped=list(dropped) or None, ended_at=at)
    )


def discard(conn: Connection, fence: Fence, id_message: str, index: int) -> None:
    """Remove chunk ``index``'s record: the child says it never left (not connected, its media would not
    upload), so nobody can have it."""
    ownership.require(conn, fence)
    table = status_chunks
    conn.execute(
        table.delete().where(
            table.c.instance_id == fence.lease.instance_id,
            table.c.id_message == id_message,
            table.c.chunk == index,
            table.c.state == ChunkState.SENDING.value,
        )
    )


def of_status(conn: Connection, instance_id: int, id_message: str) -> list[Chunk]:
    """The status' chunks, in order (none: no chunk of it ever left)."""
    table = status_chunks
    rows = conn.execute(
        sa.select(table)
        .where(table.c.instance_id == instance_id, table.c.id_message == id_message)
        .order_by(table.c.chunk)
    )
    return [
        Chunk(
            row.chunk,
            tuple(row.recipients),
            ChunkState(row.state),
            row.error or "",
            tuple(row.dropped or ()),
            row.sent_at,
        )
        for row in rows
    ]
