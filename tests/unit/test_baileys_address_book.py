"""The baileys engine's own address book: the order we first learnt each contact, names as the phone saved
them, removals removing (``engines/baileys/address_book.py``)."""

from __future__ import annotations

from statusgate.domain.models import Contact
from statusgate.engines.baileys.address_book import merged
from statusgate.engines.sidecar.frames import ContactChange
from statusgate.queue.audience import from_contacts


def test_the_first_sync_keeps_the_phones_order_and_later_contacts_come_last() -> None:
    book = merged({}, [ContactChange("3@c.us", "Cat"), ContactChange("1@c.us", "Ann")])
    book = merged(book, [ContactChange("2@c.us", "Ben")])
    assert list(book) == ["3@c.us", "1@c.us", "2@c.us"]
    assert book["1@c.us"] == Contact("1@c.us", "", "Ann")


def test_a_rename_keeps_the_place_and_a_removal_removes() -> None:
    book = merged({}, [ContactChange(f"{n}@c.us", f"N{n}") for n in (1, 2, 3)])
    book = merged(book, [ContactChange("1@c.us", "Ann Renamed"), ContactChange("2@c.us", removed=True)])
    assert [(c.id, c.contact_name) for c in book.values()] == [("1@c.us", "Ann Renamed"), ("3@c.us", "N3")]
    # saved again: it is learnt anew, so it comes last
    book = merged(book, [ContactChange("2@c.us", "Ben again")])
    assert list(book) == ["1@c.us", "3@c.us", "2@c.us"]


def test_a_profile_name_fills_name_only_and_never_makes_a_recipient() -> None:
    book = merged({}, [ContactChange("1@c.us", "Ann"), ContactChange("1@c.us", push_name="ann_profile")])
    book = merged(book, [ContactChange("9@c.us", push_name="stranger")])
    assert book["1@c.us"] == Contact("1@c.us", "ann_profile", "Ann")
    assert book["9@c.us"] == Contact("9@c.us", "stranger", "")
    # the default audience: only those with a contactName, never our own account
    own = "1@c.us"
    book = merged(book, [ContactChange("2@c.us", "Ben")])
    assert from_contacts(list(book.values()), own, 1024).recipients == ["2@c.us"]


def test_the_first_1024_named_contacts_in_order_are_the_default_audience() -> None:
    changes = [ContactChange(f"{n}@c.us", f"Contact {n}") for n in range(1030)]
    book = merged({}, changes)
    audience = from_contacts(list(book.values()), "own@c.us", 1024).recipients
    assert audience == [f"{n}@c.us" for n in range(1024)]
