"""Running worker processes: each registers and heartbeats; API nodes read whether any is alive."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.store.schema import workers


def register(conn: Connection, worker_id: str, host: str, pid: int, now: float) -> None:
    conn.execute(
        workers.insert().values(worker_id=worker_id, host=host, pid=pid, started_at=now, heartbeat_at=now)
    )


def heartbeat(conn: Connection, worker_id: str, now: float) -> bool:
    result = conn.execute(workers.update().where(workers.c.worker_id == worker_id).values(heartbeat_at=now))
    return result.rowcount == 1


def unregister(conn: Connection, worker_id: str) -> None:
    conn.execute(workers.delete().where(workers.c.worker_id == worker_id))


def alive(conn: Connection, since: float) -> int:
    """How many workers heartbeated at or after ``since``."""
    return int(conn.scalar(sa.select(sa.func.count()).where(workers.c.heartbeat_at >= since)) or 0)


def prune(conn: Connection, before: float) -> int:
    """Forget workers that stopped heartbeating before ``before`` (they died without unregistering)."""
    return int(conn.execute(workers.delete().where(workers.c.heartbeat_at < before)).rowcount)
