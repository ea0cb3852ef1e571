"""Running worker processes: each registers and heartbeats; API nodes read whether any is alive.

Times are the database's (``store.clock``), as for every lease: the processes may run on several machines.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.store.clock import clock
from statusgate.store.schema.instances import workers


def register(conn: Connection, worker_id: str, host: str, pid: int) -> None:
    now = clock(conn)
    conn.execute(
        workers.insert().values(worker_id=worker_id, host=host, pid=pid, started_at=now, heartbeat_at=now)
    )


def heartbeat(conn: Connection, worker_id: str) -> bool:
    result = conn.execute(
        workers.update().where(workers.c.worker_id == worker_id).values(heartbeat_at=clock(conn))
    )
    return result.rowcount == 1


def unregister(conn: Connection, worker_id: str) -> None:
    conn.execute(workers.delete().where(workers.c.worker_id == worker_id))


def alive(conn: Connection, within: float) -> int:
    """How many workers heartbeated in the last ``within`` seconds."""
    return int(
        conn.scalar(sa.select(sa.func.count()).where(workers.c.heartbeat_at >= clock(conn) - within)) or 0
    )


def prune(conn: Connection, older_than: float) -> int:
    """Forget workers that stopped heartbeating over ``older_than`` seconds ago (they died without
    unregistering)."""
    return int(
        conn.execute(workers.delete().where(workers.c.heartbeat_at < clock(conn) - older_than)).rowcount
    )
