"""The phone's address book reaching a linked companion (the real Baileys 7) through app-state sync: the
phone shares its app-state key in a peer message, the server announces the contacts collection
(server_sync), and Baileys' resyncAppState fetches and verifies the patches
(tests/baileys_standin/README.md, "App state"). All in a network namespace with only loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.baileys_standin import driver
from tests.baileys_standin.fixtures import standin_for

SEED = 20261205
OUR_PHONE = "15550300001"
OUR_DEVICE = 4
BIG_PHONE = "15550300002"
AWAY_PHONE = "15550300003"
FIRST_PHONE = "15550300004"
COLLECTION = "critical_unblock_low"


def contact_phone(n: int) -> str:
    return f"1555031{n:04d}"


def jid(phone: str) -> str:
    return f"{phone}@s.whatsapp.net"


standin = standin_for(SEED)


@pytest.fixture(scope="module")
def companion(
    standin: driver.StandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[driver.Probe, dict[str, Any]]]:
    """A probe linked as our account's device 4, open, holding the phone's app-state key."""
    auth = tmp_path_factory.mktemp("companion") / "auth"
    with standin.probe(auth, "--no-history-sync", "--verify-app-state-macs") as probe:
        linked = standin.command("scan", qr=probe.qr(), phone=OUR_PHONE, device=OUR_DEVICE)
        probe.wait_for_event("open")
        standin.wait_for_event("prekeys-uploaded", jid=linked["jid"])
        shared = standin.command("share-app-state-key", jid=linked["jid"])
        # nothing in the book yet: nothing announced
        assert shared["type"] == "pkmsg" and shared["announcing"] is False
        assert probe.wait_for_event("app-state-key")["keyId"] == shared["keyId"]
        yield probe, linked
    # the log read to its end: no patch failed Baileys' checks
    assert [
        line for line in probe.stderr if "verification failed" in line or "failed to decode" in line
    ] == []


def next_upsert(probe: driver.Probe) -> list[dict[str, Any]]:
    contacts: list[dict[str, Any]] = probe.wait_for_event("contacts-upsert")["contacts"]
    # Baileys, verifying, only logs a bad MAC or LT hash (chat-utils.js decodePatches), and a patch whose
    # LT hash fails still gives its events: the log is where a mismatch shows
    complaints = [
        line for line in probe.stderr if "verification failed" in line or "failed to decode patch" in line
    ]
    assert complaints == []
    return contacts


def gather(probe: driver.Probe, count: int) -> list[dict[str, Any]]:
    """The contacts of the next contacts.upsert events, until ``count`` of them: Baileys emits one sync's
    contacts in one event unless its event buffer is flushed mid-sync (another buffered function's
    pending flush), and then in several, one contact each."""
    contacts: list[dict[str, Any]] = []
    while len(contacts) < count:
        contacts += next_upsert(probe)
    return contacts


def test_the_address_book_arrives_in_its_order(
    standin: driver.StandIn, companion: tuple[driver.Probe, dict[str, Any]]
) -> None:
    probe, linked = companion
    entries = [
        {"phone": contact_phone(n), "fullName": f"Contact {n} Surname", "firstName": f"Contact {n}"}
        for n in (5, 3, 9, 1, 7)
    ]
    result = standin.command("contacts", phone=OUR_PHONE, entries=entries)
    assert result == {"version": 1, "contacts": 5, "told": 1}
    contacts = next_upsert(probe)
    # name: fullName first (sync-action-utils.js processContactAction)
    assert [(c["id"], c["name"]) for c in contacts] == [(jid(e["phone"]), e["fullName"]) for e in entries]
    assert all(c["phoneNumber"] == c["id"] for c in contacts)
    asked = standin.wait_for_event("app-state-sync", jid=linked["jid"])
    assert asked["collections"] == [{"name": COLLECTION, "since": 0, "snapshot": True, "patches": 1}]

    # two more, one renamed, one removed: only those changes come
    # a contactAction may name the contact's LID too: Baileys passes it on as `lid`
    lid = "100000000000020@lid"
    added = [{"phone": contact_phone(n), "fullName": f"New {n}"} for n in (20, 21)]
    added[0]["lidJid"] = lid
    renamed = {"phone": contact_phone(3), "fullName": "Renamed Three"}
    result = standin.command(
        "contacts", phone=OUR_PHONE, entries=[*added, renamed], remove=[contact_phone(9)]
    )
    assert result == {"version": 2, "contacts": 6, "told": 1}
    changes = next_upsert(probe)
    assert [(c["id"], c.get("name")) for c in changes] == [
        (jid(contact_phone(20)), "New 20"),
        (jid(contact_phone(21)), "New 21"),
        (jid(contact_phone(3)), "Renamed Three"),
        # a REMOVE: rc14 ignores the operation and upserts the removed value (empty: no name)
        (jid(contact_phone(9)), None),
    ]
    assert changes[0]["lid"] == lid and "lid" not in changes[1]
    asked = standin.wait_for_event("app-state-sync", jid=linked["jid"])
    assert asked["collections"] == [{"name": COLLECTION, "since": 1, "snapshot": False, "patches": 1}]

    # back again after its removal: the LT hashes of both sides still agree (else Baileys, verifying,
    # would skip the patch)
    result = standin.command(
        "contacts", phone=OUR_PHONE, entries=[{"phone": contact_phone(9), "fullName": "Nine Again"}]
    )
    assert result == {"version": 3, "contacts": 7, "told": 1}
    assert [(c["id"], c.get("name")) for c in next_upsert(probe)] == [(jid(contact_phone(9)), "Nine Again")]


def test_a_book_of_1030_arrives_whole_and_in_order(standin: driver.StandIn, tmp_path: Path) -> None:
    """The book is there before the companion links: the key share announces it, and Baileys gets it
    all (one patch of 1,030 mutations) in one contacts.upsert, in the book's order."""
    entries = [{"phone": f"1555032{n:04d}", "fullName": f"Person {1029 - n:04d}"} for n in range(1030)]
    result = standin.command("contacts", phone=BIG_PHONE, entries=entries)
    assert result == {"version": 1, "contacts": 1030, "told": 0}
    with driver.StandIn.probe(
        standin, tmp_path / "auth", "--no-history-sync", "--verify-app-state-macs"
    ) as probe:
        linked = standin.command("scan", qr=probe.qr(), phone=BIG_PHONE)
        probe.wait_for_event("open")
        standin.wait_for_event("prekeys-uploaded", jid=linked["jid"])
        # the book is announced a second later, once Baileys has stored the key
        assert standin.command("share-app-state-key", jid=linked["jid"])["announcing"] is True
        standin.wait_for_event("server-sync", phone=BIG_PHONE, version=1, told=1)
        contacts = gather(probe, len(entries))
        assert [(c["id"], c["name"]) for c in contacts] == [(jid(e["phone"]), e["fullName"]) for e in entries]
        standin.command("drop", jid=linked["jid"])
        probe.connection(connection="close")
    assert [
        line for line in probe.stderr if "verification failed" in line or "failed to decode" in line
    ] == []


def test_a_key_that_lands_late_and_changes_made_while_offline(
    standin: driver.StandIn, tmp_path: Path
) -> None:
    """The book announced at once with the key share races Baileys' storing of the key: the collection
    is parked on the missing key and fetched again when the key lands (chats.js blockedCollections). Then
    changes made while the companion is away reach it when it logs in again."""
    entries = [{"phone": f"1555033{n:04d}", "fullName": f"Away {n}"} for n in (4, 2, 8)]
    # one mutation a patch, here
    standin.command("contacts", phone=AWAY_PHONE, entries=entries, mutationsPerPatch=1)
    auth = tmp_path / "auth"
    options = ("--no-history-sync", "--verify-app-state-macs")
    with standin.probe(auth, *options) as probe:
        linked = standin.command("scan", qr=probe.qr(), phone=AWAY_PHONE)
        probe.wait_for_event("open")
        standin.wait_for_event("prekeys-uploaded", jid=linked["jid"])
        standin.command("share-app-state-key", jid=linked["jid"], announceAfterMs=0)
        contacts = gather(probe, len(entries))
        assert [(c["id"], c["name"]) for c in contacts] == [(jid(e["phone"]), e["fullName"]) for e in entries]
        assert standin.command("drop", jid=linked["jid"]) == {"dropped": 1}
        probe.connection(connection="close")
        # the stand-in too has seen it go (under load it may see the close after the probe did)
        standin.wait_for_event("closed", jid=linked["jid"])
    away = [{"phone": f"1555033{n:04d}", "firstName": f"First {n}"} for n in (6, 2)]
    result = standin.command(
        "contacts", phone=AWAY_PHONE, entries=away, remove=[f"1555033{8:04d}"], mutationsPerPatch=1
    )
    assert result == {"version": 6, "contacts": 3, "told": 0}
    with standin.probe(auth, *options) as probe:
        probe.wait_for_event("open")
        # name: the firstName when there is no fullName
        assert [(c["id"], c.get("name")) for c in gather(probe, 3)] == [
            (jid("15550330006"), "First 6"),
            (jid("15550330002"), "First 2"),
            (jid("15550330008"), None),
        ]
        asked = standin.wait_for_event("app-state-sync", jid=linked["jid"])
        assert asked["collections"][0]["since"] == 3


def test_the_initial_sync_after_the_phones_history_sync(standin: driver.StandIn, tmp_path: Path) -> None:
    """As a real phone does after linking: the key, then a history-sync notification (inline, empty).
    With Baileys' default shouldSyncHistoryMessage this ends "AwaitingInitialSync": doAppStateSync asks
    every collection at once, and the book comes in the initial sync."""
    entries = [{"phone": f"1555034{n:04d}", "fullName": f"First Sync {n}"} for n in (3, 1, 2)]
    standin.command("contacts", phone=FIRST_PHONE, entries=entries)
    with standin.probe(tmp_path / "auth", "--verify-app-state-macs") as probe:
        linked = standin.command("scan", qr=probe.qr(), phone=FIRST_PHONE)
        probe.wait_for_event("open")
        standin.wait_for_event("prekeys-uploaded", jid=linked["jid"])
        shared = standin.command("share-app-state-key", jid=linked["jid"], announceAfterMs=None)
        assert shared["announcing"] is False
        standin.command("history-sync", jid=linked["jid"])
        history = probe.wait_for_event("history-set")
        assert (history["syncType"], history["chats"], history["contacts"]) == (0, 0, 0)
        contacts = gather(probe, len(entries))
        assert [(c["id"], c["name"]) for c in contacts] == [(jid(e["phone"]), e["fullName"]) for e in entries]
        asked = standin.wait_for_event("app-state-sync", jid=linked["jid"])
        names = ["critical_block", "critical_unblock_low", "regular_high", "regular_low", "regular"]
        assert [(c["name"], c["patches"]) for c in asked["collections"]] == [
            (n, 1 if n == COLLECTION else 0) for n in names
        ]
