"""Statuses a contact posts, as the real Baileys 7 receives them on our linked device: the stand-in plays
the poster's phone (a pkmsg with its sender key, an skmsg with the status) and the server's fan-out; the
probe prints what Baileys hands a consumer in messages.upsert (tests/baileys_standin/README.md). All in a
network namespace with only loopback."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests import mediagen
from tests.baileys_standin import driver
from tests.baileys_standin.fixtures import standin_for

SEED = 20261206
OUR_PHONE = "15550400001"
OUR_DEVICE = 4
ALICE = "15550400011"
STATUS = "status@broadcast"


standin = standin_for(SEED)


@pytest.fixture(scope="module")
def receiver(
    standin: driver.StandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[driver.Probe, dict[str, Any]]]:
    """A probe linked as our account's device 4, open; Alice registered → (probe, Alice)."""
    auth = tmp_path_factory.mktemp("incoming") / "auth"
    with standin.probe(auth, "--no-history-sync") as probe:
        linked = standin.command("scan", qr=probe.qr(), phone=OUR_PHONE, device=OUR_DEVICE)
        probe.wait_for_event("open")
        standin.wait_for_event("prekeys-uploaded", jid=linked["jid"])
        yield probe, standin.command("register", phone=ALICE)


def receipt_for(standin: driver.StandIn, message_id: str) -> dict[str, Any]:
    return standin.wait_for(
        lambda e: e.get("event") == "stanza" and e["tag"] == "receipt" and e["attrs"].get("id") == message_id,
        f"Baileys' receipt for {message_id}",
    )


def test_a_contacts_text_status_reaches_our_device(
    standin: driver.StandIn, receiver: tuple[driver.Probe, dict[str, Any]]
) -> None:
    probe, alice = receiver
    posted = standin.command(
        "post-status",
        phone=ALICE,
        to=OUR_PHONE,
        messageId="3AINCOMING00001",
        text="from alice",
        backgroundArgb=0xFF112233,
        font=3,
        pushName="Alice",
    )
    assert posted == {
        "sent": 1,
        "queued": 0,
        "id": "3AINCOMING00001",
        "devices": [f"{OUR_PHONE}:{OUR_DEVICE}@s.whatsapp.net"],
    }
    incoming = probe.wait_for_event("incoming")
    assert incoming["type"] == "notify" and "messageStubType" not in incoming, incoming
    key = incoming["key"]
    # the poster as the stanza names it (a LID); its phone number in remoteJidAlt, not participantAlt
    assert key["remoteJid"] == STATUS and key["fromMe"] is False and key["id"] == "3AINCOMING00001"
    assert key["participant"] == alice["lid"] and key["remoteJidAlt"] == alice["jid"]
    assert key["addressingMode"] == "lid"
    assert incoming["pushName"] == "Alice" and isinstance(incoming["messageTimestamp"], int)
    message = incoming["message"]
    assert message["extendedTextMessage"] == {"text": "from alice", "backgroundArgb": 0xFF112233, "font": 3}
    # rc14 merges every <enc> of the stanza into one message: the pkmsg's sender key comes along
    assert set(message) == {"extendedTextMessage", "senderKeyDistributionMessage"}
    # Baileys' delivery receipt, "inactive" while it has not marked itself online (markOnlineOnConnect off)
    receipt = receipt_for(standin, "3AINCOMING00001")
    assert receipt["attrs"] == {
        "id": "3AINCOMING00001",
        "to": STATUS,
        "participant": alice["lid"],
        "type": "inactive",
    }


def test_a_status_addressed_by_phone_number_carries_the_lid_as_alt(
    standin: driver.StandIn, receiver: tuple[driver.Probe, dict[str, Any]]
) -> None:
    probe, alice = receiver
    for number in (1, 2):  # the second goes over the session the first opened
        message_id = f"3AINCOMINGPN{number:03}"
        posted = standin.command(
            "post-status",
            phone=ALICE,
            to=OUR_PHONE,
            messageId=message_id,
            text="by phone number",
            addressing="pn",
        )
        assert posted["sent"] == 1
        incoming = probe.wait_for_event("incoming")
        key = incoming["key"]
        assert key["id"] == message_id and key["addressingMode"] == "pn", incoming
        assert key["participant"] == alice["jid"] and key["remoteJidAlt"] == alice["lid"]
        # no notify attribute: no push name
        assert incoming["pushName"] is None
        assert incoming["message"]["extendedTextMessage"] == {"text": "by phone number"}
        assert receipt_for(standin, message_id)["attrs"]["participant"] == alice["jid"]


def test_a_contacts_image_status_downloads_from_the_media_host(
    standin: driver.StandIn, receiver: tuple[driver.Probe, dict[str, Any]]
) -> None:
    probe, alice = receiver
    picture = mediagen.image_bytes(Image.new("RGB", (48, 32), (10, 200, 90)), "JPEG", quality=80)
    thumbnail = mediagen.image_bytes(Image.new("RGB", (12, 8), (10, 200, 90)), "JPEG", quality=60)
    image = {
        "data": base64.b64encode(picture).decode(),
        "caption": "a green picture",
        "jpegThumbnail": base64.b64encode(thumbnail).decode(),
        "width": 48,
        "height": 32,
    }
    posted = standin.command(
        "post-status", phone=ALICE, to=OUR_PHONE, messageId="3AINCOMINGIMG01", image=image
    )
    assert posted["sent"] == 1
    incoming = probe.wait_for_event("incoming")
    assert incoming["key"]["id"] == "3AINCOMINGIMG01" and incoming["key"]["participant"] == alice["lid"]
    received = incoming["message"]["imageMessage"]
    assert received["caption"] == "a green picture" and received["mimetype"] == "image/jpeg"
    assert base64.b64decode(received["jpegThumbnail"]) == thumbnail
    assert (received["width"], received["height"]) == (48, 32)
    assert received["url"].startswith(f"https://{standin.media_host}/")
    # Baileys' downloadMediaMessage fetched it over HTTPS (the test CA) and decrypted the very bytes
    downloaded = probe.wait_for_event("incoming-media")
    assert downloaded == {
        "event": "incoming-media",
        "key": incoming["key"],
        "type": "imageMessage",
        "bytes": len(picture),
        "sha256": hashlib.sha256(picture).hexdigest(),
    }
    fetched = standin.wait_for_event("download")
    assert fetched["found"] is True and fetched["path"] == received["directPath"].split("?")[0]


def test_a_status_posted_while_our_device_was_offline_comes_at_its_login(
    standin: driver.StandIn, receiver: tuple[driver.Probe, dict[str, Any]], tmp_path: Path
) -> None:
    probe, alice = receiver
    auth = tmp_path / "auth"
    with standin.probe(auth, "--exit-on-open") as other:
        linked = standin.command("scan", qr=other.qr(), phone=OUR_PHONE, device=OUR_DEVICE + 2)
        assert other.wait_exit() == 0
    standin.wait_for_event("prekeys-uploaded", jid=linked["jid"])
    standin.wait_for_event("closed", jid=linked["jid"])
    posted = standin.command(
        "post-status", phone=ALICE, to=OUR_PHONE, messageId="3AINCOMINGOFF01", text="later"
    )
    # the open device gets it now, the other one is held for it
    assert (posted["sent"], posted["queued"]) == (1, 1)
    assert probe.wait_for_event("incoming")["key"]["id"] == "3AINCOMINGOFF01"
    with standin.probe(auth, "--no-history-sync") as later:
        # the stanza comes before <ib><offline count="1">; Baileys hands it over after its open
        later.connection(receivedPendingNotifications=True)
        incoming = later.wait_for_event("incoming")
        # offline: Baileys upserts it as "append", not "notify"
        assert incoming["type"] == "append" and incoming["key"]["id"] == "3AINCOMINGOFF01", incoming
        assert incoming["key"]["participant"] == alice["lid"]
        assert incoming["message"]["extendedTextMessage"] == {"text": "later"}
    offline = [
        e for e in standin.drain() if e["event"] == "stanza" and e["attrs"].get("id") == "3AINCOMINGOFF01"
    ]
    assert [e["tag"] for e in offline] == ["receipt", "receipt"], offline


def test_a_contacts_voice_note_status_keeps_its_waveform(
    standin: driver.StandIn, receiver: tuple[driver.Probe, dict[str, Any]], tmp_path: Path
) -> None:
    probe, _ = receiver
    voice = mediagen.write_audio(
        tmp_path / "voice.ogg", container="ogg", codec="libopus", seconds=1, rate=48_000, layout="mono"
    ).read_bytes()
    waveform = bytes(range(64))
    audio = {
        "data": base64.b64encode(voice).decode(),
        "ptt": True,
        "seconds": 1,
        "waveform": base64.b64encode(waveform).decode(),
        "backgroundArgb": 0xFF223344,
    }
    standin.command("post-status", phone=ALICE, to=OUR_PHONE, messageId="3AINCOMINGPTT01", audio=audio)
    incoming = probe.wait_for_event("incoming", type="notify")
    assert incoming["key"]["id"] == "3AINCOMINGPTT01"
    received = incoming["message"]["audioMessage"]
    assert received["ptt"] is True and received["seconds"] == 1 and received["backgroundArgb"] == 0xFF223344
    assert (
        received["mimetype"] == "audio/ogg; codecs=opus"
        and base64.b64decode(received["waveform"]) == waveform
    )
    downloaded = probe.wait_for_event("incoming-media")
    assert downloaded["type"] == "audioMessage" and downloaded["bytes"] == len(voice)
    assert downloaded["sha256"] == hashlib.sha256(voice).hexdigest()
