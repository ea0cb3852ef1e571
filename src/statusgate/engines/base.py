"""The engine contract. The gateway only ever talks to a network through this ``Protocol``.

Every method takes the instance id, because one engine object serves many accounts. Methods must not
block the event loop; an engine that wraps blocking code runs it elsewhere (a thread, a child process).
Errors leave an engine only as :class:`statusgate.errors.EngineError` subclasses: adapters translate
their library's exceptions at this edge.

Exactly once is measured at the network: it receives a status once. No engine relies on the network
ignoring a repeat, and none is asked to: every ``send_status`` call that gets through may deliver again.
So the caller calls ``send_status`` once for a status' first attempt, and before any later attempt (after a
crash, a timeout, an error, whatever happened once the call began) it asks :meth:`Engine.delivered`, and
sends again only when the answer is ``NOT_DELIVERED``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from statusgate.domain.models import (
    Contact,
    DeliveryCheck,
    EngineEvent,
    EngineName,
    QrAnswer,
    SendOutcome,
)
from statusgate.domain.ownership import Fence
from statusgate.domain.posts import OutgoingStatus
from statusgate.domain.states import InstanceState

#: takes a batch of events in order; answers, per event, whether it was handled (False: offer it again later)
EventHandler = Callable[[Sequence[EngineEvent]], Awaitable[Sequence[bool]]]


@dataclass(frozen=True)
class EngineCapabilities:
    #: can post to a caller-given list of recipients (otherwise: the phone's own status audience only)
    explicit_audience: bool
    #: posts under the caller's message id (otherwise the network chooses one and the engine maps it to ours)
    honours_message_id: bool
    #: can revoke a status after it was sent
    revoke: bool


class Engine(Protocol):
    name: EngineName
    capabilities: EngineCapabilities

    async def provision(self, instance_id: int, *, authorized: bool = False) -> None:
        """Create what a new instance needs (an account, a session dir). Called once, at creation."""

    async def forget(self, instance_id: int) -> None:
        """Remove everything the engine keeps for a deleted instance."""

    async def state(self, instance_id: int) -> InstanceState:
        """The current ``stateInstance``; cheap, called before every send."""

    async def wid(self, instance_id: int) -> str:
        """The account's own chat id (``digits@c.us``); empty while not linked."""

    async def contacts(self, instance_id: int) -> list[Contact]:
        """The address book and chats, in the phone's order. Needs ``authorized``."""

    async def existing(self, instance_id: int, chat_ids: Sequence[str]) -> set[str]:
        """Which of these chat ids are registered on WhatsApp. Needs ``authorized``."""

    async def send_status(
        self, instance_id: int, status: OutgoingStatus, recipients: Sequence[str]
    ) -> SendOutcome:
        """Post a status to exactly ``recipients`` under ``status.message_id``.

        Raises EngineTransientError (retry may work) or EnginePermanentError. Each call that gets through is
        a new arrival at the network, so the caller never repeats one blindly (see :meth:`delivered`); an
        engine whose own records show the id already published still must not publish it again.
        """

    async def delivered(self, instance_id: int, message_id: str) -> DeliveryCheck:
        """Whether the network received the status sent under ``message_id``, from the engine's own records.

        Asked before every attempt after the first. ``DELIVERED``: the network has it (``recipients``: who
        got it, when the engine knows; empty when only receipts will tell). ``NOT_DELIVERED``: it never
        reached the network and no attempt is under way, so sending is safe. ``PENDING``: an attempt is
        still under way; ask again later. ``UNKNOWN``: the engine cannot tell (an attempt began and
        nothing records how it ended); the caller then fails the status rather than risk a duplicate.
        ``NOT_DELIVERED`` is a promise: an engine that is not sure answers ``PENDING`` or ``UNKNOWN``.
        """

    async def revoke_status(self, instance_id: int, message_id: str, recipients: Sequence[str]) -> None:
        """Delete a sent status for those it went to. Needs ``authorized``; only with ``capabilities.revoke``."""

    async def qr(self, instance_id: int) -> QrAnswer:
        """Green's ``qr`` answer for the current state."""

    async def logout(self, instance_id: int) -> None: ...

    async def reboot(self, instance_id: int) -> None: ...

    async def drain_events(
        self, handler: EventHandler, limit: int = 500, *, instance_ids: Collection[int] | None = None
    ) -> int:
        """Hand pending network events to ``handler`` in order, as one batch; an event the handler
        reports handled is gone, the others are offered again at the next call. Returns how many went.
        ``instance_ids``: only these instances' events (the ones this worker owns); None: every one."""

    async def close(self) -> None:
        """Release resources; no call follows."""


# --- optional capabilities: checked with isinstance, never assumed -------------------------------------------


@runtime_checkable
class SupportsPairingCode(Protocol):
    """Links an account by a code typed on the phone ("Link with phone number instead")."""

    async def pairing_code(self, instance_id: int, phone_number: str) -> str:
        """The code to type on the phone (``phone_number``: international digits). Raises EngineError when
        the account cannot be paired now (already authorized, network down)."""


@runtime_checkable
class SupervisedEngine(Protocol):
    """An engine that runs background work (child processes) only in the server, never in the CLI."""

    async def start(self, fence_of: Callable[[int], Fence | None] | None = None) -> None:
        """Called once by the server when its workers start; ``close`` stops what it started.
        ``fence_of``: the fence of this worker's writes for an instance it holds (None: not held)."""

    async def hold(self, instance_ids: Sequence[int]) -> None:
        """This worker now owns these instances (some may be another engine's: ignored): connect their live
        sessions. Only the owner of an instance connects it, so one session is never open twice."""

    async def let_go(self, instance_ids: Sequence[int]) -> None:
        """This worker no longer owns these instances: disconnect their sessions now, before another worker
        connects them."""
