"""Media statuses sent by the real Baileys 7 through the stand-in: ``media_conn``, one upload to the
stand-in's loopback HTTPS media host (a test CA, trusted through NODE_EXTRA_CA_CERTS), then the same
content relayed to two chunks of the status list, and every recipient device downloading, checking and
decrypting the same bytes (tests/baileys_standin/README.md). All in a network namespace with only loopback.
"""

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

SEED = 20261205
OUR_PHONE = "15550300001"
OUR_DEVICE = 2
ALICE = "15550300011"
BOB = "15550300012"
STATUS = "status@broadcast"


standin = standin_for(SEED)


@pytest.fixture(scope="module")
def sender(standin: driver.StandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[driver.Probe]:
    """A probe linked as our account's device 2, open, with Alice (one device) and Bob (two) registered."""
    auth = tmp_path_factory.mktemp("media-sender") / "auth"
    with standin.probe(auth, "--no-history-sync") as probe:
        linked = standin.command("scan", qr=probe.qr(), phone=OUR_PHONE, device=OUR_DEVICE)
        probe.wait_for_event("open")
        standin.wait_for_event("prekeys-uploaded", jid=linked["jid"])
        standin.command("register", phone=ALICE)
        standin.command("register", phone=BOB, devices=[0, 3])
        yield probe


#: the recipient devices of the two chunks [Alice], [Bob]
DEVICES = [f"{ALICE}@s.whatsapp.net", f"{BOB}@s.whatsapp.net", f"{BOB}:3@s.whatsapp.net"]


def jpeg(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    return mediagen.image_bytes(Image.new("RGB", (width, height), colour), "JPEG", quality=80)


def send_media(
    probe: driver.Probe, standin: driver.StandIn, message_id: str, path: Path, **fields: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Sends a media status in two chunks ([Alice], [Bob]) → the probe's ``sent``, the two ``status``
    events, each with the ``upload`` events of this send under ``"uploads"``."""
    since = len(standin.drain())  # the uploads of earlier tests are not this one's
    lists = [[f"{ALICE}@s.whatsapp.net"], [f"{BOB}@s.whatsapp.net"]]
    probe.tell("send-media-status", path=str(path), statusJidLists=lists, messageId=message_id, **fields)
    sent = probe.wait_for(lambda e: e.get("event") in ("sent", "send-failed"), "the media status sent")
    assert sent["event"] == "sent", sent
    statuses = [standin.wait_for_event("status", id=message_id) for _ in lists]
    uploads = [e for e in standin.drain()[since:] if e["event"] == "upload"]
    return sent, [{**s, "uploads": uploads} for s in statuses]


def check_media(
    standin: driver.StandIn, statuses: list[dict[str, Any]], kind: str, data: bytes
) -> dict[str, dict[str, Any]]:
    """One upload; every recipient device decrypted the very bytes of ``data`` → the messages by device."""
    uploads = statuses[0]["uploads"]
    assert len(uploads) == 1, uploads
    assert uploads[0]["type"] == kind and uploads[0]["path"].startswith(f"/mms/{kind}/")
    opened = {jid: m for s in statuses for jid, m in s["media"].items()}
    assert sorted(opened) == sorted(DEVICES)
    expected = {
        "type": kind,
        "bytes": len(data),
        "sha256ok": True,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert opened == {jid: {**expected, "uploads": 1} for jid in DEVICES}
    messages = {jid: m[f"{kind}Message"] for s in statuses for jid, m in s["decrypted"].items()}
    # both chunks carry the same upload: one url, one directPath, one key
    assert len({(m["url"], m["directPath"], m["mediaKey"]) for m in messages.values()}) == 1
    assert next(iter(messages.values()))["url"].startswith(f"https://{standin.media_host}/")
    return messages


def test_an_image_status_is_uploaded_once_and_read_by_every_recipient(
    standin: driver.StandIn, sender: driver.Probe, tmp_path: Path
) -> None:
    picture = jpeg(64, 36, (200, 40, 40))
    thumbnail = jpeg(16, 9, (200, 40, 40))
    path = tmp_path / "picture.jpg"
    path.write_bytes(picture)
    sent, statuses = send_media(
        sender,
        standin,
        "3EB0MEDIAIMAGE01",
        path,
        kind="image",
        mimetype="image/jpeg",
        caption="a red picture",
        jpegThumbnail=base64.b64encode(thumbnail).decode(),
        width=64,
        height=36,
    )
    assert sent["chunks"] == 2 and sent["media"]["fileLength"] == str(len(picture))
    assert [s["recipients"] for s in statuses] == [DEVICES[:1], DEVICES[1:]]
    messages = check_media(standin, statuses, "image", picture)
    for message in messages.values():
        assert message["caption"] == "a red picture" and message["mimetype"] == "image/jpeg"
        assert base64.b64decode(message["jpegThumbnail"]) == thumbnail
        assert (message["width"], message["height"]) == (64, 36)
    # the stanza says what it carries
    assert {s["attrs"]["type"] for s in statuses} == {"media"}
    assert {s["children"][0] for s in statuses} == {"enc"}
    # one media_conn for both chunks (Baileys keeps it for its ttl)
    media_conns = [e for e in standin.drain() if e["event"] == "iq" and e["xmlns"] == "w:m"]
    assert [(e["child"], e["handled"]) for e in media_conns] == [("media_conn", True)]


def test_a_voice_note_status_keeps_its_waveform_and_background(
    standin: driver.StandIn, sender: driver.Probe, tmp_path: Path
) -> None:
    path = mediagen.write_audio(
        tmp_path / "voice.ogg", container="ogg", codec="libopus", seconds=2, rate=48_000, layout="mono"
    )
    voice = path.read_bytes()
    waveform = bytes(range(0, 128, 2))  # 64 samples, as WhatsApp draws them
    _, statuses = send_media(
        sender,
        standin,
        "3EB0MEDIAVOICE01",
        path,
        kind="audio",
        mimetype="audio/ogg; codecs=opus",
        ptt=True,
        seconds=2,
        waveform=base64.b64encode(waveform).decode(),
        backgroundColor="#336699",
    )
    messages = check_media(standin, statuses, "audio", voice)
    for message in messages.values():
        assert message["ptt"] is True and message["seconds"] == 2
        assert message["mimetype"] == "audio/ogg; codecs=opus"
        assert base64.b64decode(message["waveform"]) == waveform
        # a string colour: 0xFF (opaque) then RRGGBB. (rc14's assertColor returns nothing for a number)
        assert message["backgroundArgb"] == 0xFF336699
    # a voice note is a media message like the others (its <enc>s say mediatype="ptt": getMediaType)
    assert {s["attrs"]["type"] for s in statuses} == {"media"}


def test_a_video_status_keeps_its_seconds(
    standin: driver.StandIn, sender: driver.Probe, tmp_path: Path
) -> None:
    path = mediagen.write_video(tmp_path / "clip.mp4", container="mp4", video_codec="libx264", seconds=3)
    clip = path.read_bytes()
    thumbnail = jpeg(16, 9, (0, 100, 255))
    _, statuses = send_media(
        sender,
        standin,
        "3EB0MEDIAVIDEO01",
        path,
        kind="video",
        mimetype="video/mp4",
        seconds=3,
        caption="three seconds",
        jpegThumbnail=base64.b64encode(thumbnail).decode(),
    )
    messages = check_media(standin, statuses, "video", clip)
    for message in messages.values():
        assert message["seconds"] == 3 and message["mimetype"] == "video/mp4"
        assert message["caption"] == "three seconds"
        assert base64.b64decode(message["jpegThumbnail"]) == thumbnail


def test_without_the_test_ca_the_upload_fails(standin: driver.StandIn, tmp_path: Path) -> None:
    """A Baileys process not given NODE_EXTRA_CA_CERTS refuses the media host's certificate: the send fails
    before any stanza (what an engine that forgets to pass the variable through would see)."""
    auth = tmp_path / "auth"
    with standin.probe(auth, "--no-history-sync", trust_media_ca=False) as probe:
        standin.command("scan", qr=probe.qr(), phone=OUR_PHONE, device=OUR_DEVICE + 1)
        probe.wait_for_event("open")
        path = tmp_path / "picture.jpg"
        path.write_bytes(jpeg(8, 8, (1, 2, 3)))
        thumbnail = base64.b64encode(jpeg(4, 4, (1, 2, 3))).decode()
        lists = [[f"{ALICE}@s.whatsapp.net"]]
        since = len(standin.drain())
        probe.tell(
            "send-media-status",
            kind="image",
            path=str(path),
            mimetype="image/jpeg",
            jpegThumbnail=thumbnail,
            statusJidLists=lists,
            messageId="3EB0MEDIANOCA01",
        )
        failed = probe.wait_for(lambda e: e.get("event") in ("sent", "send-failed"), "the send's end")
        assert failed["event"] == "send-failed" and "Media upload failed on all hosts" in failed["error"], (
            failed
        )
        refused = standin.wait_for_event("media-tls-error")
        assert refused["error"], refused
        later = standin.drain()[since:]
        assert not [e for e in later if e["event"] in ("upload", "status")]
