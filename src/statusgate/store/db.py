"""The database handle: SQLAlchemy Core (sync) run in worker threads, one thread hop per transaction.

Every transaction is a plain function ``fn(conn, *args)`` handed to :meth:`Database.read` or
:meth:`Database.write`. Running a whole transaction in one thread call is what makes SQLite fast here: an
async driver pays a thread hop (and an event-loop turn) for every statement, and holds SQLite's write lock
across all of them.

SQLite: writes go through one thread and one connection and begin with ``BEGIN IMMEDIATE``, so a write
transaction never has to upgrade a read lock (which SQLite answers with "database is locked") and writes of
this process queue in order rather than spinning in SQLite's busy handler (they can wait on another process,
the CLI, which is why they are off the event loop). Reads run on the event loop itself, beside the writer
(WAL): they never wait for a lock.

PostgreSQL (``statusgate[postgres]``: psycopg 3): writes go through the same one writer thread, so this
process's writes keep their order; reads run in a small thread pool, never on the event loop: each is a
network round trip, which must not block it. The queries are the same SQL on both; what must differ
branches on the dialect: SQLite's set-up here, the upgrade lock in ``migrate.py``.

A URL may name PostgreSQL as ``postgresql://``, ``postgres://`` or ``postgresql+psycopg://``;
:func:`database_url` turns every accepted form into the driver statusgate uses, here and nowhere else.

A write the database has no room for (SQLite's "database or disk is full", PostgreSQL's ``disk_full``) is
rolled back as a whole and raised as :class:`~statusgate.errors.StorageFullError`, here and nowhere else:
callers tell a full disk (wait and try again) from a bug without knowing the driver.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event

from statusgate.errors import StorageFullError
from statusgate.store.notifications import NOTIFIED, SETTINGS_CACHE

T = TypeVar("T")
P = ParamSpec("P")

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
_SERVER_READERS = 4
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


class Database:
    """Two ways in: ``await db.read(fn, …)`` for queries and ``await db.write(fn, …)`` for changes."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL") -> None:
        parsed = database_url(url)
        self.url = parsed
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        #: called after a commit that journaled notifications, with their instances (from the writer thread)
        self.on_notified: Callable[[set[int]], None] | None = None
        # SQLite reads run on the event loop; a server's wait on the network, and release the GIL meanwhile
        self._readers = concurrent.futures.ThreadPoolExecutor(
            _SERVER_READERS, thread_name_prefix="statusgate-db-read"
        )
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="statusgate-db-write")
        if self.is_sqlite:
            self._read_engine = self._sqlite_engine(immediate=False, synchronous=sqlite_synchronous)
            self._write_engine = self._sqlite_engine(immediate=True, synchronous=sqlite_synchronous)
        else:
            self._read_engine = _server_engine(parsed)
            self._write_engine = self._read_engine

    def _sqlite_engine(self, *, immediate: bool, synchronous: str) -> sa.Engine:
        engine = sa.create_engine(self.url, pool_size=1 if immediate else 2, max_overflow=0)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # take transaction control from the driver so we can say BEGIN IMMEDIATE ourselves
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in (*SQLITE_PRAGMAS, f"PRAGMA synchronous={synchronous}"):
                _execute_waiting(cursor, pragma)
            cursor.close()

        if immediate:

            @event.listens_for(engine, "begin")
            def _on_begin(conn: sa.Connection) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        # Readers open no transaction: each query reads its own consistent snapshot (WAL), which is all our
        # reads need, and a BEGIN/ROLLBACK pair would double their cost.

        return engine

    def _run_read(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        with self._read_engine.connect() as conn:
            try:
                return fn(conn, *args, **kwargs)
            finally:
                conn.rollback()

    def _run_write(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        try:
            return self._run_write_transaction(fn, *args, **kwargs)
        except sa.exc.OperationalError as exc:
            if _disk_full(exc.orig):
                raise StorageFullError() from exc
            raise

    def _run_write_transaction(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        info: dict[Any, Any] | None = None
        try:
            with self._write_engine.begin() as conn:
                info = conn.info
                result = fn(conn, *args, **kwargs)
        except BaseException:
            if info is not None:
                info.pop(NOTIFIED, None)  # rolled back: nothing was journaled
            raise
        finally:
            if info is not None:
                info.pop(SETTINGS_CACHE, None)
        assert info is not None
        notified = info.pop(NOTIFIED, None)
        if notified and self.on_notified is not None:
            self.on_notified(set(notified))  # runs in the writer thread: must be thread-safe
        return result

    async def read(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(conn, *args)`` in a read-only snapshot."""
        if self.is_sqlite:
            # In WAL mode a read never waits for a lock, and an indexed query takes tens of microseconds:
            # less than handing it to a thread and getting the GIL back. So SQLite reads run right here.
            return self._run_read(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: self._run_read(fn, *args, **kwargs))

    async def write(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(conn, *args)`` in a transaction: committed if it returns, rolled back if it raises."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, lambda: self._run_write(fn, *args, **kwargs))

    def write_now(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """The same transaction, run in the calling thread (for code that is not async, e.g. migrations)."""
        return self._run_write(fn, *args, **kwargs)

    async def ping(self) -> bool:
        try:
            await self.read(lambda conn: conn.execute(sa.text("SELECT 1")).scalar())
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.dispose_now)

    def dispose_now(self) -> None:
        """Close every connection, in the calling thread (for code that is not async)."""
        self._readers.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        self._read_engine.dispose()
        if self._write_engine is not self._read_engine:
            self._write_engine.dispose()


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


def _server_engine(url: sa.URL) -> sa.Engine:
    """A pooled engine for a database server; a missing driver is a :class:`MissingDriverError`."""
    try:
        # a connection for each reader and the writer; pre-ping: a server restart costs no failed transaction
        return sa.create_engine(url, pool_pre_ping=True, pool_size=_SERVER_READERS + 1)
    except ModuleNotFoundError as exc:
        if url.drivername == "postgresql+psycopg":
            raise MissingDriverError(
                f"the PostgreSQL driver (psycopg) is not installed: pip install '{POSTGRES_EXTRA}'",
                name=exc.name,
            ) from None
        raise MissingDriverError(f"the database driver is not installed: {exc}", name=exc.name) from None


def _disk_full(error: BaseException | None) -> bool:
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        # the primary code sits in the low byte of an extended one
        return (code & 0xFF) == sqlite3.SQLITE_FULL if code is not None else "disk is full" in str(error)
    return getattr(error, "sqlstate", None) == _PG_DISK_FULL
