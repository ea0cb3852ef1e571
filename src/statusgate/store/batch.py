"""Group commit: many small writes that arrive together share one transaction.

A caller's ``await batcher.submit(item)`` returns only after the transaction holding its item committed, so
batching changes throughput, not durability. If a shared transaction fails, its items are retried one by
one, so one bad item cannot fail the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

import sqlalchemy as sa

from statusgate.store.db import Database

T = TypeVar("T")
log = logging.getLogger("statusgate.store")


class Batcher(Generic[T]):
    def __init__(self, db: Database, apply: Callable[[sa.Connection, list[T]], None], name: str) -> None:
        self.db = db
        self.apply = apply
        self.name = name
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_all(), name=f"statusgate.{self.name}")
        await future

    async def _commit_all(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                await self.db.write(self.apply, [item for item, _ in group])
            except Exception:
                if len(group) > 1:
                    log.warning("%s: group of %d failed; committing one by one", self.name, len(group))
                await self._one_by_one(group)
                continue
            for _item, future in group:
                if not future.done():
                    future.set_result(None)

    async def _one_by_one(self, group: list[tuple[T, asyncio.Future[None]]]) -> None:
        for item, future in group:
            try:
                await self.db.write(self.apply, [item])
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(None)
