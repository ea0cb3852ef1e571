"""Group commit: many small writes that arrive together share one transaction.

A caller's ``await batcher.submit(item)`` returns (the item's result) only after the transaction holding
its item committed, so batching changes throughput, not durability. If a shared transaction fails, its
items are retried one by one, so one bad item cannot fail the others.

A batcher that commits *inline* (on the event loop, SQLite only: ``Database.write_inline``) holds the loop for
as long as its transaction runs, and every task due meanwhile waits: a sender whose send call is due, most of
all. So an inline group is at most :data:`INLINE_GROUP_MAX` items, the loop runs what became due between two
groups, and while another connection holds the write lock the batcher waits for it on the loop, a
millisecond at a time, up to ``lock_patience`` seconds, before it hands the group to the writer thread. The
writer thread's transactions are short, and behind them in its queue a group would wait for each one queued
before it, and for the GIL after every SQLite call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import sqlalchemy as sa

from statusgate.store.db import Database, InlineWriteUnavailableError

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("statusgate.store")

#: the most items one inline transaction writes: ~0.05 ms each, so the loop is held a few ms at most
INLINE_GROUP_MAX = 64

#: how often a batcher that waits for the write lock on the loop tries again
_LOCK_RETRY_SECONDS = 0.001


class Batcher(Generic[T, R]):
    """``apply(conn, items)`` writes a group and returns one result per item, in order."""

    def __init__(
        self,
        db: Database,
        apply: Callable[[sa.Connection, list[T]], Sequence[R]],
        name: str,
        *,
        inline: bool = False,
        lock_patience: float = 0.0,
    ) -> None:
        self.db = db
        self.apply = apply
        self.name = name
        #: try each group on the event loop first (Database.write_inline): for quick groups only
        self.inline = inline
        #: inline only: how long to wait on the loop for a write lock held elsewhere
        self.lock_patience = lock_patience
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_all(), name=f"statusgate.{self.name}")
        return await future

    async def _commit_all(self) -> None:
        while self._waiting:
            if self.inline:
                group, self._waiting = self._waiting[:INLINE_GROUP_MAX], self._waiting[INLINE_GROUP_MAX:]
            else:
                group, self._waiting = self._waiting, []
            try:
                results = await self._write([item for item, _ in group])
            except Exception:
                if len(group) > 1:
                    log.warning("%s: group of %d failed; committing one by one", self.name, len(group))
                await self._one_by_one(group)
                continue
            for (_item, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)
            if self.inline:
                await asyncio.sleep(0)  # what fell due meanwhile runs (and may add to the next group)

    async def _write(self, items: list[T]) -> Sequence[R]:
        if self.inline:
            loop = asyncio.get_running_loop()
            give_up_at = loop.time() + self.lock_patience
            while True:
                try:
                    return self.db.write_inline(self.apply, items)
                except InlineWriteUnavailableError:
                    pass  # another connection holds the write lock
                if not self.db.inline_possible or loop.time() >= give_up_at:
                    break
                await asyncio.sleep(_LOCK_RETRY_SECONDS)
        return await self.db.write(self.apply, items)

    async def _one_by_one(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        for item, future in group:
            try:
                (result,) = await self._write([item])
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)


def each(write_one: Callable[[sa.Connection, T], R]) -> Callable[[sa.Connection, list[T]], list[R]]:
    """An ``apply`` that writes the items one after the other in the shared transaction."""

    def apply(conn: sa.Connection, items: list[T]) -> list[R]:
        return [write_one(conn, item) for item in items]

    return apply
