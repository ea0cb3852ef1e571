"""The child's neonize adapter against the fake client: what it calls, what it builds, what it emits."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.whatsapp_support import neonize_or_skip

neonize_or_skip()

from neonize.proto.Neonize_pb2 import JID, MessageSource  # noqa: E402
from neonize.proto.Neonize_pb2 import Receipt as ReceiptProto  # noqa: E402
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (  # noqa: E402
    ExtendedTextMessage,
    ImageMessage,
    Message,
    ProtocolMessage,
)

from statusgate.engines.whatsapp import messages  # noqa: E402
from statusgate.engines.whatsapp import protocol as p  # noqa: E402
from statusgate.engines.whatsapp.session import Session  # noqa: E402
from tests import whatsapp_fake  # noqa: E402
from tests.support import jpeg_bytes, wait_for  # noqa: E402
from tests.whatsapp_fake import FakeClient, decode_message, write_script  # noqa: E402

FontType = ExtendedTextMessage.FontType


class Harness:
    def __init__(self, session_dir: Path, script: dict[str, Any]) -> None:
        write_script(session_dir, **script)
        self.session_dir = session_dir
        self.events: list[Any] = []
        self.client = FakeClient(str(session_dir / "whatsmeow.db"), uuid="1")
        hello = p.Hello(p.PROTOCOL_VERSION, 1, str(session_dir), pair=False)
        self.session = Session(self.client, hello, self.events.append)
        self.thread = threading.Thread(target=self.session.run, daemon=True)

    def run(self, until: type | None = p.Connected) -> Harness:
        self.thread.start()
        if until is not None:
            wait_for(lambda: self.of(until), timeout=5, what=until.__name__)
        return self

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [c["args"] for c in self.client.calls if c["method"] == method]

    def sent(self) -> Message:
        return decode_message(self.calls("send_message")[-1]["message"])


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(**script: Any) -> Harness:
        h = Harness(tmp_path / f"s{len(made)}", {"autopair": True, **script})
        made.append(h)
        return h

    yield make
    for h in made:
        h.client.stop()
        if h.thread.is_alive():
            h.thread.join(5)


def test_nothing_reaches_go_before_the_connection(harness: Callable[..., Harness]) -> None:
    h = harness()
    for request in (
        p.Contacts(),
        p.CheckNumbers(["79001112233"]),
        p.SendStatus("text", "X", text="t"),
        p.Revoke("W"),
    ):
        answer = h.session.handle(request)
        assert not answer.ok and answer.error_kind == p.TRANSIENT
    pairing = h.session.handle(p.PairPhone("79001112233"))
    assert not pairing.ok and "not up yet" in pairing.error
    assert h.client.calls == []  # a Go call now could panic and abort the process


def test_pairing_by_qr_and_by_code(harness: Callable[..., Harness]) -> None:
    h = harness(autopair=False).run(until=p.QrCode)
    assert [e.code for e in h.of(p.QrCode)] == whatsapp_fake.DEFAULT_SCRIPT["qr_codes"]
    answer = h.session.handle(p.PairPhone("79001112233"))
    assert answer.ok and p.result_of(p.PairPhone("x"), answer) == p.PairPhoneResult("FAKE1234")
    assert h.calls("PairPhone") == [{"phone": "79001112233", "show_push_notification": True}]
    (h.session_dir / whatsapp_fake.SCAN_FILE).touch()
    wait_for(lambda: h.of(p.Connected), timeout=5)
    assert h.of(p.Paired) == [p.Paired("79990000001@c.us")]
    assert h.of(p.Connected) == [p.Connected("79990000001@c.us", "Me")]
    again = h.session.handle(p.PairPhone("79001112233"))
    assert not again.ok and again.error_kind == p.PERMANENT


def _send(h: Harness, status: p.SendStatus) -> p.Response:
    return h.session.handle(status)


def test_text_status(harness: Callable[..., Harness]) -> None:
    h = harness().run()
    answer = _send(h, p.SendStatus("text", "OURS1", text="Hello", background="#228B22", font="SERIF"))
    assert answer.ok
    result = p.result_of(p.SendStatus("text", "x"), answer)
    assert result.wa_message_id.startswith("3EB0")
    recorded = h.calls("send_message")[-1]
    assert recorded["to"]["proto"] == "JID"
    jid = JID.FromString(base64.b64decode(recorded["to"]["b64"]))
    assert (jid.User, jid.Server) == ("status", "broadcast")
    text = decode_message(recorded["message"]).extendedTextMessage
    assert text.text == "Hello"
    assert text.backgroundArgb == 0xFF228B22
    assert text.textArgb == 0xFFFFFFFF
    assert text.font == FontType.SYSTEM_TEXT


def test_every_green_font_has_a_face() -> None:
    from statusgate.domain.posts import FONTS

    assert set(FONTS) == set(messages.FONTS)
    for font in FONTS:
        assert ExtendedTextMessage(font=messages.FONTS[font]).font == messages.FONTS[font]
        assert messages.FONT_NAMES[messages.FONTS[font]] == font


def test_image_status(harness: Callable[..., Harness], tmp_path: Path) -> None:
    h = harness().run()
    picture = tmp_path / "p.jpg"
    picture.write_bytes(jpeg_bytes(720, 1280))
    thumbnail = jpeg_bytes(9, 16)
    status = p.SendStatus(
        "image",
        "OURS2",
        caption="look",
        media_path=str(picture),
        mime_type="image/jpeg",
        jpeg_thumbnail=base64.b64encode(thumbnail).decode(),
        width=720,
        height=1280,
    )
    assert _send(h, status).ok
    (upload,) = h.calls("upload")
    assert upload == {"binary": {"bytes": picture.stat().st_size}, "media_type": "MediaImage"}
    image = h.sent().imageMessage
    assert image.caption == "look"
    assert image.mimetype == "image/jpeg"
    assert image.JPEGThumbnail == thumbnail
    assert (image.width, image.height) == (720, 1280)
    assert image.fileSHA256 == hashlib.sha256(picture.read_bytes()).digest()
    assert image.fileLength == picture.stat().st_size
    assert image.URL and image.directPath and image.mediaKey and image.fileEncSHA256


def test_video_and_audio_statuses(harness: Callable[..., Harness], tmp_path: Path) -> None:
    h = harness().run()
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    assert _send(h, p.SendStatus("video", "V", media_path=str(clip), mime_type="video/mp4", seconds=12)).ok
    video = h.sent().videoMessage
    assert (video.seconds, video.mimetype) == (12, "video/mp4")
    assert h.calls("upload")[-1]["media_type"] == "MediaVideo"

    waveform = bytes(range(0, 64))
    voice = p.SendStatus(
        "audio",
        "A",
        media_path=str(clip),
        mime_type="audio/ogg",
        seconds=7,
        waveform=base64.b64encode(waveform).decode(),
        background="#FF0000",
        voice=True,
    )
    assert _send(h, voice).ok
    audio = h.sent().audioMessage
    assert audio.PTT and audio.seconds == 7 and audio.waveform == waveform
    assert audio.backgroundArgb == 0xFFFF0000
    assert audio.mimetype == messages.VOICE_MIME
    assert h.calls("upload")[-1]["media_type"] == "MediaAudio"

    assert _send(h, p.SendStatus("audio", "B", media_path=str(clip), mime_type="audio/ogg", seconds=3)).ok
    music = h.sent().audioMessage
    assert not music.PTT and not music.HasField("backgroundArgb") and music.mimetype == "audio/ogg"


def test_failures_say_whether_anything_was_published(harness: Callable[..., Harness], tmp_path: Path) -> None:
    picture = tmp_path / "p.jpg"
    picture.write_bytes(jpeg_bytes())
    h = harness(upload_error="media server said no").run()
    answer = _send(h, p.SendStatus("image", "X", media_path=str(picture)))
    assert answer.error_kind == p.TRANSIENT and "media server said no" in answer.error
    assert h.calls("send_message") == []
    missing = _send(h, p.SendStatus("image", "X", media_path=str(tmp_path / "gone.jpg")))
    assert missing.error_kind == p.TRANSIENT and "cannot be read" in missing.error

    h2 = harness(send_error="no ack from server").run()
    sent = _send(h2, p.SendStatus("text", "Y", text="t"))
    assert sent.error_kind == p.UNCERTAIN and "no ack from server" in sent.error


def test_receipts_on_status_broadcast(harness: Callable[..., Harness]) -> None:
    h = harness(
        receipts=[
            {"from": "79001112233", "type": "DELIVERED", "before_response": True},
            {"from": "lid:555", "type": "READ", "before_response": True},
            {"from": "79001112244", "type": "PLAYED", "before_response": True},
            {"from": "79001112255", "type": "READ_SELF", "before_response": True},
            {"from": "lid:999", "type": "READ", "before_response": True},
        ],
        lid_map={"555": "79001112266"},
    ).run()
    answer = _send(h, p.SendStatus("text", "X", text="t"))
    wa_id = p.result_of(p.SendStatus("text", "x"), answer).wa_message_id
    got = [(r.wa_message_ids, r.participant, r.status) for r in h.of(p.Receipt)]
    assert got == [
        ([wa_id], "79001112233@c.us", "delivered"),
        ([wa_id], "79001112266@c.us", "read"),  # LID mapped to the phone number
        ([wa_id], "79001112244@c.us", "read"),  # PLAYED counts as read
    ]  # READ_SELF ignored; an unmappable LID skipped
    other_chat = MessageSource(
        Chat=JID(User="79001112233", Server="s.whatsapp.net"), Sender=JID(User="1", Server="s.whatsapp.net")
    )
    h.client.event.fire(ReceiptProto(MessageSource=other_chat, MessageIDs=["Z"], Type=ReceiptProto.READ))
    assert len(h.of(p.Receipt)) == 3


def _b64(message: Message) -> str:
    return base64.b64encode(message.SerializeToString()).decode()


def test_incoming_statuses(harness: Callable[..., Harness]) -> None:
    text = Message(
        extendedTextMessage=ExtendedTextMessage(text="hi", backgroundArgb=0xFF228B22, font=FontType.FB_SCRIPT)
    )
    image = Message(
        imageMessage=ImageMessage(caption="pic", mimetype="image/jpeg", JPEGThumbnail=b"\xff\xd8")
    )
    revoke = Message(protocolMessage=ProtocolMessage(type=ProtocolMessage.REVOKE))
    h = harness(
        contacts=[["79001112233", "Alice Saved", "Alice", "alice"]],
        incoming=[
            {"from": "79001112233", "id": "IN1", "push_name": "alice", "message": _b64(text)},
            {"from": "79001112244", "id": "IN2", "push_name": "bob", "message": _b64(image)},
            {"from": "79001112233", "id": "IN3", "message": _b64(revoke)},
        ],
    ).run()
    wait_for(lambda: len(h.of(p.Incoming)) == 2, timeout=5)
    first, second = h.of(p.Incoming)
    assert (first.wa_message_id, first.sender) == ("IN1", "79001112233@c.us")
    assert first.payload == {
        "typeMessage": "extendedTextMessage",
        "text": "hi",
        "backgroundColor": "#228B22",
        "font": "NORICAN_REGULAR",
        "sender_name": "alice",
        "sender_contact_name": "Alice Saved",
    }
    assert second.payload["typeMessage"] == "imageMessage"
    assert second.payload["caption"] == "pic" and second.payload["mimeType"] == "image/jpeg"
    assert second.payload["sender_contact_name"] == ""


def test_contacts_and_numbers(harness: Callable[..., Harness]) -> None:
    h = harness(
        contacts=[["79001112233", "Alice Saved", "Alice", "alice"], ["lid:555", "", "", "lid person"]],
        lid_map={"555": "79001112266"},
        registered=["79001112233"],
    ).run()
    contacts = p.result_of(p.Contacts(), h.session.handle(p.Contacts()))
    assert contacts.contacts == [
        p.ContactRecord("79001112233@c.us", "Alice Saved", "Alice", "alice"),
        p.ContactRecord("79001112266@c.us", "", "", "lid person"),
    ]
    numbers = p.result_of(
        p.CheckNumbers([]), h.session.handle(p.CheckNumbers(["79001112233", "79001112299"]))
    )
    assert numbers.registered == ["79001112233"]
    assert h.calls("is_on_whatsapp") == [{"numbers": ["+79001112233", "+79001112299"]}]


def test_revoke_goes_to_status_broadcast_as_me(harness: Callable[..., Harness]) -> None:
    h = harness().run()
    assert h.session.handle(p.Revoke("3EB0AAAA")).ok
    (call,) = h.calls("revoke_message")
    chat = JID.FromString(base64.b64decode(call["chat"]["b64"]))
    sender = JID.FromString(base64.b64decode(call["sender"]["b64"]))
    assert (chat.User, chat.Server) == ("status", "broadcast")
    assert (sender.User, sender.Device) == ("79990000001", 0)  # non-AD form, as build_revoke compares it
    assert call["message_id"] == "3EB0AAAA"


@pytest.mark.parametrize(
    ("ban", "expected"),
    [
        ("temporary", p.Banned),
        ("logged_out", p.LoggedOut),
    ],
)
def test_bans_and_logouts(harness: Callable[..., Harness], ban: str, expected: type) -> None:
    h = harness(ban=ban).run()
    wait_for(lambda: h.of(expected), timeout=5)
    event = h.of(expected)[0]
    if ban == "temporary":
        assert "SEND_TO_TOO_MANY_PEOPLE" in event.reason and event.expires_at > 0
    else:
        assert event == p.LoggedOut("LOGGED_OUT", banned=False)
        assert not h.session.handle(p.Contacts()).ok  # the client is not touched after a logout


def test_connect_failure_ends_the_session(harness: Callable[..., Harness]) -> None:
    h = harness(connect_error="failed to dial whatsapp web websocket").run(until=p.ConnectFailed)
    (failed,) = h.of(p.ConnectFailed)
    assert "failed to dial" in failed.reason
    assert h.session.dead
    assert h.session.handle(p.Contacts()).error_kind == p.TRANSIENT
    assert h.calls("contact.get_all_contacts") == []
