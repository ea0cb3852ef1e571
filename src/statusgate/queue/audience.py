"""Who a status goes to, decided when it is sent (pure)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from statusgate.domain.models import Contact


@dataclass(frozen=True)
class Audience:
    recipients: list[str]
    #: listed participants that are not on WhatsApp
    skipped: list[str]


def from_participants(participants: Sequence[str], existing: Collection[str], own_wid: str) -> Audience:
    """Those listed that exist, in the given order; the account itself is never a recipient."""
    recipients: list[str] = []
    skipped: list[str] = []
    for chat_id in dict.fromkeys(participants):
        if chat_id == own_wid:
            continue
        (recipients if chat_id in existing else skipped).append(chat_id)
    return Audience(recipients, skipped)


def from_contacts(contacts: Sequence[Contact], own_wid: str, limit: int) -> Audience:
    """The first ``limit`` personal contacts (address-book order) that have a non-empty contactName."""
    recipients: dict[str, None] = {}
    for contact in contacts:
        if len(recipients) >= limit:
            break
        if contact.type == "user" and contact.contact_name.strip() and contact.id != own_wid:
            recipients[contact.id] = None
    return Audience(list(recipients), [])
