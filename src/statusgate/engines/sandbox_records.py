"""Records shared by the simulated network's modules (accounts, arrivals, faults, errors).

Plain values, without SQL: the command line builds its ``sandbox`` commands from them, and must not wait for
SQLAlchemy to print its help (the queries on them are in :mod:`statusgate.engines.sandbox_accounts`).
"""

from __future__ import annotations

from dataclasses import dataclass

from statusgate.domain.states import InstanceState


class SandboxError(Exception):
    """A sandbox command could not be carried out (unknown account, message, participant…)."""


@dataclass(frozen=True)
class ImportedContact:
    id: str
    name: str
    contact_name: str
    in_address_book: bool


@dataclass(frozen=True)
class Account:
    instance_id: int
    wid: str
    state: InstanceState
    pairing_ref: str


@dataclass(frozen=True)
class Arrivals:
    """How often the network received one status for one recipient (repeats included), and when first."""

    message_id: str
    participant: str
    count: int
    first_at: float


@dataclass(frozen=True)
class Fault:
    mode: str  # transient | permanent | timeout


FAULT_MODES = ("transient", "permanent", "timeout")


def chat_id_of(number: str) -> str:
    return f"{number}@c.us"
