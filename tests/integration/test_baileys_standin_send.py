"""A status sent by the real Baileys 7 through the stand-in: usync, prekey bundles, the stanza decrypted on
every recipient device the stand-in plays, the server's ack (and a 479 one), a recipient's read receipt
(tests/baileys_standin/README.md). All in a network namespace with only loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.baileys_standin import driver
from tests.baileys_standin.fixtures import standin_for

SEED = 20261204
OUR_PHONE = "15550200001"
OUR_DEVICE = 2
#: another companion of our account: listed and served its prekeys, but its keys are not the stand-in's
OTHER_DEVICE = 5
ALICE = "15550200011"
BOB = "15550200012"
CAROL = "15550200013"
STRANGER = "15550200099"
STATUS = "status@broadcast"


standin = standin_for(SEED)


@pytest.fixture(scope="module")
def sender(
    standin: driver.StandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[driver.Probe, dict[str, Any]]]:
    """A probe linked as our account's device 2, open (no 20 s wait for a history sync)."""
    with standin.probe(tmp_path_factory.mktemp("other") / "auth", "--exit-on-open") as other:
        standin.command("scan", qr=other.qr(), phone=OUR_PHONE, device=OTHER_DEVICE)
        assert other.wait_exit() == 0
    auth = tmp_path_factory.mktemp("sender") / "auth"
    with standin.probe(auth, "--no-history-sync") as probe:
        linked = standin.command("scan", qr=probe.qr(), phone=OUR_PHONE, device=OUR_DEVICE)
        probe.wait_for_event("open")
        standin.wait_for_event("prekeys-uploaded", jid=linked["jid"])
        yield probe, linked


def registered(standin: driver.StandIn) -> dict[str, dict[str, Any]]:
    return {
        ALICE: standin.command("register", phone=ALICE),
        BOB: standin.command("register", phone=BOB, devices=[0, 3]),
    }


def test_on_whatsapp_knows_registered_and_linked_numbers(
    standin: driver.StandIn, sender: tuple[driver.Probe, dict[str, Any]]
) -> None:
    probe, _ = sender
    assert standin.command("register", phone=ALICE)["jid"] == f"{ALICE}@s.whatsapp.net"
    probe.tell("on-whatsapp", phones=[ALICE, OUR_PHONE, STRANGER])
    results = probe.wait_for_event("on-whatsapp")["results"]
    # Baileys keeps the numbers that are on WhatsApp only
    assert results == [
        {"jid": f"{ALICE}@s.whatsapp.net", "exists": True},
        {"jid": f"{OUR_PHONE}@s.whatsapp.net", "exists": True},
    ]


def test_a_text_status_reaches_every_device_of_its_list(
    standin: driver.StandIn, sender: tuple[driver.Probe, dict[str, Any]]
) -> None:
    probe, linked = sender
    users = registered(standin)
    status_list = [
        users[ALICE]["jid"],
        users[BOB]["jid"],
        f"{OUR_PHONE}@s.whatsapp.net",
        f"{STRANGER}@s.whatsapp.net",
    ]
    probe.tell(
        "send-status",
        text="hello from the stand-in",
        backgroundColor="#FF8800",
        font=2,
        statusJidList=status_list,
        messageId="3EB0STANDIN0001",
    )
    sent = probe.wait_for_event("sent")
    assert sent["key"]["id"] == "3EB0STANDIN0001" and sent["key"]["remoteJid"] == STATUS
    asked = standin.wait_for_event("usync", context="message")
    # a number that is not on WhatsApp has no devices, and is reported
    assert asked["protocols"] == ["devices", "lid"] and asked["unknown"] == [f"{STRANGER}@s.whatsapp.net"]
    status = standin.wait_for_event("status", id="3EB0STANDIN0001")
    assert status["from"] == linked["jid"] and status["attrs"]["to"] == STATUS
    # every device of the list, our own phone (device 0) included; not the sending device itself
    devices = [*users[ALICE]["devices"], *users[BOB]["devices"], f"{OUR_PHONE}@s.whatsapp.net"]
    other = f"{OUR_PHONE}:{OTHER_DEVICE}@s.whatsapp.net"
    assert sorted(status["recipients"]) == sorted([*devices, other])
    assert status["undecryptable"] == [other] and "linked companion" in status["why"][other]
    texts = {jid: message["extendedTextMessage"] for jid, message in status["decrypted"].items()}
    # backgroundArgb: 0xFF (opaque) then the colour; font: the FontType number
    expected = {"text": "hello from the stand-in", "backgroundArgb": 0xFFFF8800, "font": 2}
    assert texts == {jid: expected for jid in devices}
    # the bundles came from the stand-in, asked for by LID (usync gave Baileys the mappings)
    bundles = [e for e in standin.drain() if e["event"] == "prekey-bundles"]
    served = [b["jid"] for e in bundles for b in e["served"]]
    assert served and all(jid.endswith("@lid") for jid in served), bundles
    assert all(not e["missing"] for e in bundles)


def send(probe: driver.Probe, standin: driver.StandIn, message_id: str, **fields: Any) -> dict[str, Any]:
    """Sends a text status to Alice and Bob; the stand-in's ``status`` event.

    It returns once Baileys has flushed its own append of the message: until then (100 ms after the send,
    event-buffer.js createBufferedFunction) an ack's update or a receipt for it is folded into that
    messages.upsert instead of being an event of its own."""
    status_list = [f"{ALICE}@s.whatsapp.net", f"{BOB}@s.whatsapp.net"]
    probe.tell("send-status", text=message_id, statusJidList=status_list, messageId=message_id, **fields)
    assert probe.wait_for_event("sent")["key"]["id"] == message_id
    probe.wait_for(lambda e: e.get("event") == "upsert" and e["key"]["id"] == message_id, "our own append")
    return standin.wait_for_event("status", id=message_id)


def test_an_ack_with_error_479_reaches_the_sender(
    standin: driver.StandIn, sender: tuple[driver.Probe, dict[str, Any]]
) -> None:
    probe, _ = sender
    registered(standin)
    # the next status (and those after it) are refused; "from" counts the statuses of this run. The ack
    # waits as a round trip would: one quicker than Baileys' flush of its own append folds into it
    policy = standin.command("ack-policy", error="479", delayMs=300)
    received = policy.pop("received")
    assert policy == {"error": "479", "from": received + 1, "delayMs": 300}
    send(probe, standin, "3EB0STANDIN0479")
    update = probe.wait_for_event("update")
    assert update["key"] == {"remoteJid": STATUS, "fromMe": True, "id": "3EB0STANDIN0479"}
    # WAMessageStatus.ERROR, with the server's error code
    assert update["update"] == {"status": 0, "messageStubParameters": ["479"]}
    assert standin.command("ack-policy") == {"received": received + 1}
    send(probe, standin, "3EB0STANDIN0ACK")
    # a success ack makes no update; the one after the refused status is about this status only
    probe.tell("on-whatsapp", phones=[ALICE])
    probe.wait_for_event("on-whatsapp")
    assert not [e for e in probe.drain() if e["event"] == "update" and e["key"]["id"] == "3EB0STANDIN0ACK"]
    # no ack at all (for an engine's ack timeout); Baileys itself waits for none
    assert standin.command("ack-policy", silent=True) == {"silent": True, "received": received + 2}
    send(probe, standin, "3EB0STANDINNOACK")
    assert standin.command("ack-policy") == {"received": received + 3}


def test_receipts_of_a_status_reach_the_sender(
    standin: driver.StandIn, sender: tuple[driver.Probe, dict[str, Any]]
) -> None:
    probe, linked = sender
    registered(standin)
    send(probe, standin, "3EB0STANDINREAD")
    assert standin.command("receipt", messageId="3EB0STANDINREAD", phone=BOB, to=linked["jid"]) == {"sent": 1}
    delivered = probe.wait_for_event("receipt")
    assert delivered["key"]["id"] == "3EB0STANDINREAD" and delivered["key"]["remoteJid"] == STATUS
    assert set(delivered["receipt"]) == {"userJid", "receiptTimestamp"}
    assert delivered["receipt"]["userJid"] == f"{BOB}@s.whatsapp.net"
    standin.command("receipt", messageId="3EB0STANDINREAD", phone=ALICE, type="read", to=linked["jid"])
    read = probe.wait_for_event("receipt")
    assert read["receipt"]["userJid"] == f"{ALICE}@s.whatsapp.net" and "readTimestamp" in read["receipt"]
    # Baileys acks every receipt
    standin.wait_for(
        lambda e: e.get("event") == "stanza" and e["tag"] == "ack" and e["attrs"].get("class") == "receipt",
        "the receipt's ack",
    )


def test_a_revoked_status_arrives_like_a_status(
    standin: driver.StandIn, sender: tuple[driver.Probe, dict[str, Any]]
) -> None:
    probe, _ = sender
    registered(standin)
    send(probe, standin, "3EB0STANDINGONE")
    probe.tell("revoke-status", id="3EB0STANDINGONE", statusJidList=[f"{ALICE}@s.whatsapp.net"])
    revoke_id = probe.wait_for_event("sent")["key"]["id"]
    revoke = standin.wait_for_event("status", id=revoke_id)
    # a revoke goes to the status list it is given, as a protocolMessage REVOKE (type 0) naming the status
    assert revoke["attrs"]["edit"] == "7" and revoke["recipients"] == [f"{ALICE}@s.whatsapp.net"]
    assert revoke["decrypted"][f"{ALICE}@s.whatsapp.net"]["protocolMessage"] == {
        "key": {"remoteJid": STATUS, "fromMe": True, "id": "3EB0STANDINGONE"},
        "type": 0,
    }


def test_a_user_without_a_lid_gets_nothing_from_rc14(
    standin: driver.StandIn, sender: tuple[driver.Probe, dict[str, Any]]
) -> None:
    """rc14 fetches prekey bundles by LID only (messages-send.js assertSessions): for a user usync gives
    no LID it asks usync again (context "background", lid only), then has no session, and leaves the user
    out of the status without an error. Pinned so that a Baileys which changes this is noticed."""
    probe, _ = sender
    registered(standin)
    carol = standin.command("register", phone=CAROL, lid=False)
    assert carol["lid"] is None
    status_list = [carol["jid"], f"{ALICE}@s.whatsapp.net"]
    probe.tell("send-status", text="no lid", statusJidList=status_list, messageId="3EB0STANDINNOLID")
    status = standin.wait_for_event("status", id="3EB0STANDINNOLID")
    assert status["recipients"] == [f"{ALICE}@s.whatsapp.net"]
    asked = [e for e in standin.drain() if e["event"] in ("usync", "prekey-bundles")]
    lid_lookup = {"event": "usync", "context": "background", "protocols": ["lid"], "users": [carol["jid"]]}
    assert any(lid_lookup.items() <= e.items() for e in asked), asked
    assert not [b for e in asked if e["event"] == "prekey-bundles" for b in e["served"] if CAROL in b["jid"]]
