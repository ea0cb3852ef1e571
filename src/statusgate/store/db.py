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
branches on the dialect: SQLite's set-up in ``dialects.py``, the upgrade lock in ``migrate.py``.

A URL is opened with the driver :func:`~statusgate.store.dialects.database_url` picks for it.

On SQLite a write can also run *inline*, on the event loop itself (:meth:`Database.write_inline`), when the
write lock is free at that instant: the intake does so. Handing a transaction to the writer thread costs
more than running it: that thread must take the GIL back after every SQLite call while the event loop
holds it, and waits up to the interpreter's switch interval (5 ms) each time, with every request of the
group waiting behind it. Inline, a group commit never waits for a lock (``busy_timeout`` is 0 on that
connection: a lock held elsewhere sends the group to the writer thread instead) and never checkpoints (a
checkpoint with its fsync is handed to the writer thread every :data:`_INLINE_CHECKPOINT_EVERY` commits).
Under ``synchronous=FULL`` every commit is an fsync, which must not block the loop: no inline writes then.

A write transaction can :func:`announce` instances (the notification journal does, for the instances it
journaled for): once it has committed, and only then, :attr:`Database.on_announced` is told which, so this
process's waiters wake at once. A rollback announces nothing.

A write the database has no room for (SQLite's "database or disk is full", PostgreSQL's ``disk_full``) is
rolled back as a whole and raised as :class:`~statusgate.errors.StorageFullError`, here and nowhere else:
callers tell a full disk (wait and try again) from a bug without knowing the driver.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa

from statusgate.errors import StorageFullError
from statusgate.store import dialects, signals

T = TypeVar("T")
P = ParamSpec("P")


class InlineWriteUnavailableError(Exception):
    """:meth:`Database.write_inline` did not run: the write lock is held elsewhere, or this database takes
    no inline writes (a server, or SQLite with ``synchronous=FULL``). Nothing was written."""


#: inline commits between two checkpoints handed to the writer thread (SQLite's own autocheckpoint, off on
#: the inline connection, runs one every ~1,000 WAL pages)
_INLINE_CHECKPOINT_EVERY = 200


class Database:
    """Two ways in: ``await db.read(fn, …)`` for queries and ``await db.write(fn, …)`` for changes."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL") -> None:
        parsed = dialects.database_url(url)
        self.url = parsed
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        #: told, after each commit that announced instances (:func:`announce`), which ones; called in the
        #: thread that committed (the writer thread), so it must be thread-safe and quick
        self.on_announced: Callable[[frozenset[int]], None] | None = None
        # SQLite reads run on the event loop; a server's wait on the network, and release the GIL meanwhile
        self._readers = concurrent.futures.ThreadPoolExecutor(
            dialects.SERVER_READERS, thread_name_prefix="statusgate-db-read"
        )
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="statusgate-db-write")
        #: the SQLite connection the writer thread keeps between its transactions (see _writer_connection)
        self._held = threading.local()
        #: every reader connection a thread keeps, so dispose can close them
        #: every connection some thread keeps (see _kept), so dispose can close them
        self._kept_all: list[sa.Connection] = []
        self._inline_commits = 0
        self._inline = self.is_sqlite and sqlite_synchronous.upper() not in ("FULL", "EXTRA")
        if self.is_sqlite:
            self._read_engine = dialects.sqlite_engine(
                self.url, immediate=False, synchronous=sqlite_synchronous
            )
            self._write_engine = dialects.sqlite_engine(
                self.url, immediate=True, synchronous=sqlite_synchronous
            )
            self._inline_engine = dialects.sqlite_engine(
                self.url, immediate=True, synchronous=sqlite_synchronous, inline=True
            )
        else:
            self._read_engine = dialects.server_engine(parsed)
            self._write_engine = self._read_engine

    def _run_read(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        held = self._reader_connection()
        with contextlib.ExitStack() as scope:
            conn = held if held is not None else scope.enter_context(self._read_engine.connect())
            try:
                return fn(conn, *args, **kwargs)
            finally:
                # ends the read (and, on SQLite, its snapshot: a kept snapshot would hold back checkpoints)
                conn.rollback()

    def _reader_connection(self) -> sa.Connection | None:
        """On SQLite, the connection this thread (the event loop's) keeps for its reads, as the writer
        thread keeps its own (see _writer_connection); None on a server, whose reads run in a pool."""
        return self._kept("reader", self._read_engine) if self.is_sqlite else None

    def _kept(self, role: str, engine: sa.Engine) -> sa.Connection:
        """The connection the calling thread keeps for ``role`` (``reader``, ``writer``, ``inline``), opened on
        first use or after it was closed or invalidated: checking one out of the pool and back for every
        transaction costs about as much as the intake's insert itself."""
        kept: dict[str, sa.Connection] = self._held.__dict__.setdefault("kept", {})
        conn = kept.get(role)
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                self._drop_kept(role)
            conn = engine.connect()
            kept[role] = conn
            self._kept_all.append(conn)
        return conn

    def _drop_kept(self, role: str) -> None:
        """Close the calling thread's ``role`` connection; the next use opens a fresh one."""
        conn = self._held.__dict__.get("kept", {}).pop(role, None)
        if conn is not None:
            with contextlib.suppress(ValueError):
                self._kept_all.remove(conn)
            with contextlib.suppress(Exception):  # never hides the error that made us close it
                conn.close()

    def _run_write(
        self,
        fn: Callable[Concatenate[sa.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        try:
            return self._run_write_transaction(fn, *args, **kwargs)
        except sa.exc.OperationalError as exc:
            if dialects.disk_full(exc.orig):
                raise StorageFullError() from exc
            raise

    def _writer_connection(self) -> sa.Connection | None:
        """The writer thread's kept SQLite connection (see _kept). None elsewhere (write_now's callers, and
        PostgreSQL: there the pool's pre-ping survives a server restart)."""
        if not self.is_sqlite or not threading.current_thread().name.startswith("statusgate-db-write"):
            return None
        return self._kept("writer", self._write_engine)

    def _run_write_transaction(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        transaction = _WriteTransaction()
        held = self._writer_connection()
        try:
            with contextlib.ExitStack() as scope:
                if held is None:
                    conn = scope.enter_context(self._write_engine.begin())
                else:
                    conn = held
                    scope.enter_context(held.begin())
                conn.info[_TRANSACTION] = transaction
                try:
                    result = fn(conn, *args, **kwargs)
                finally:
                    # Connection.info belongs to the DBAPI connection: it would outlive the transaction
                    del conn.info[_TRANSACTION]
        except BaseException:
            if held is not None:
                # whatever failed (a BEGIN that waited out the busy timeout, a full disk at COMMIT), the next
                # transaction starts on a fresh connection rather than on whatever state this one was left in
                self._drop_kept("writer")
            raise
        # only here is the transaction committed: a rollback, or a failed commit, raised on the way
        if transaction.announced and self.on_announced is not None:
            self.on_announced(frozenset(transaction.announced))
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

    @property
    def inline_possible(self) -> bool:
        """Whether :meth:`write_inline` can ever run here (SQLite, not ``synchronous=FULL``)."""
        return self._inline

    def write_inline(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """:meth:`write`'s transaction run right here, on the event loop, if SQLite's write lock is free at
        once; :class:`InlineWriteUnavailableError` (nothing written) if it is not, for the caller to
        :meth:`write` instead. Only for quick transactions: the loop waits for it."""
        if not self._inline:
            raise InlineWriteUnavailableError()
        conn = self._kept("inline", self._inline_engine)
        transaction = _WriteTransaction()
        try:
            with conn.begin():
                conn.info[_TRANSACTION] = transaction
                try:
                    result = fn(conn, *args, **kwargs)
                finally:
                    del conn.info[_TRANSACTION]
        except sa.exc.OperationalError as exc:
            code = getattr(exc.orig, "sqlite_errorcode", None)
            if code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise InlineWriteUnavailableError() from exc
            if dialects.disk_full(exc.orig):
                raise StorageFullError() from exc
            raise
        if transaction.announced and self.on_announced is not None:
            self.on_announced(frozenset(transaction.announced))
        self._inline_commits += 1
        if self._inline_commits % _INLINE_CHECKPOINT_EVERY == 0:
            self._writer.submit(self._checkpoint)
        return result

    def _checkpoint(self) -> None:
        """In the writer thread: copy the WAL's pages into the database file, never waiting for anyone.

        Straight on the driver's connection: through SQLAlchemy the PRAGMA would open a transaction, and on
        the writer's connection every transaction begins IMMEDIATE, taking the very lock a checkpoint is
        about (the checkpoint then fails and the transaction stays open).
        """
        held = self._writer_connection()
        if held is None:
            return
        driver = held.connection.driver_connection
        assert driver is not None  # a connection just checked out of the pool
        with contextlib.suppress(sqlite3.Error):  # busy or a full disk: the next one will do
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

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
        if self.is_sqlite:
            with contextlib.suppress(RuntimeError):  # already shut down
                self._writer.submit(self._drop_kept, "writer").result()
        self._writer.shutdown(wait=True)
        for conn in self._kept_all:
            # closed from this thread: the sqlite3 connections allow it (check_same_thread is off under a pool)
            conn.close()
        self._kept_all.clear()
        self._read_engine.dispose()
        if self.is_sqlite:
            self._inline_engine.dispose()
        if self._write_engine is not self._read_engine:
            self._write_engine.dispose()


#: where a write transaction's :class:`_WriteTransaction` is found from its connection (this module's own)
_TRANSACTION = "statusgate.write-transaction"


@dataclass
class _WriteTransaction:
    """What one write transaction collects while it runs (only its own thread touches it)."""

    announced: set[int] = field(default_factory=set)


def announce(conn: sa.Connection, instance_id: int) -> None:
    """Tell :attr:`Database.on_announced` about ``instance_id`` once the transaction ``conn`` is in commits
    (and, on PostgreSQL, every other listening process at the same commit: ``store.signals``).

    This is how a commit wakes the process's waiters (long-polls, webhook senders) at once, without their
    polling. A transaction that rolls back, or whose commit fails, announces nothing; an instance announced
    many times in one transaction is announced once. Only a transaction of :meth:`Database.write` or
    :meth:`Database.write_now` can announce (anything else raises: the announcement would be lost).
    """
    announced = _transaction(conn).announced
    if instance_id not in announced:
        announced.add(instance_id)
        # and to the other processes (PostgreSQL: at the same commit)
        signals.send(conn, signals.Signal.NOTIFIED, [instance_id])


def _transaction(conn: sa.Connection) -> _WriteTransaction:
    transaction = conn.info.get(_TRANSACTION)
    if not isinstance(transaction, _WriteTransaction):
        raise RuntimeError("not in a write transaction of Database.write or Database.write_now")
    return transaction
