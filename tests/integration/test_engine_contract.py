"""One contract, every engine: what the sandbox and whatsapp engines both promise, checked the same way.

Where their capabilities differ (an explicit audience, the caller's message id) the engines' own tests
cover each side; here only the overlap. The whatsapp engine runs its real child processes and protocol
with the fake neonize client (``tests/whatsapp_fake.py``) in place of neonize's.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from statusgate.domain.models import DeliveryCheck, DeliveryState, EngineName, ReceiptEvent, StateEvent
from statusgate.domain.posts import OutgoingStatus, TextPost
from statusgate.domain.states import InstanceState, ReceiptStatus
from statusgate.engines.base import Engine, SupportsPairingCode
from statusgate.engines.sandbox_network import ImportedContact
from statusgate.services import instances
from statusgate.services.context import ServiceContext
from statusgate.settings import Settings
from statusgate.wiring.core import Core
from tests.integration.test_send_media_status import poll
from tests.whatsapp_support import FAST, Drain

#: (number, contactName as saved on the phone, the contact's own profile name)
BOOK = [("79001112233", "Alice Saved", "alice"), ("79001112244", "Bob Saved", "bob")]
VIEWER = "79001112233@c.us"
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Driver:
    """Plays the network's other side for one engine: the phone, the contacts, the viewers."""

    ctx: ServiceContext
    name: EngineName
    linked: set[int] = field(default_factory=set)

    @property
    def engine(self) -> Engine:
        return self.ctx.engines[self.name]

    async def new_account(self) -> int:
        """An instance of this engine (created as the service does: row, then ``provision``)."""
        instance_id = (await instances.create(self.ctx, engine=self.name)).id_instance
        if self.name is EngineName.SANDBOX:
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

    async def viewed(self, instance_id: int, message_id: str) -> None:
        """The viewer opens the status (the fake client sends its scripted READ by itself)."""
        if self.name is EngineName.SANDBOX:
            await self.ctx.sandbox.view(instance_id, message_id, VIEWER)


@pytest.fixture(params=[EngineName.SANDBOX, EngineName.WHATSAPP], ids=lambda e: e.value)
async def driver(request: Any, make_settings: Callable[..., Settings]) -> AsyncIterator[Driver]:
    name: EngineName = request.param
    if name is EngineName.WHATSAPP:
        from tests.whatsapp_support import neonize_or_skip

        neonize_or_skip()
    core = Core(make_settings(**FAST))
    await core.open()
    whatsapp = core.ctx.engines[EngineName.WHATSAPP]
    await whatsapp.start()  # type: ignore[attr-defined]  # supervise, without the queue draining events
    try:
        yield Driver(core.ctx, name)
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
