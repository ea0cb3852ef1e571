"""What the API asks of an account's live session: a command, carried out by the worker that owns it.

An API node never talks to a live engine. A request that needs the phone (a QR code, a pairing code, logout,
reboot, a number check, revoking a sent status) is written to the database as a command with a deadline;
the worker carries it out and writes the answer; the request waits for that answer. A command past its
deadline is never carried out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class ShowQr:
    """``qr``: the current QR code (pairing starts if needed), or why there is none."""


@dataclass(frozen=True)
class PairingCode:
    """``getAuthorizationCode``: a code to type on the phone."""

    phone_number: str


@dataclass(frozen=True)
class Logout:
    pass


@dataclass(frozen=True)
class Reboot:
    pass


@dataclass(frozen=True)
class CheckNumbers:
    """``checkWhatsapp``: which of these chat ids are on WhatsApp."""

    chat_ids: tuple[str, ...]


@dataclass(frozen=True)
class RevokeStatus:
    """``deleteStatus`` of a sent status."""

    message_id: str
    recipients: tuple[str, ...]


Command = ShowQr | PairingCode | Logout | Reboot | CheckNumbers | RevokeStatus


class CommandState(StrEnum):
    #: written by the API; waits for a worker
    PENDING = "pending"
    #: a worker is carrying it out
    RUNNING = "running"
    #: done, with its answer
    DONE = "done"
    #: the engine refused or failed it, with the reason
    FAILED = "failed"
    #: its deadline passed before a worker took it: never carried out
    EXPIRED = "expired"


#: every allowed move (the store refuses any other)
COMMAND_TRANSITIONS: dict[CommandState, frozenset[CommandState]] = {
    CommandState.PENDING: frozenset({CommandState.RUNNING, CommandState.EXPIRED}),
    CommandState.RUNNING: frozenset({CommandState.DONE, CommandState.FAILED}),
    CommandState.DONE: frozenset(),
    CommandState.FAILED: frozenset(),
    CommandState.EXPIRED: frozenset(),
}


class FailureKind(StrEnum):
    """Why a command failed, so the API answers as if it had called the engine itself."""

    #: retrying may work (Green's 502)
    TRANSIENT = "transient"
    #: refused (400)
    PERMANENT = "permanent"
    #: the engine cannot do that (400)
    UNSUPPORTED = "unsupported"
    #: the phone is not linked (400 instance is starting or not authorized)
    NOT_AUTHORIZED = "not_authorized"


@dataclass(frozen=True)
class CommandFailure:
    kind: FailureKind
    message: str
