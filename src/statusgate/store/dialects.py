"""What differs between the databases, below :class:`~statusgate.store.db.Database`: the driver a URL opens,
SQLite's connection set-up, a server's pooled engine, and how each says its disk is full.

A URL may name PostgreSQL as ``postgresql://``, ``postgres://`` or ``postgresql+psycopg://``;
:func:`database_url` turns every accepted form into the driver statusgate uses, here and nowhere else.

SQLite: every connection gets :data:`SQLITE_PRAGMAS` and the ``synchronous`` setting; the writing ones (the
writer thread's and the inline one, ``Database.write_inline``) begin with ``BEGIN IMMEDIATE``, and the inline
one never waits for a lock and never checkpoints. PostgreSQL (``statusgate[postgres]``: psycopg 3) gets a
pre-pinged pool.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

#: SQLite set-up, applied to every connection.
#: WAL lets readers run beside the writer. ``synchronous=NORMAL`` in WAL mode makes every commit durable
#: against a crash of the *process*: the commit is in the WAL file (in the OS page cache) before
#: ``commit()`` returns, and a killed process loses nothing. Only an OS crash or power loss can lose the
#: last transactions; the setting ``STATUSGATE_SQLITE_SYNCHRONOUS=FULL`` closes that window at the price of an fsync per
#: commit.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)

#: how long a connection's set-up waits for another connection's lock (as long as busy_timeout)
_SQLITE_SETUP_WAIT = 10.0

#: PostgreSQL's SQLSTATE for "disk full"
_PG_DISK_FULL = "53100"

#: the driver statusgate runs for each way a URL may name a database (SQLAlchemy's own default for a bare
#: ``postgresql://`` is psycopg2, which statusgate does not install; ``postgres://`` it does not know at all)
_DRIVERS = {
    "sqlite+aiosqlite": "sqlite+pysqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgres+psycopg": "postgresql+psycopg",
    "postgresql+asyncpg": "postgresql+psycopg",
}
#: threads (and pooled connections) that run reads on a database server
SERVER_READERS = 4
#: what to install when the PostgreSQL driver is missing
POSTGRES_EXTRA = "statusgate[postgres]"


class MissingDriverError(ModuleNotFoundError):
    """The database's driver is not installed (the message says what to install)."""


def database_url(url: str | sa.URL) -> sa.URL:
    """The URL statusgate opens for ``url``: the same database, with the driver statusgate uses.

    Raises :class:`sqlalchemy.exc.ArgumentError` for text that is no URL at all.
    """
    parsed = sa.make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    return parsed if driver is None else parsed.set(drivername=driver)


def sqlite_engine(url: sa.URL, *, immediate: bool, synchronous: str, inline: bool = False) -> sa.Engine:
    """An engine for one of the SQLite roles: the readers', the writer's (``immediate``) or the inline one."""
    # The writer's pool: the writer thread's own connection plus one for write_now. The readers': one kept
    # by each thread that runs an event loop reading this database (one, in a server), and room for more.
    # Every use of a connection ends in an explicit commit or rollback, so the pool's own rollback on
    # check-in is left out.
    engine = sa.create_engine(url, pool_size=2, max_overflow=0 if immediate else 8, pool_reset_on_return=None)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # take transaction control from the driver so we can say BEGIN IMMEDIATE ourselves
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (*SQLITE_PRAGMAS, f"PRAGMA synchronous={synchronous}"):
            _execute_waiting(cursor, pragma)
        if inline:  # see Database.write_inline: never wait for a lock, never checkpoint on the event loop
            cursor.execute("PRAGMA busy_timeout=0")
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    if immediate:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    # Readers open no transaction: each query reads its own consistent snapshot (WAL), which is all our
    # reads need, and a BEGIN/ROLLBACK pair would double their cost.

    return engine


def _execute_waiting(cursor: sqlite3.Cursor, pragma: str) -> None:
    """Run a set-up PRAGMA, waiting (up to :data:`_SQLITE_SETUP_WAIT`) while another connection holds a lock.

    Connections opening a new file together (a server and a CLI started at once) meet in the switch to WAL,
    which SQLite answers with "database is locked" at once instead of calling its busy handler.
    """
    deadline = time.monotonic() + _SQLITE_SETUP_WAIT
    while True:
        try:
            cursor.execute(pragma)
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def server_engine(url: sa.URL) -> sa.Engine:
    """A pooled engine for a database server; a missing driver is a :class:`MissingDriverError`."""
    try:
        # a connection for each reader and the writer; pre-ping: a server restart costs no failed transaction
        return sa.create_engine(url, pool_pre_ping=True, pool_size=SERVER_READERS + 1)
    except ModuleNotFoundError as exc:
        if url.drivername == "postgresql+psycopg":
            raise MissingDriverError(
                f"the PostgreSQL driver (psycopg) is not installed: pip install '{POSTGRES_EXTRA}'",
                name=exc.name,
            ) from None
        raise MissingDriverError(f"the database driver is not installed: {exc}", name=exc.name) from None


def disk_full(error: BaseException | None) -> bool:
    """Whether a driver's error (an ``OperationalError``'s ``orig``) says the disk is full."""
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        # the primary code sits in the low byte of an extended one
        return (code & 0xFF) == sqlite3.SQLITE_FULL if code is not None else "disk is full" in str(error)
    return getattr(error, "sqlstate", None) == _PG_DISK_FULL
