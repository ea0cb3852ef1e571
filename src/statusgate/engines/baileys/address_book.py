"""The account's address book, kept by us: Baileys 7 keeps none, it only emits changes as they sync.

"First" in Green's default audience (the first ``audience_limit`` contacts with a contactName) means the
order in which we first learnt each contact: the phone's first app-state snapshot in its own order, later
additions appended. So the book is an ordered map, chat id → contact: a change of name keeps the place, a
removal drops the entry (a contact saved again later comes last). contactName is the name saved on the
phone; a profile (push) name fills ``name`` only, and a contact known only by it has no contactName.

The book lives in ``engine_states.contacts`` (any worker that takes the account over reads it there) and is
written by the owner's engine after each change, the latest version winning. Right after a new link the
book is still arriving: until the child says the first sync is complete, or ``sync_timeout`` has passed
since the link, asking for it is a transient error, so a default-audience status waits instead of going to
half a book.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from statusgate.domain.models import Contact
from statusgate.domain.ownership import Fence
from statusgate.engines.sidecar.frames import ContactChange
from statusgate.errors import EngineTransientError
from statusgate.store import engine_states
from statusgate.store.db import Database

log = logging.getLogger("statusgate.engine.baileys")


def merged(book: dict[str, Contact], changes: Sequence[ContactChange]) -> dict[str, Contact]:
    """``book`` with ``changes`` applied in order (a new dict; ``book`` is left as it was)."""
    result = dict(book)
    for change in changes:
        known = result.get(change.chat_id)
        if change.removed:
            result.pop(change.chat_id, None)
            continue
        name = known.name if known else ""
        contact_name = known.contact_name if known else ""
        if change.push_name is not None:
            name = change.push_name
        if change.full_name is not None:
            contact_name = change.full_name
        result[change.chat_id] = Contact(change.chat_id, name, contact_name)
    return result


class AddressBooks:
    def __init__(self, db: Database, sync_timeout: float, fence_of: Callable[[int], Fence | None]) -> None:
        self.db = db
        self.sync_timeout = sync_timeout
        #: the owner's fence of an instance: only the owner writes its book
        self.fence_of = fence_of
        self._books: dict[int, dict[str, Contact]] = {}
        #: instance → when it was linked in this process, while its first sync is not complete
        self._syncing: dict[int, float] = {}
        self._writing: dict[int, asyncio.Task[None]] = {}
        self._dirty: set[int] = set()

    def linked(self, instance_id: int) -> None:
        """A new link: the book starts empty and fills as the phone syncs it."""
        self._books[instance_id] = {}
        self._syncing[instance_id] = time.monotonic()

    async def apply(self, instance_id: int, changes: Sequence[ContactChange], synced: bool) -> None:
        book = await self._book(instance_id)
        self._books[instance_id] = merged(book, changes)
        if synced and self._syncing.pop(instance_id, None) is not None:
            log.info(
                "instance %s: address book synced (%d contacts)", instance_id, len(self._books[instance_id])
            )
        if changes:
            self._write_soon(instance_id)

    async def contacts(self, instance_id: int) -> list[Contact]:
        since = self._syncing.get(instance_id)
        if since is not None:
            if time.monotonic() - since < self.sync_timeout:
                raise EngineTransientError("the phone's address book is still syncing after the link")
            log.warning(
                "instance %s: the address book's first sync did not complete within %g s; using the %d "
                "contacts received",
                instance_id,
                self.sync_timeout,
                len(self._books.get(instance_id, {})),
            )
            self._syncing.pop(instance_id, None)
        return list((await self._book(instance_id)).values())

    async def _book(self, instance_id: int) -> dict[str, Contact]:
        book = self._books.get(instance_id)
        if book is None:
            row = await self.db.read(engine_states.get, instance_id)
            stored = row.contacts if row is not None and row.contacts is not None else []
            book = self._books.setdefault(instance_id, {c.id: c for c in stored})
        return book

    def _write_soon(self, instance_id: int) -> None:
        self._dirty.add(instance_id)
        if instance_id not in self._writing:
            task = asyncio.get_running_loop().create_task(self._write(instance_id))
            self._writing[instance_id] = task

    async def _write(self, instance_id: int) -> None:
        """Write the latest book until nothing changed during the write (one write at a time)."""
        try:
            while instance_id in self._dirty:
                self._dirty.discard(instance_id)
                contacts = list(self._books.get(instance_id, {}).values())
                fence = self.fence_of(instance_id)
                if fence is None:
                    log.warning(
                        "instance %s's address book not stored: this worker does not hold it", instance_id
                    )
                    return
                try:
                    written = await self.db.write(
                        engine_states.put_contacts, instance_id, contacts, time.time(), fence
                    )
                except Exception:
                    log.exception("storing the address book of instance %s failed", instance_id)
                    return
                if not written:
                    log.warning("instance %s's address book not stored: lost or deleted", instance_id)
                    return
        finally:
            self._writing.pop(instance_id, None)

    def forget(self, instance_id: int) -> None:
        """Logged out: the book was the old phone's (a deleted instance's row goes with it anyway)."""
        self._syncing.pop(instance_id, None)
        if self._books.get(instance_id) != {}:
            self._books[instance_id] = {}
            self._write_soon(instance_id)

    async def close(self) -> None:
        await asyncio.gather(*self._writing.values(), return_exceptions=True)
