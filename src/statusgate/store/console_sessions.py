"""Console sessions: one row per signed-in browser, found by the hash of its cookie's id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.store.schema.access import console_sessions


@dataclass(frozen=True)
class SessionRow:
    id_hash: str
    scope: str
    id_instance: int | None
    credential_hash: str
    csrf_token: str
    created_at: float
    last_seen_at: float


def _row(row: sa.Row[Any]) -> SessionRow:
    return SessionRow(
        row.id_hash,
        row.scope,
        row.id_instance,
        row.credential_hash,
        row.csrf_token,
        row.created_at,
        row.last_seen_at,
    )


def insert(conn: Connection, session: SessionRow) -> None:
    conn.execute(
        console_sessions.insert().values(
            id_hash=session.id_hash,
            scope=session.scope,
            id_instance=session.id_instance,
            credential_hash=session.credential_hash,
            csrf_token=session.csrf_token,
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
        )
    )


def get(conn: Connection, id_hash: str) -> SessionRow | None:
    row = conn.execute(sa.select(console_sessions).where(console_sessions.c.id_hash == id_hash)).first()
    return None if row is None else _row(row)


def touch(conn: Connection, id_hash: str, now: float) -> None:
    conn.execute(
        console_sessions.update().where(console_sessions.c.id_hash == id_hash).values(last_seen_at=now)
    )


def delete(conn: Connection, id_hash: str) -> None:
    conn.execute(console_sessions.delete().where(console_sessions.c.id_hash == id_hash))


def delete_for_instance(conn: Connection, id_instance: int) -> int:
    """The sessions signed in with the instance's own token (partner sessions are not tied to it)."""
    return conn.execute(
        console_sessions.delete().where(
            console_sessions.c.id_instance == id_instance, console_sessions.c.scope == "instance"
        )
    ).rowcount


def delete_for_scope(conn: Connection, scope: str) -> int:
    return conn.execute(console_sessions.delete().where(console_sessions.c.scope == scope)).rowcount


def delete_stale(conn: Connection, idle_before: float, created_before: float) -> int:
    return conn.execute(
        console_sessions.delete().where(
            sa.or_(
                console_sessions.c.last_seen_at < idle_before,
                console_sessions.c.created_at < created_before,
            )
        )
    ).rowcount
