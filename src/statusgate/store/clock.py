"""The database's clock: what leases, heartbeats and deadlines shared between processes are counted on.

Workers on several machines disagree about the time; the database is the one clock they all see.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection


def clock(conn: Connection) -> sa.ColumnElement[float]:
    """The database's current time in unix seconds, as an SQL expression."""
    return clock_sql(conn.dialect.name)


def clock_sql(dialect: str) -> sa.ColumnElement[float]:
    """:func:`clock` for a dialect by name (for statements built once, ahead of any connection)."""
    if dialect == "sqlite":
        # julianday() has sub-millisecond precision (unixepoch('subsec') needs SQLite 3.42)
        return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)", sa.Float)
    return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)


def now(conn: Connection) -> float:
    """The database's current time in unix seconds."""
    return float(conn.scalar(sa.select(clock(conn))) or 0.0)
