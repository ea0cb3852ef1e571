"""A status sent by the real Baileys 7 through the stand-in: usync, prekey bundles, the stanza decrypted on
every recipient device the stand-in plays, the server's ack (and a 479 one), a recipient's read receipt
(tests/baileys_standin/README.md). All in a network namespace with only loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.baileys_standin import driver
from tests.integration.test_baileys_standin import baileys_dir, node  # noqa: F401  (fixtures)

SEED = 20261204
OUR_PHONE = "15550200001"
OUR_DEVICE = 2
ALICE = "15550200011"
BOB = "15550200012"
STRANGER = "15550200099"
STATUS = "status@broadcast"


@pytest.fixture(scope="module")
def standin(
    baileys_dir: Path,  # noqa: F811
    node: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[driver.StandIn]:
    with driver.StandIn(node, baileys_dir, SEED, tmp_path_factory.mktemp("standin-send-home")) as server:
        yield server
        assert server.unanswered_iqs() == []


@pytest.fixture(scope="module")
def sender(
    standin: driver.StandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[driver.Probe, dict[str, Any]]]:
    """A probe linked as our account's device 2, open (no 20 s wait for a history sync)."""
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
    status_list = [users[ALICE]["jid"], users[BOB]["jid"], f"{OUR_PHONE}@s.whatsapp.net"]
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
    status = standin.wait_for_event("status", id="3EB0STANDIN0001")
    assert status["from"] == linked["jid"] and status["attrs"]["to"] == STATUS
    # every device of the list, our own phone (device 0) included; not the sending device itself
    devices = [*users[ALICE]["devices"], *users[BOB]["devices"], f"{OUR_PHONE}@s.whatsapp.net"]
    assert sorted(status["recipients"]) == sorted(devices)
    assert status["undecryptable"] == [], status["why"]
    texts = {jid: message["extendedTextMessage"] for jid, message in status["decrypted"].items()}
    # backgroundArgb: 0xFF (opaque) then the colour; font: the FontType number
    expected = {"text": "hello from the stand-in", "backgroundArgb": 0xFFFF8800, "font": 2}
    assert texts == {jid: expected for jid in devices}
    # the bundles came from the stand-in, asked for by LID (usync gave Baileys the mappings)
    bundles = [e for e in standin.drain() if e["event"] == "prekey-bundles"]
    served = [b["jid"] for e in bundles for b in e["served"]]
    assert served and all(jid.endswith("@lid") for jid in served), bundles
    assert all(not e["missing"] for e in bundles)
