"""One contract, every engine: what the sandbox, whatsapp and baileys engines all promise, checked the same way.

Where their capabilities differ (an explicit audience, the caller's message id) the engines' own tests
cover each side; here only the overlap. The whatsapp engine runs its real child processes and protocol
with the fake neonize client (``tests/whatsapp_fake.py``) in place of neonize's; the baileys engine runs
the real Baileys in its Node children against the stand-in for WhatsApp's chat server
(``tests/baileys_standin``), in the stand-in's network namespace.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from statusgate.domain.models import DeliveryCheck, DeliveryState, EngineName, ReceiptEvent, StateEvent
from statusgate.domain.ownership import Fence
from statusgate.domain.posts import OutgoingStatus, TextPost
from statusgate.domain.states import InstanceState, ReceiptStatus
from statusgate.engines.base import Engine, SupportsPairingCode
from statusgate.engines.sandbox_network import ImportedContact
from statusgate.errors import EngineTransientError
from statusgate.services import instances
from statusgate.services.context import ServiceContext
from statusgate.settings import Settings
from statusgate.store import ownership
from statusgate.wiring.core import Core
from tests.baileys_standin import driver as standin_driver
from tests.baileys_standin.fixtures import standin_for
from tests.integration.test_send_media_status import poll
from tests.whatsapp_support import FAST, Drain

#: (number, contactName as saved on the phone, the contact's own profile name)
BOOK = [("79001112233", "Alice Saved", "alice"), ("79001112244", "Bob Saved", "bob")]
VIEWER = "79001112233@c.us"
PNG = b"\x89PNG\r\n\x1a\n"
WORKER = "contract-worker"


@dataclass
class Driver:
    """Plays the network's other side for one engine: the phone, the contacts, the viewers."""

    ctx: ServiceContext
    name: EngineName
    linked: set[int] = field(default_factory=set)
    #: the baileys engine's stand-in, its fences (this test's worker holds every instance) and linked devices
    standin: standin_driver.StandIn | None = None
    fences: dict[int, Fence] = field(default_factory=dict)
    devices: dict[int, str] = field(default_factory=dict)

    @property
    def engine(self) -> Engine:
        return self.ctx.engines[self.name]

    async def new_account(self) -> int:
        """An instance of this engine (created as the service does: row, then ``provision``)."""
        instance_id = (await instances.create(self.ctx, engine=self.name)).id_instance
        if self.name is EngineName.BAILEYS:
            leases = await self.ctx.db.write(ownership.claim, WORKER, 600, 100)
            self.fences.update((lease.instance_id, Fence(WORKER, lease)) for lease in leases)
        elif self.name is EngineName.SANDBOX:
            book = [ImportedContact(f"{n}@c.us", push, saved, True) for n, saved, push in BOOK]
            await self.ctx.sandbox.import_contacts(instance_id, book)
        else:
            from tests.whatsapp_fake import write_script

            engine = self.ctx.engines[EngineName.WHATSAPP]
            write_script(
                engine.session_dir(instance_id),  # type: ignore[attr-defined]
                contacts=[[n, saved, "", push] for n, saved, push in BOOK],
                registered=[n for n, _, _ in BOOK],
                receipts=[
                    *({"from": n, "type": "DELIVERED"} for n, _, _ in BOOK),
                    {"from": VIEWER.split("@")[0], "type": "READ"},
                ],
            )
        return instance_id

    async def link(self, instance_id: int) -> None:
        """The phone scans the QR code shown."""
        if self.name is EngineName.SANDBOX:
            await self.ctx.sandbox.scan(instance_id)
        elif self.name is EngineName.BAILEYS:
            assert self.standin is not None
            code = self.engine.accounts[instance_id].qr_code  # type: ignore[attr-defined]
            phone = f"1555{instance_id % 10**7:07d}"
            self.devices[instance_id] = self.standin.command("scan", qr=code, phone=phone, device=7)["jid"]
        else:
            from tests.whatsapp_fake import SCAN_FILE

            engine = self.ctx.engines[EngineName.WHATSAPP]
            (engine.session_dir(instance_id) / SCAN_FILE).touch()  # type: ignore[attr-defined]

        async def authorized() -> bool:
            return await self.engine.state(instance_id) is InstanceState.AUTHORIZED

        await poll(authorized, timeout=10, what="authorized")
        if self.name is EngineName.WHATSAPP:
            # each pairing starts afresh; the fake reads the scan file only while pairing
            from tests.whatsapp_fake import SCAN_FILE

            engine = self.ctx.engines[EngineName.WHATSAPP]
            (engine.session_dir(instance_id) / SCAN_FILE).unlink()  # type: ignore[attr-defined]

    async def address_book_ready(self, instance_id: int) -> None:
        """The phone's book has reached the engine (the baileys engine: through app-state sync, the
        profile names through each contact's status; the others have it at once)."""
        if self.name is not EngineName.BAILEYS:
            return
        assert self.standin is not None
        device, ours = self.devices[instance_id], f"1555{instance_id % 10**7:07d}"
        entries = [{"phone": n, "fullName": saved} for n, saved, _ in BOOK]
        self.standin.command("contacts", phone=ours, entries=entries)
        self.standin.seen_or_wait("prekeys-uploaded", jid=device)
        self.standin.command("share-app-state-key", jid=device, announceAfterMs=None)
        for n, _, push in BOOK:
            self.standin.command(
                "post-status", phone=n, to=ours, text="hello", pushName=push, addressing="pn"
            )

        async def known() -> bool:
            try:
                names = {(c.id, c.name) for c in await self.engine.contacts(instance_id)}
            except EngineTransientError:
                return False
            return names == {(f"{n}@c.us", push) for n, _, push in BOOK}

        await poll(known, timeout=30, what="the address book")

    async def viewed(self, instance_id: int, message_id: str) -> None:
        """The viewer opens the status (the fake client sends its scripted READ by itself)."""
        if self.name is EngineName.SANDBOX:
            await self.ctx.sandbox.view(instance_id, message_id, VIEWER)
        elif self.name is EngineName.BAILEYS:
            assert self.standin is not None
            viewer = VIEWER.split("@")[0]
            to = self.devices[instance_id]
            self.standin.command("receipt", messageId=message_id, phone=viewer, type="read", to=to)


def register_the_book(server: standin_driver.StandIn) -> None:
    """The chat server of the baileys engine's accounts: the BOOK's people are WhatsApp users there."""
    for number, _, _ in BOOK:
        server.command("register", phone=number)


standin = standin_for(20261207, register_the_book)


def baileys_settings(standin: standin_driver.StandIn) -> dict[str, Any]:
    return {
        "baileys_ws_url": standin.url,
        "baileys_test_root_key": standin.root_public_key,
        "test_baileys_child_prefix": shlex.join(standin_driver.joined_namespace(standin.process.pid, [])),
        "baileys_restart_base_seconds": 0.2,
        "baileys_start_timeout_seconds": 60,
    }


@pytest.fixture(params=[EngineName.SANDBOX, EngineName.WHATSAPP, EngineName.BAILEYS], ids=lambda e: e.value)
async def driver(request: Any, make_settings: Callable[..., Settings]) -> AsyncIterator[Driver]:
    name: EngineName = request.param
    if name is EngineName.WHATSAPP:
        from tests.whatsapp_support import neonize_or_skip

        neonize_or_skip()
    standin = request.getfixturevalue("standin") if name is EngineName.BAILEYS else None
    core = Core(make_settings(**FAST, **(baileys_settings(standin) if standin else {})))
    await core.open()
    subject = Driver(core.ctx, name, standin=standin)
    # supervise, without the queue draining events
    if name is EngineName.BAILEYS:
        await core.ctx.engines[name].start(subject.fences.get)  # type: ignore[attr-defined]
    else:
        await core.ctx.engines[EngineName.WHATSAPP].start()  # type: ignore[attr-defined]
    try:
        yield subject
    finally:
        await core.close()


async def linked(driver: Driver) -> int:
    instance_id = await driver.new_account()
    assert (await driver.engine.qr(instance_id)).type == "qrCode"
    await driver.link(instance_id)
    return instance_id


def text(message_id: str) -> OutgoingStatus:
    return OutgoingStatus(message_id, TextPost("hi", background_color="#228B22"))


async def drained(driver: Driver, want: Callable[[Drain], bool]) -> Drain:
    drain = Drain()

    async def done() -> bool:
        await drain.pull(cast(Any, driver.engine))
        return want(drain)

    await poll(done, timeout=10, what="events")
    return drain


async def test_a_new_account_shows_a_qr_code(driver: Driver) -> None:
    i = await driver.new_account()
    assert await driver.engine.state(i) is InstanceState.NOT_AUTHORIZED
    answer = await driver.engine.qr(i)
    assert answer.type == "qrCode"
    assert base64.b64decode(answer.message).startswith(PNG)


async def test_linking_authorizes(driver: Driver) -> None:
    i = await linked(driver)
    assert await driver.engine.state(i) is InstanceState.AUTHORIZED
    assert (await driver.engine.wid(i)).endswith("@c.us")
    assert (await driver.engine.qr(i)).type == "alreadyLogged"
    drain = await drained(driver, lambda d: bool(d.of(StateEvent)))
    assert drain.of(StateEvent)[-1].state is InstanceState.AUTHORIZED


async def test_contacts_and_numbers(driver: Driver) -> None:
    i = await linked(driver)
    await driver.address_book_ready(i)
    contacts = {(c.id, c.name, c.contact_name, c.type) for c in await driver.engine.contacts(i)}
    assert contacts == {(f"{n}@c.us", push, saved, "user") for n, saved, push in BOOK}
    asked = ["79001112233@c.us", "79001119999@c.us"]
    assert await driver.engine.existing(i, asked) == {"79001112233@c.us"}


async def test_a_status_goes_out_and_receipts_come_back_under_our_id(driver: Driver) -> None:
    i = await linked(driver)
    recipients = [f"{n}@c.us" for n, _, _ in BOOK]
    outcome = await driver.engine.send_status(i, text("OURS-1"), recipients)
    assert set(outcome.recipients) <= set(recipients)  # the whatsapp engine reports them through receipts
    await driver.viewed(i, "OURS-1")

    def read(drain: Drain) -> bool:
        return any(e.status is ReceiptStatus.READ for e in drain.of(ReceiptEvent))

    receipts = (await drained(driver, read)).of(ReceiptEvent)
    assert {e.message_id for e in receipts} == {"OURS-1"}
    assert (VIEWER, ReceiptStatus.READ) in {(e.participant, e.status) for e in receipts}
    assert {e.participant for e in receipts} <= set(recipients)


async def test_delivered_says_whether_the_network_received_a_status(driver: Driver) -> None:
    i = await linked(driver)
    recipients = [f"{n}@c.us" for n, _, _ in BOOK]
    assert await driver.engine.delivered(i, "OURS-2") == DeliveryCheck(DeliveryState.NOT_DELIVERED)
    outcome = await driver.engine.send_status(i, text("OURS-2"), recipients)
    check = await driver.engine.delivered(i, "OURS-2")
    assert check.state is DeliveryState.DELIVERED
    # who got it, when the engine knows (the sandbox); the whatsapp engine leaves that to the receipts
    assert check.recipients == outcome.recipients
    assert await driver.engine.delivered(i, "OURS-OTHER") == DeliveryCheck(DeliveryState.NOT_DELIVERED)


async def test_revoke(driver: Driver) -> None:
    assert driver.engine.capabilities.revoke
    i = await linked(driver)
    recipients = [f"{n}@c.us" for n, _, _ in BOOK]
    await driver.engine.send_status(i, text("OURS-3"), recipients)
    await driver.engine.revoke_status(i, "OURS-3", recipients)


async def test_logout_shows_a_new_qr_code(driver: Driver) -> None:
    i = await linked(driver)
    await driver.engine.logout(i)
    assert await driver.engine.state(i) is InstanceState.NOT_AUTHORIZED
    drain = await drained(
        driver, lambda d: any(e.state is InstanceState.NOT_AUTHORIZED for e in d.of(StateEvent))
    )
    assert drain.of(StateEvent)[-1].state is InstanceState.NOT_AUTHORIZED
    assert (await driver.engine.qr(i)).type == "qrCode"


async def test_pairing_code(driver: Driver) -> None:
    i = await driver.new_account()
    engine = driver.engine
    assert isinstance(engine, SupportsPairingCode)
    code = await engine.pairing_code(i, "79001112233")
    assert len(code) == 8 and code.isalnum() and code.upper() == code
