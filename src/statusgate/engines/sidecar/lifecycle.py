"""The lifecycle of one account of a real engine (whatsapp today, baileys next): one phase, one table.

An account is always in exactly one :class:`AccountPhase`. What moves it is a :class:`Happening` (an event
from its child process, the child's exit, a timer, an operation such as Green's ``logout``).
:data:`TRANSITIONS` says, for each phase, which happenings move it and where to; :data:`UNMOVED` lists the
happenings that are expected in a phase but change nothing (a ``Disconnected`` while still connecting).
Every other pair is refused. Each phase reports one of Green's ``stateInstance`` values
(:data:`INSTANCE_STATE`); two passing phases report none and keep the last one.

Only the phase answers "is it linked / pairing / closed / may it reconnect"; data that is not the lifecycle
(the current QR code, the restart count for the backoff, the child) stays with the engine's account.
See docs/engines.md, "The account's lifecycle".
"""

from __future__ import annotations

import logging
from enum import StrEnum

from statusgate.domain.states import InstanceState

log = logging.getLogger("statusgate.engine.lifecycle")


class AccountPhase(StrEnum):
    """Where an account of a real engine is, from not linked to connected and out again."""

    #: no keys (never linked, logged out, or its keys wiped); no child
    NOT_LINKED = "not_linked"
    #: a pairing child runs for a while: QR codes, a pairing code
    PAIRING = "pairing"
    #: a phone linked in the pairing child; the keys are stored, the first connection follows
    PAIRED = "paired"
    #: linked; the child is (re)starting or connecting, or waits out the restart backoff
    CONNECTING = "connecting"
    #: linked and connected: statuses leave
    CONNECTED = "connected"
    #: WhatsApp banned the account; its keys are kept and its child goes on being restarted
    BANNED = "banned"
    #: another client took over the session; the child is stopped and not restarted (until a reboot)
    REPLACED = "replaced"
    #: the link ended (WhatsApp logged the device out, or Green's logout): the child stops, the keys go
    LOGGING_OUT = "logging_out"
    #: WhatsApp logged the device out for a ban: keys wiped, not linked; reboot or logout to pair again
    BANNED_LOGGED_OUT = "banned_logged_out"
    #: this process let the account go (another worker owns it, or shutting down): final
    CLOSED = "closed"


class Happening(StrEnum):
    """What moves an account from one phase to the next."""

    #: someone asked for a QR code or a pairing code: a pairing child starts
    PAIRING_REQUESTED = "pairing_requested"
    #: nobody linked a phone within the pairing time: the pairing child is stopped
    PAIRING_EXPIRED = "pairing_expired"
    #: a phone scanned the QR code or typed the pairing code
    PAIRED = "paired"
    #: the child of a linked account is (re)started
    CHILD_STARTING = "child_starting"
    #: the child could not be started (or did not answer its hello in time)
    START_FAILED = "start_failed"
    #: logged in at WhatsApp
    CONNECTED = "connected"
    #: the connection dropped; the library reconnects by itself
    DISCONNECTED = "disconnected"
    #: the connection failed for good, or the child reported a fatal error: it is stopped
    FAILED = "failed"
    #: the child process exited
    EXITED = "exited"
    #: WhatsApp banned the account (the child stays up)
    BANNED = "banned"
    #: another client connected with this session ("stream replaced", Baileys' 440)
    REPLACED = "replaced"
    #: WhatsApp logged the device out (removed on the phone, or for a ban)
    LOGGED_OUT = "logged_out"
    #: Green's logout: unlink the device
    LOGOUT = "logout"
    #: the keys of a logged-out account are gone
    WIPED = "wiped"
    #: the keys of an account logged out for a ban are gone
    WIPED_FOR_BAN = "wiped_for_ban"
    #: Green's reboot: stop the child; start again if linked
    REBOOT = "reboot"
    #: the account is let go (``let_go``, shutdown, instance deleted)
    CLOSE = "close"


P, H = AccountPhase, Happening

#: phases that hold the keys of a linked device
LINKED_PHASES = frozenset({P.PAIRED, P.CONNECTING, P.CONNECTED, P.BANNED, P.REPLACED})
#: phases whose child is restarted (with backoff) when it exits or cannot start
RECONNECTING_PHASES = frozenset({P.PAIRED, P.CONNECTING, P.CONNECTED, P.BANNED})

#: the way down of a linked account: what its child may report, whichever linked phase it is in
_LINKED: dict[Happening, AccountPhase] = {
    H.CONNECTED: P.CONNECTED,
    H.BANNED: P.BANNED,
    H.REPLACED: P.REPLACED,
    H.LOGGED_OUT: P.LOGGING_OUT,
    H.LOGOUT: P.LOGGING_OUT,
    H.REBOOT: P.CONNECTING,
    H.CLOSE: P.CLOSED,
}

#: every move: phase → happening → next phase (the same phase: a new reason, nothing else)
TRANSITIONS: dict[AccountPhase, dict[Happening, AccountPhase]] = {
    P.NOT_LINKED: {
        H.PAIRING_REQUESTED: P.PAIRING,
        # nothing to unlink: the keys are wiped again (a leftover store), the reason cleared
        H.LOGOUT: P.LOGGING_OUT,
        H.REBOOT: P.NOT_LINKED,
        H.CLOSE: P.CLOSED,
    },
    P.PAIRING: {
        # a new pairing child replaces one that died before its exit was seen
        H.PAIRING_REQUESTED: P.PAIRING,
        H.PAIRED: P.PAIRED,
        # a library may report the login without a pairing event first
        H.CONNECTED: P.CONNECTED,
        H.PAIRING_EXPIRED: P.NOT_LINKED,
        H.START_FAILED: P.NOT_LINKED,
        # its QR codes die with it; the next request starts a new pairing
        H.EXITED: P.NOT_LINKED,
        H.LOGGED_OUT: P.LOGGING_OUT,
        H.LOGOUT: P.LOGGING_OUT,
        H.REBOOT: P.NOT_LINKED,
        H.CLOSE: P.CLOSED,
    },
    P.PAIRED: {
        **_LINKED,
        H.FAILED: P.CONNECTING,
        H.EXITED: P.CONNECTING,
    },
    P.CONNECTING: {
        **_LINKED,
        H.CHILD_STARTING: P.CONNECTING,
        # the library could not connect (again): the reason says why, for `qr` and the log
        H.DISCONNECTED: P.CONNECTING,
        H.START_FAILED: P.CONNECTING,
        H.FAILED: P.CONNECTING,
        H.EXITED: P.CONNECTING,
    },
    P.CONNECTED: {
        **_LINKED,
        H.DISCONNECTED: P.CONNECTING,
        H.FAILED: P.CONNECTING,
        H.EXITED: P.CONNECTING,
    },
    # banned stays banned while its child comes and goes (UNMOVED); a new child that cannot start says so
    P.BANNED: {
        **_LINKED,
        H.START_FAILED: P.CONNECTING,
    },
    # nothing restarts a replaced session but a reboot: its child's exit is expected (UNMOVED)
    P.REPLACED: {
        H.LOGOUT: P.LOGGING_OUT,
        H.REBOOT: P.CONNECTING,
        H.CLOSE: P.CLOSED,
    },
    P.LOGGING_OUT: {
        H.WIPED: P.NOT_LINKED,
        H.WIPED_FOR_BAN: P.BANNED_LOGGED_OUT,
        H.CLOSE: P.CLOSED,
    },
    P.BANNED_LOGGED_OUT: {
        H.LOGOUT: P.LOGGING_OUT,
        H.REBOOT: P.NOT_LINKED,
        H.CLOSE: P.CLOSED,
    },
    P.CLOSED: {},
}

#: expected in these phases, and meaning nothing there: not moved, not logged
UNMOVED: dict[AccountPhase, frozenset[Happening]] = {
    P.NOT_LINKED: frozenset(),
    # a pairing child's failure is the pairing's answer (shown by ``qr``); its exit ends the pairing
    P.PAIRING: frozenset({H.DISCONNECTED, H.FAILED}),
    # the library reconnects by itself after a drop (whatsmeow does so right after pairing)
    P.PAIRED: frozenset({H.DISCONNECTED}),
    P.CONNECTING: frozenset(),
    P.CONNECTED: frozenset(),
    P.BANNED: frozenset({H.CHILD_STARTING, H.DISCONNECTED, H.FAILED, H.EXITED}),
    P.REPLACED: frozenset({H.DISCONNECTED, H.FAILED, H.EXITED}),
    # already on its way out: the wipe under way ends it
    P.LOGGING_OUT: frozenset({H.LOGOUT, H.REBOOT}),
    P.BANNED_LOGGED_OUT: frozenset(),
    P.CLOSED: frozenset(Happening),
}

#: Green's ``stateInstance`` in each phase; None: a passing phase that keeps the last state reported
INSTANCE_STATE: dict[AccountPhase, InstanceState | None] = {
    P.NOT_LINKED: InstanceState.NOT_AUTHORIZED,
    P.PAIRING: InstanceState.NOT_AUTHORIZED,
    P.PAIRED: InstanceState.STARTING,
    P.CONNECTING: InstanceState.STARTING,
    P.CONNECTED: InstanceState.AUTHORIZED,
    P.BANNED: InstanceState.BLOCKED,
    # Green's ``starting`` says "if it stays so, reboot": what takes a replaced session back
    P.REPLACED: InstanceState.STARTING,
    # announced only once the keys are gone: a client told ``notAuthorized`` may pair at once
    P.LOGGING_OUT: None,
    P.BANNED_LOGGED_OUT: InstanceState.BLOCKED,
    # the next owner reports the account
    P.CLOSED: None,
}

del P, H


class IllegalMove(Exception):
    def __init__(self, phase: AccountPhase, happening: Happening) -> None:
        super().__init__(f"an account that is {phase} cannot take '{happening}'")
        self.phase = phase
        self.happening = happening


def next_phase(phase: AccountPhase, happening: Happening) -> AccountPhase | None:
    """The phase ``happening`` moves ``phase`` to; None when it is expected there and changes nothing.

    Raises:
        IllegalMove: the table has no such move.
    """
    moved = TRANSITIONS[phase].get(happening)
    if moved is not None:
        return moved
    if happening in UNMOVED[phase]:
        return None
    raise IllegalMove(phase, happening)


class Lifecycle:
    """The phase of one account, why it is there, and the ``stateInstance`` last reported for it."""

    def __init__(self, phase: AccountPhase, *, name: str) -> None:
        state = INSTANCE_STATE[phase]
        if state is None:
            raise ValueError(f"an account cannot begin {phase}")
        self.phase = phase
        #: why the account is where it is (a ban's reason, the last connection error); '' for nothing to say
        self.reason = ""
        self.state = state
        self.name = name

    def on(self, happening: Happening, reason: str | None = None) -> bool:
        """Follow ``happening`` through the table; whether the phase moved.

        ``reason`` replaces the reason when the phase moves (None keeps it, '' clears it). A happening the
        table refuses is logged and ignored, not raised: happenings come from a child process and from the
        network, whose order is not ours to guarantee (a late frame, a library that reconnects by itself),
        and an exception in an event callback would break the supervision of the account over one odd
        frame. The table is what decides; its refusals are pinned by tests.
        """
        try:
            moved = next_phase(self.phase, happening)
        except IllegalMove as exc:
            log.warning("%s: ignored: %s", self.name, exc)
            return False
        if moved is None:
            return False
        if moved is not self.phase:
            log.debug("%s: %s -> %s (%s)", self.name, self.phase, moved, happening)
        self.phase = moved
        if reason is not None:
            self.reason = reason
        self.state = INSTANCE_STATE[moved] or self.state
        return True

    @property
    def linked(self) -> bool:
        """The account holds the keys of a linked device."""
        return self.phase in LINKED_PHASES

    @property
    def pairing(self) -> bool:
        return self.phase is AccountPhase.PAIRING

    @property
    def reconnects(self) -> bool:
        """A child that exits or cannot start is started again, with backoff."""
        return self.phase in RECONNECTING_PHASES

    @property
    def closed(self) -> bool:
        return self.phase is AccountPhase.CLOSED
