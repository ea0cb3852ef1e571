"""Wake-ups between processes on PostgreSQL: ``NOTIFY`` in the transaction of the fact, ``LISTEN`` in every
server process.

A status queued by an API node, a command for a worker, a notification journaled by a worker: each sends a
signal on one channel, as part of the transaction that writes it, so PostgreSQL delivers it at the commit
(never for a rollback) to every process listening, in commit order. :class:`Listener` is that listening
side: one connection per process, reconnected (with backoff) whenever it drops, e.g. a database restart.
Signals only wake: every process still polls (``poll_interval_seconds``), so a signal lost while the listener
reconnects delays a wake-up, and loses nothing.

On SQLite there is nothing to send: the processes sharing a SQLite file poll.

PgBouncer (or any pooler) in *transaction* mode breaks ``LISTEN``: the listening session is not kept. Point
``database_url`` at PostgreSQL itself, or at a pooler in session mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.redaction import redact_text

log = logging.getLogger("statusgate.store")

CHANNEL = "statusgate"


class Signal(enum.Enum):
    STATUS_QUEUED = "s"
    COMMAND_SUBMITTED = "c"
    NOTIFIED = "n"


_NOTIFY = sa.select(sa.func.pg_notify(CHANNEL, sa.bindparam("payload")))


def send(conn: Connection, signal: Signal, instance_ids: set[int] | list[int]) -> None:
    """Signal ``instance_ids`` to every listening process when ``conn``'s transaction commits."""
    if conn.dialect.name != "postgresql" or not instance_ids:
        return
    conn.execute(
        _NOTIFY, [{"payload": f"{signal.value}:{instance_id}"} for instance_id in sorted(instance_ids)]
    )


def parse(payload: str) -> tuple[Signal, int] | None:
    """A signal's payload read back; None for anything else on the channel."""
    kind, _, instance_id = payload.partition(":")
    try:
        return Signal(kind), int(instance_id)
    except ValueError:
        return None


OnSignal = Callable[[Signal, int], None]


class Listener:
    """Listens on :data:`CHANNEL` over its own connection (psycopg, autocommit) and hands each signal to
    ``on_signal``; ``on_connected`` runs on every (re)connection, when signals may have been missed."""

    def __init__(
        self,
        conninfo: str,
        on_signal: OnSignal,
        *,
        on_connected: Callable[[], None] = lambda: None,
        retry_base_seconds: float = 0.2,
        retry_cap_seconds: float = 5.0,
    ) -> None:
        self.conninfo = conninfo
        self.on_signal = on_signal
        self.on_connected = on_connected
        self.retry_base_seconds = retry_base_seconds
        self.retry_cap_seconds = retry_cap_seconds
        #: set while the listening connection is up (tests wait for it)
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="statusgate.listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        import psycopg  # the postgres extra; only a PostgreSQL deployment gets here

        wait = self.retry_base_seconds
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    wait = self.retry_base_seconds
                    self.on_connected()
                    async for notice in conn.notifies():
                        found = parse(notice.payload)
                        if found is not None:
                            self.on_signal(*found)
                self.connected.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected.clear()
                log.warning(
                    "listening for wake-ups from other processes failed (%s); connecting again in %.3g s",
                    redact_text(str(exc).strip() or type(exc).__name__),
                    wait,
                )
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.retry_cap_seconds)
