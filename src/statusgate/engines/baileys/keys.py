"""The server's side of a baileys child's auth state: its ``KeysGet``/``KeysSet``/``KeysWipe`` requests
answered from the database (``store.engine_keys``), every write under the fence of the worker that started
the child, so a child whose worker lost the account's lease is refused (``fenced``) and writes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statusgate.domain.ownership import Fence
from statusgate.engines.baileys.protocol import KEY_REQUESTS, KeysGet, KeysSet, KeysWipe
from statusgate.errors import EnginePermanentError
from statusgate.store import engine_keys
from statusgate.store.db import Database


def is_key_request(frame: object) -> bool:
    return isinstance(frame, KEY_REQUESTS)


class KeyRequests:
    """The handler (``ChildProcess(on_request=…)``) of one child: the account and the lease it runs under."""

    def __init__(self, db: Database, fence: Fence) -> None:
        self.db = db
        self.fence = fence

    async def __call__(self, frame: object) -> Mapping[str, Any]:
        instance_id = self.fence.lease.instance_id
        if isinstance(frame, KeysGet):
            values = await self.db.read(engine_keys.read, instance_id, frame.category, frame.ids)
            return {"values": values}
        if isinstance(frame, KeysSet):
            writes = [engine_keys.KeyWrite(w.category, w.id, w.value) for w in frame.writes]
            await self.db.write(engine_keys.write, self.fence, writes)
            return {}
        if isinstance(frame, KeysWipe):
            await self.db.write(engine_keys.wipe, self.fence)
            return {}
        raise EnginePermanentError(f"not a key request: {type(frame).__name__}")
