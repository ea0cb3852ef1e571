"""The baileys engine's default audience: the phone's address book reaches us through app-state sync (the
stand-in's phone shares its key and serves the book), we keep it in the order we learnt it, and a status
with no participants goes to exactly the first 1,024 contacts with a contactName, plus our own phone.
Renames keep their place, removals remove. On SQLite and PostgreSQL, children in the stand-in's namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from statusgate.domain.models import Contact
from statusgate.domain.posts import OutgoingStatus, TextPost
from statusgate.domain.states import InstanceState
from statusgate.errors import EngineTransientError
from statusgate.queue.audience import from_contacts
from statusgate.settings import Settings
from statusgate.wiring.core import Core
from tests.baileys_standin import driver
from tests.baileys_standin.fixtures import standin_for
from tests.integration.test_baileys_engine import _is, engine_settings, eventually, owned, phone, started

SEED = 20261209
BOOK = 1030
LIMIT = 1024


def number(n: int) -> str:
    return f"1999{n:07d}"


#: a registered person's device as a status addresses it (LID or phone number) → their phone number
DEVICES: dict[str, str] = {}


def register_the_book(server: driver.StandIn) -> None:
    """The 1,030 people of the book as WhatsApp users (one device each)."""
    for n in range(BOOK):
        person = server.command("register", phone=number(n))
        DEVICES[person["jid"]] = DEVICES[person["lid"]] = number(n)


standin = standin_for(SEED, register_the_book)


@pytest.fixture
async def core(make_settings: Callable[..., Settings], standin: driver.StandIn) -> AsyncIterator[Core]:
    opened = Core(engine_settings(make_settings, standin, baileys_contacts_sync_seconds=120))
    await opened.open()
    yield opened
    await opened.close()


async def test_the_first_1024_named_contacts_in_the_phones_order_get_a_default_status(
    core: Core, standin: driver.StandIn
) -> None:
    fence = await owned(core)
    instance_id = fence.lease.instance_id
    ours = phone(instance_id)
    # the phone's book, in its order: an odd order, and an unnamed contact is never one of them
    order = list(range(BOOK))[::-1]
    entries = [{"phone": number(n), "fullName": f"Person {n}"} for n in order]
    standin.command("contacts", phone=ours, entries=entries)
    engine = await started(core.ctx.settings, core, fence)
    try:
        await engine.qr(instance_id)
        code = engine.accounts[instance_id].qr_code
        device = standin.command("scan", qr=code, phone=ours, device=3)["jid"]
        await eventually(lambda: _is(engine, instance_id, InstanceState.AUTHORIZED), "authorized")
        # linked, the book not synced yet: a default audience waits rather than go to half of it
        with pytest.raises(EngineTransientError, match="still syncing"):
            await engine.contacts(instance_id)
        standin.seen_or_wait("prekeys-uploaded", jid=device)
        standin.command("share-app-state-key", jid=device, announceAfterMs=None)

        book: list[Contact] = []

        async def synced() -> bool:
            nonlocal book
            try:
                book = await engine.contacts(instance_id)
            except EngineTransientError:
                return False
            return True

        await eventually(synced, "the address book's first sync")
        assert [(c.id, c.contact_name) for c in book] == [(f"{number(n)}@c.us", f"Person {n}") for n in order]

        audience = from_contacts(book, f"{ours}@c.us", LIMIT)
        assert audience.recipients == [f"{number(n)}@c.us" for n in order[:LIMIT]]
        message_id = f"BAEB{instance_id:012d}"
        status = OutgoingStatus(message_id, TextPost("to the book"), None, fence)
        outcome = await engine.send_status(instance_id, status, audience.recipients)
        assert outcome.recipients == tuple(audience.recipients)
        chunks = [standin.wait_for_event("status", 120, id=message_id) for _ in range(LIMIT // 256)]
        reached = [jid for chunk in chunks for jid in chunk["recipients"]]
        own = f"{ours}@s.whatsapp.net"
        # exactly the first 1,024, each on its one device, and our own phone
        assert own in reached
        assert sorted(DEVICES[jid] for jid in reached if jid != own) == sorted(
            number(n) for n in order[:LIMIT]
        )
        assert len(reached) == LIMIT + 1
        assert all(not chunk["undecryptable"] for chunk in chunks)

        # the phone renames one and removes another: the rename keeps its place, the removal leaves
        first, second = order[0], order[1]
        standin.command(
            "contacts",
            phone=ours,
            entries=[{"phone": number(second), "fullName": "Renamed"}],
            remove=[number(first)],
        )

        async def changed() -> bool:
            contacts = await engine.contacts(instance_id)
            return bool(contacts) and contacts[0] == Contact(f"{number(second)}@c.us", "", "Renamed")

        await eventually(changed, "the rename and the removal")
        assert len(await engine.contacts(instance_id)) == BOOK - 1
    finally:
        await engine.close()
