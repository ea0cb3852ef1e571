"""Group commit: many small writes that arrive together share one transaction.

A caller's ``await batcher.submit(item)`` returns (the item's result) only after the transaction holding
its item committed, so batching changes throughput, not durability. If a shared transaction fails, its
items are retried one by one, so one bad item cannot fail the others.
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


class Batcher(Generic[T, R]):
    """``apply(conn, items)`` writes a group and returns one result per item, in order."""

    def __init__(
        self,
        db: Database,
        apply: Callable[[sa.Connection, list[T]], Sequence[R]],
        name: str,
        *,
        inline: bool = False,
    ) -> None:
        self.db = db
        self.apply = apply
        self.name = name
        #: try each group on the event loop first (Database.write_inline): for quick groups only
        self.inline = inline
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

    async def _write(self, items: list[T]) -> Sequence[R]:
        if self.inline:
            try:
                return self.db.write_inline(self.apply, items)
            except InlineWriteUnavailableError:
                pass  # another connection holds the write lock: the writer thread waits for it
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
