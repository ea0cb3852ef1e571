"""The baileys engine posting statuses through the stand-in: exactly the listed recipients' devices plus our
own phone, under our message id, in chunks that share it, each acked before the next; 479 acks; an ack that
never comes; receipts; revoke to the same devices. The stand-in decrypts what each recipient device got, as
that device would (``tests/baileys_standin/statuses.mjs``). Both addressing modes, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from statusgate.domain.models import (
    DeliveryState,
    EngineEvent,
    IncomingStatusEvent,
    MediaKind,
    PreparedMedia,
    ReceiptEvent,
)
from statusgate.domain.ownership import Fence
from statusgate.domain.posts import MediaPost, OutgoingStatus, TextPost, VoicePost
from statusgate.domain.states import InstanceState, ReceiptStatus
from statusgate.engines.baileys.engine import BaileysEngine
from statusgate.errors import EnginePermanentError
from statusgate.settings import Settings
from statusgate.store import status_chunks
from statusgate.store.status_chunks import ChunkState
from statusgate.wiring.core import Core
from tests.baileys_standin import driver
from tests.baileys_standin.fixtures import standin_for
from tests.integration.test_baileys_engine import (
    _is,
    engine_settings,
    eventually,
    owned,
    phone,
    started,
)
from tests.mediagen import write_audio
from tests.support import jpeg_bytes

SEED = 20261205
DEVICE = 5
_numbers = itertools.count(1)


standin = standin_for(SEED)


@pytest.fixture(params=["lid", "pn"])
def addressing(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[1, 3], ids=["own-process", "shared-process"])
def accounts_per_process(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
async def core(
    make_settings: Callable[..., Settings],
    standin: driver.StandIn,
    addressing: str,
    accounts_per_process: int,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Core]:
    # the engine's children trust the stand-in's media host (its test CA), as an operator's would a private one
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", standin.ca_file)
    settings = engine_settings(
        make_settings,
        standin,
        baileys_accounts_per_process=accounts_per_process,
        baileys_addressing=addressing,
        baileys_chunk_size=2,
        baileys_chunk_pause_seconds=0.05,
        baileys_ack_timeout_seconds=3,
    )
    opened = Core(settings)
    await opened.open()
    yield opened
    await opened.close()


class Linked:
    def __init__(self, engine: BaileysEngine, fence: Fence, device_jid: str, lid: str) -> None:
        self.engine = engine
        self.fence = fence
        self.device_jid = device_jid
        self.lid = lid

    @property
    def instance_id(self) -> int:
        return self.fence.lease.instance_id

    @property
    def phone(self) -> str:
        return phone(self.instance_id)

    def status(self, message_id: str, text: str = "hello") -> OutgoingStatus:
        post = TextPost(text, background_color="#FF8800", font="NORICAN_REGULAR")
        return OutgoingStatus(message_id, post, None, self.fence)


@pytest.fixture
async def linked(core: Core, standin: driver.StandIn) -> AsyncIterator[Linked]:
    """A baileys instance linked as our account's device 5, authorized."""
    fence = await owned(core)
    engine = await started(core.ctx.settings, core, fence)
    try:
        instance_id = fence.lease.instance_id
        await engine.qr(instance_id)
        account = engine.accounts[instance_id]
        assert account.qr_code is not None
        scanned = standin.command("scan", qr=account.qr_code, phone=phone(instance_id), device=DEVICE)
        await eventually(lambda: _is(engine, instance_id, InstanceState.AUTHORIZED), "authorized")
        yield Linked(engine, fence, scanned["jid"], scanned["lid"])
    finally:
        await engine.close()


def users(standin: driver.StandIn, *devices: Sequence[int]) -> list[dict[str, Any]]:
    """New WhatsApp users (numbers of this run's own), with these device ids each."""
    return [
        standin.command("register", phone=f"1666{next(_numbers):07d}", devices=list(ids)) for ids in devices
    ]


def chat_id(user: dict[str, Any]) -> str:
    return f"{str(user['jid']).split('@')[0]}@c.us"


async def test_a_status_reaches_exactly_the_listed_devices_in_acked_chunks_under_our_id(
    linked: Linked, standin: driver.StandIn, core: Core, addressing: str
) -> None:
    engine, instance_id = linked.engine, linked.instance_id
    alice, bob, carol = users(standin, [0], [0, 3], [0])
    stranger = "16669999999@c.us"
    listed = [chat_id(alice), chat_id(bob), stranger, chat_id(carol)]
    assert await engine.existing(instance_id, listed) == {chat_id(alice), chat_id(bob), chat_id(carol)}

    message_id = f"BAE5{instance_id:012d}"
    recipients = [chat_id(alice), chat_id(bob), chat_id(carol)]
    outcome = await engine.send_status(instance_id, linked.status(message_id, "to three"), recipients)
    assert outcome.recipients == tuple(recipients) and outcome.note == ""
    assert outcome.received_at is not None

    # chunks of 2: [alice, bob] with our own phone, then [carol]; both under our id, one after the other
    first = standin.wait_for_event("status", id=message_id)
    second = standin.wait_for_event("status", id=message_id)
    ours = f"{linked.phone}@s.whatsapp.net"
    pn_of = PnOf(linked, [alice, bob, carol])
    expect_first = [*alice["devices"], *bob["devices"], ours]
    assert sorted(map(pn_of, first["recipients"])) == sorted(expect_first)
    assert sorted(map(pn_of, second["recipients"])) == sorted(carol["devices"])
    # others by LID in lid mode (usync gave the mappings), our own always by phone number
    theirs = [jid for jid in first["recipients"] if not pn_of(jid).startswith(linked.phone)]
    assert len(theirs) == 3
    assert all(jid.endswith("@lid") == (addressing == "lid") for jid in theirs)
    # never the sending device itself
    assert linked.device_jid not in first["recipients"]
    for status in (first, second):
        assert status["from"] == linked.device_jid
        assert status["undecryptable"] == [], status["why"]
        for message in status["decrypted"].values():
            text = message["extendedTextMessage"]
            assert text["text"] == "to three"
            assert text["backgroundArgb"] == 0xFFFF8800
            assert text["font"] == 2  # NORICAN_REGULAR is WhatsApp's FB_SCRIPT
            assert "matchedText" not in text  # no link preview

    chunks = await core.ctx.db.read(status_chunks.of_status, instance_id, message_id)
    assert [(c.index, c.recipients, c.state) for c in chunks] == [
        (0, (chat_id(alice), chat_id(bob)), ChunkState.ACKED),
        (1, (chat_id(carol),), ChunkState.ACKED),
    ]
    check = await engine.delivered(instance_id, message_id)
    assert (check.state, check.recipients) == (DeliveryState.DELIVERED, tuple(recipients))
    # asked again (a retry after a lost answer), it is never published a second time
    assert (await engine.send_status(instance_id, linked.status(message_id), recipients)).recipients == tuple(
        recipients
    )
    assert stanzas(standin, message_id) == 2

    # a read receipt from bob's phone becomes a statistics event under our id, by his number
    standin.command(
        "receipt", messageId=message_id, phone=bob["jid"].split("@")[0], type="read", to=linked.device_jid
    )
    events: list[EngineEvent] = []

    async def handle(batch: Sequence[EngineEvent]) -> Sequence[bool]:
        events.extend(batch)
        return [True] * len(batch)

    async def read_receipt() -> bool:
        await engine.drain_events(handle)
        return any(isinstance(e, ReceiptEvent) for e in events)

    await eventually(read_receipt, "the read receipt")
    (receipt,) = [e for e in events if isinstance(e, ReceiptEvent)]
    assert (receipt.message_id, receipt.participant, receipt.status) == (
        message_id,
        chat_id(bob),
        ReceiptStatus.READ,
    )

    # revoke: to every device the status went to, in the same chunks
    await engine.revoke_status(instance_id, message_id, [])
    revokes = [
        standin.wait_for(
            lambda e: e.get("event") == "status" and e.get("from") == linked.device_jid, "a revoke"
        )
        for _ in range(2)
    ]
    assert sorted(map(pn_of, revokes[0]["recipients"])) == sorted(expect_first)
    assert sorted(map(pn_of, revokes[1]["recipients"])) == sorted(carol["devices"])
    for revoke in revokes:
        for message in revoke["decrypted"].values():
            protocol = message["protocolMessage"]
            assert protocol["type"] == "REVOKE" or protocol["type"] == 0
            assert protocol["key"]["id"] == message_id


async def test_a_479_on_the_first_chunk_fails_the_status_and_on_a_later_one_sends_to_the_acked(
    linked: Linked, standin: driver.StandIn, core: Core
) -> None:
    engine, instance_id = linked.engine, linked.instance_id
    people = users(standin, [0], [0], [0])
    recipients = [chat_id(u) for u in people]
    try:
        standin.command("ack-policy", error="479")
        refused = f"BAE6{instance_id:012d}"
        with pytest.raises(EnginePermanentError, match="479"):
            await engine.send_status(instance_id, linked.status(refused), recipients)
        standin.wait_for_event("status", id=refused)
        (chunk,) = await core.ctx.db.read(status_chunks.of_status, instance_id, refused)
        assert (chunk.state, chunk.error) == (ChunkState.REJECTED, "479")

        # the second stanza from now on is refused: the first chunk stands, the rest is not sent
        received = standin.command("ack-policy")["received"]
        standin.command("ack-policy", error="479", **{"from": received + 2})
        partial = f"BAE7{instance_id:012d}"
        outcome = await engine.send_status(instance_id, linked.status(partial), recipients)
        assert outcome.recipients == tuple(recipients[:2])
        assert outcome.note == "sent to 2 of 3 recipients; 1 rejected by WhatsApp (error 479)"
    finally:
        standin.command("ack-policy")


async def test_a_chunk_with_no_ack_is_never_sent_again(linked: Linked, standin: driver.StandIn) -> None:
    engine, instance_id = linked.engine, linked.instance_id
    (someone,) = users(standin, [0])
    message_id = f"BAE8{instance_id:012d}"
    try:
        standin.command("ack-policy", silent=True)
        with pytest.raises(EnginePermanentError, match="not resent"):
            await engine.send_status(instance_id, linked.status(message_id), [chat_id(someone)])
    finally:
        standin.command("ack-policy")
    assert stanzas(standin, message_id) == 1
    assert (await engine.delivered(instance_id, message_id)).state is DeliveryState.UNKNOWN
    with pytest.raises(EnginePermanentError, match="not resent"):
        await engine.send_status(instance_id, linked.status(message_id), [chat_id(someone)])
    assert stanzas(standin, message_id) == 1


def stanzas(standin: driver.StandIn, message_id: str) -> int:
    """How many status stanzas with this id the stand-in received in all."""
    return sum(1 for e in standin.drain() if e.get("event") == "status" and e.get("id") == message_id)


class PnOf:
    """A device jid as its PN jid, by the LIDs the stand-in gave our account and the registered users."""

    def __init__(self, linked: Linked, people: Sequence[dict[str, Any]]) -> None:
        self.numbers = {_user(linked.lid): linked.phone}
        for person in people:
            if person["lid"]:
                self.numbers[_user(person["lid"])] = _user(person["jid"])

    def __call__(self, jid: str) -> str:
        if not jid.endswith("@lid"):
            return jid
        user, _, device = jid.partition("@")[0].partition(":")
        number = self.numbers[user]
        return f"{number}:{device}@s.whatsapp.net" if device else f"{number}@s.whatsapp.net"


def _user(jid: str) -> str:
    return jid.split("@")[0].split(":")[0]


def prepared(path: Path, kind: MediaKind, mime: str, **fields: Any) -> PreparedMedia:
    data = path.read_bytes()
    return PreparedMedia(
        hashlib.sha256(data).hexdigest(), kind, mime, path.suffix.lstrip("."), len(data), path, **fields
    )


async def test_a_picture_and_a_voice_note_upload_once_and_arrive_as_prepared(
    linked: Linked, standin: driver.StandIn, tmp_path: Path
) -> None:
    engine, instance_id = linked.engine, linked.instance_id
    people = users(standin, [0], [0], [0])
    recipients = [chat_id(u) for u in people]
    thumbnail = base64.b64encode(jpeg_bytes(18, 32, (10, 200, 30))).decode("ascii")
    picture = tmp_path / "status.jpg"
    picture.write_bytes(jpeg_bytes(90, 160))
    image = prepared(picture, MediaKind.IMAGE, "image/jpeg", jpeg_thumbnail=thumbnail, width=90, height=160)
    post = MediaPost("https://files.example/status.jpg", "status.jpg", MediaKind.IMAGE, caption="A caption")
    picture_id = f"BAE9{instance_id:012d}"
    before = len(standin.drain())
    outcome = await engine.send_status(
        instance_id, OutgoingStatus(picture_id, post, image, linked.fence), recipients
    )
    assert outcome.recipients == tuple(recipients)
    # two chunks (of 2, then 1), one upload
    chunks = [standin.wait_for_event("status", id=picture_id) for _ in range(2)]
    uploads = [e for e in standin.drain()[before:] if e.get("event") == "upload"]
    for status in chunks:
        assert status["undecryptable"] == [], status["why"]
        for jid, message in status["decrypted"].items():
            got = message["imageMessage"]
            assert (got["caption"], got["mimetype"], got["jpegThumbnail"]) == (
                "A caption",
                "image/jpeg",
                thumbnail,
            )
            assert (got["width"], got["height"]) == (90, 160)
            media = status["media"][jid]
            assert media["sha256ok"] and media["bytes"] == image.size and media["sha256"] == image.media_id
            assert media["uploads"] == 1

    voice_file = write_audio(
        tmp_path / "voice.ogg", container="ogg", codec="libopus", seconds=3, layout="mono"
    )
    waveform = bytes(range(0, 128, 2))
    voice = prepared(
        voice_file, MediaKind.AUDIO, "audio/ogg; codecs=opus", duration_seconds=3.0, waveform=waveform
    )
    voice_post = VoicePost("https://files.example/voice.ogg", "voice.ogg", background_color="#112233")
    voice_id = f"BAEA{instance_id:012d}"
    await engine.send_status(
        instance_id, OutgoingStatus(voice_id, voice_post, voice, linked.fence), recipients
    )
    status = standin.wait_for_event("status", id=voice_id)
    for message in status["decrypted"].values():
        got = message["audioMessage"]
        assert got["ptt"] is True and got["seconds"] == 3
        assert got["mimetype"] == "audio/ogg; codecs=opus"
        assert got["waveform"] == base64.b64encode(waveform).decode("ascii")
        assert got["backgroundArgb"] == 0xFF112233
    assert [e["type"] for e in uploads] == ["image"]


async def test_a_contacts_status_arrives_as_an_incoming_status_by_phone_number(
    linked: Linked, standin: driver.StandIn, addressing: str
) -> None:
    engine, instance_id = linked.engine, linked.instance_id
    (poster,) = users(standin, [0])
    number = poster["jid"].split("@")[0]
    posted = standin.command(
        "post-status",
        phone=number,
        to=linked.phone,
        messageId=f"INCOMING{instance_id:08d}",
        text="from a contact",
        backgroundArgb=0xFF336699,
        font=1,
        pushName="Poster",
        addressing=addressing,
    )
    assert posted["sent"] >= 1, posted
    events: list[EngineEvent] = []

    async def handle(batch: Sequence[EngineEvent]) -> Sequence[bool]:
        events.extend(batch)
        return [True] * len(batch)

    async def arrived() -> bool:
        await engine.drain_events(handle)
        return any(isinstance(e, IncomingStatusEvent) for e in events)

    await eventually(arrived, "the incoming status")
    (incoming,) = [e for e in events if isinstance(e, IncomingStatusEvent)]
    assert (incoming.message_id, incoming.sender) == (f"INCOMING{instance_id:08d}", f"{number}@c.us")
    assert incoming.payload == {
        "typeMessage": "extendedTextMessage",
        "text": "from a contact",
        "backgroundColor": "#336699",
        "font": "SERIF",
        "senderName": "Poster",
    }


async def test_a_recipient_baileys_cannot_encrypt_for_gets_nothing_and_is_named(
    linked: Linked, standin: driver.StandIn
) -> None:
    engine, instance_id = linked.engine, linked.instance_id
    kept, lost = users(standin, [0], [0])
    lost_number = lost["jid"].split("@")[0]
    message_id = f"BAEC{instance_id:012d}"
    standin.command("withhold-bundles", phones=[lost_number])
    try:
        outcome = await engine.send_status(
            instance_id, linked.status(message_id), [chat_id(kept), chat_id(lost)]
        )
    finally:
        standin.command("withhold-bundles", phones=[])
    # Baileys left them out of the stanza (it only logs that): no statistics row, named in the description
    assert outcome.recipients == (chat_id(kept),)
    assert outcome.note == (
        f"sent to 1 of 2 recipients; 1 left out, encrypting for them failed: {chat_id(lost)}"
    )
    status = standin.seen_or_wait("status", id=message_id)
    pn_of = PnOf(linked, [kept, lost])
    assert sorted(map(pn_of, status["recipients"])) == sorted(
        [*kept["devices"], f"{linked.phone}@s.whatsapp.net"]
    )
