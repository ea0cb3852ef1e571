"""The account lifecycle shared by the real engines: every cell of its table, and what each phase reports."""

from __future__ import annotations

import itertools
import logging

import pytest

from statusgate.domain.states import InstanceState
from statusgate.engines.sidecar import lifecycle
from statusgate.engines.sidecar.lifecycle import (
    AccountPhase,
    Happening,
    IllegalMove,
    Lifecycle,
    next_phase,
)

P, H = AccountPhase, Happening

#: what a linked phase's child may report, whichever linked phase it is in
LINKED = {
    H.CONNECTED: P.CONNECTED,
    H.BANNED: P.BANNED,
    H.REPLACED: P.REPLACED,
    H.LOGGED_OUT: P.LOGGING_OUT,
    H.LOGOUT: P.LOGGING_OUT,
    H.REBOOT: P.CONNECTING,
    H.CLOSE: P.CLOSED,
}

#: written out again, by hand: a change to the table has to be made here too
MOVES: dict[AccountPhase, dict[Happening, AccountPhase]] = {
    P.NOT_LINKED: {
        H.PAIRING_REQUESTED: P.PAIRING,
        H.LOGOUT: P.LOGGING_OUT,
        H.REBOOT: P.NOT_LINKED,
        H.CLOSE: P.CLOSED,
    },
    P.PAIRING: {
        H.PAIRING_REQUESTED: P.PAIRING,
        H.PAIRED: P.PAIRED,
        H.CONNECTED: P.CONNECTED,
        H.PAIRING_EXPIRED: P.NOT_LINKED,
        H.START_FAILED: P.NOT_LINKED,
        H.EXITED: P.NOT_LINKED,
        H.LOGGED_OUT: P.LOGGING_OUT,
        H.LOGOUT: P.LOGGING_OUT,
        H.REBOOT: P.NOT_LINKED,
        H.CLOSE: P.CLOSED,
    },
    P.PAIRED: {**LINKED, H.FAILED: P.CONNECTING, H.EXITED: P.CONNECTING},
    P.CONNECTING: {
        **LINKED,
        H.CHILD_STARTING: P.CONNECTING,
        H.DISCONNECTED: P.CONNECTING,
        H.START_FAILED: P.CONNECTING,
        H.FAILED: P.CONNECTING,
        H.EXITED: P.CONNECTING,
    },
    P.CONNECTED: {
        **LINKED,
        H.DISCONNECTED: P.CONNECTING,
        H.FAILED: P.CONNECTING,
        H.EXITED: P.CONNECTING,
    },
    P.BANNED: {**LINKED, H.START_FAILED: P.CONNECTING},
    P.REPLACED: {H.LOGOUT: P.LOGGING_OUT, H.REBOOT: P.CONNECTING, H.CLOSE: P.CLOSED},
    P.LOGGING_OUT: {H.WIPED: P.NOT_LINKED, H.WIPED_FOR_BAN: P.BANNED_LOGGED_OUT, H.CLOSE: P.CLOSED},
    P.BANNED_LOGGED_OUT: {H.LOGOUT: P.LOGGING_OUT, H.REBOOT: P.NOT_LINKED, H.CLOSE: P.CLOSED},
    P.CLOSED: {},
}

UNMOVED: dict[AccountPhase, set[Happening]] = {
    P.NOT_LINKED: set(),
    P.PAIRING: {H.DISCONNECTED, H.FAILED},
    P.PAIRED: {H.DISCONNECTED},
    P.CONNECTING: set(),
    P.CONNECTED: set(),
    P.BANNED: {H.CHILD_STARTING, H.DISCONNECTED, H.FAILED, H.EXITED},
    P.REPLACED: {H.DISCONNECTED, H.FAILED, H.EXITED},
    P.LOGGING_OUT: {H.LOGOUT, H.REBOOT},
    P.BANNED_LOGGED_OUT: set(),
    P.CLOSED: set(Happening),
}

STATES = {
    P.NOT_LINKED: InstanceState.NOT_AUTHORIZED,
    P.PAIRING: InstanceState.NOT_AUTHORIZED,
    P.PAIRED: InstanceState.STARTING,
    P.CONNECTING: InstanceState.STARTING,
    P.CONNECTED: InstanceState.AUTHORIZED,
    P.BANNED: InstanceState.BLOCKED,
    P.REPLACED: InstanceState.STARTING,
    P.LOGGING_OUT: None,
    P.BANNED_LOGGED_OUT: InstanceState.BLOCKED,
    P.CLOSED: None,
}

CELLS = list(itertools.product(AccountPhase, Happening))


@pytest.mark.parametrize(("phase", "happening"), CELLS, ids=[f"{p}-{h}" for p, h in CELLS])
def test_every_cell_of_the_table(phase: AccountPhase, happening: Happening) -> None:
    if happening in MOVES[phase]:
        assert next_phase(phase, happening) is MOVES[phase][happening]
    elif happening in UNMOVED[phase]:
        assert next_phase(phase, happening) is None
    else:
        with pytest.raises(IllegalMove, match=f"{phase} cannot take '{happening}'"):
            next_phase(phase, happening)


def test_the_table_is_the_one_written_here() -> None:
    assert lifecycle.TRANSITIONS == MOVES
    assert {phase: set(happenings) for phase, happenings in lifecycle.UNMOVED.items()} == UNMOVED
    for phase in AccountPhase:
        assert not set(MOVES[phase]) & UNMOVED[phase], f"{phase}: both moved and unmoved"


def test_the_illegal_moves_that_matter() -> None:
    refused = [
        (P.NOT_LINKED, H.CONNECTED),  # no child, nothing can connect
        (P.NOT_LINKED, H.CHILD_STARTING),  # no keys: no session child
        (P.PAIRING, H.BANNED),  # a pairing that is banned ends as a pairing failure
        (P.CONNECTED, H.PAIRING_REQUESTED),  # linked: logout first
        (P.CONNECTING, H.PAIRED),
        (P.REPLACED, H.CHILD_STARTING),  # replaced: nothing restarts it but a reboot
        (P.LOGGING_OUT, H.CONNECTED),
        (P.LOGGING_OUT, H.PAIRING_REQUESTED),  # the keys are still being wiped
        (P.BANNED_LOGGED_OUT, H.PAIRING_REQUESTED),  # blocked: reboot or logout first
        (P.NOT_LINKED, H.WIPED),
    ]
    for phase, happening in refused:
        with pytest.raises(IllegalMove):
            next_phase(phase, happening)


def test_every_phase_reports_a_green_state_or_keeps_the_last() -> None:
    assert lifecycle.INSTANCE_STATE == STATES


def test_what_the_phase_answers() -> None:
    linked = {P.PAIRED, P.CONNECTING, P.CONNECTED, P.BANNED, P.REPLACED}
    reconnects = {P.PAIRED, P.CONNECTING, P.CONNECTED, P.BANNED}
    for phase in AccountPhase:
        account = Lifecycle(P.NOT_LINKED, name="test")
        account.phase = phase
        assert account.linked is (phase in linked), phase
        assert account.reconnects is (phase in reconnects), phase
        assert account.pairing is (phase is P.PAIRING), phase
        assert account.closed is (phase is P.CLOSED), phase


def test_a_passing_phase_cannot_begin() -> None:
    for phase in (P.LOGGING_OUT, P.CLOSED):
        with pytest.raises(ValueError, match="cannot begin"):
            Lifecycle(phase, name="test")


def walk(account: Lifecycle, *steps: tuple[Happening, str | None]) -> list[tuple[str, str, str]]:
    seen = []
    for happening, reason in steps:
        account.on(happening, reason)
        seen.append((account.phase.value, account.state.value, account.reason))
    return seen


def test_pairing_to_connected_and_a_drop() -> None:
    account = Lifecycle(P.NOT_LINKED, name="test")
    assert (account.state, account.reason) == (InstanceState.NOT_AUTHORIZED, "")
    assert walk(
        account,
        (H.PAIRING_REQUESTED, None),
        (H.PAIRED, "linked; connecting"),
        (H.DISCONNECTED, "dropped"),  # whatsmeow's reconnect after pairing: no news
        (H.CONNECTED, ""),
        (H.DISCONNECTED, "dropped"),
        (H.EXITED, None),
        (H.CHILD_STARTING, None),
        (H.CONNECTED, ""),
    ) == [
        ("pairing", "notAuthorized", ""),
        ("paired", "starting", "linked; connecting"),
        ("paired", "starting", "linked; connecting"),
        ("connected", "authorized", ""),
        ("connecting", "starting", "dropped"),
        ("connecting", "starting", "dropped"),
        ("connecting", "starting", "dropped"),
        ("connected", "authorized", ""),
    ]


def test_logged_out_keeps_reporting_until_the_keys_are_gone() -> None:
    account = Lifecycle(P.CONNECTING, name="test")
    assert walk(
        account,
        (H.CONNECTED, ""),
        (H.LOGGED_OUT, None),
        (H.REBOOT, "rebooting"),  # already on its way out
        (H.WIPED_FOR_BAN, "logged out by WhatsApp (TEMP_BANNED)"),
        (H.PAIRING_REQUESTED, None),  # refused: blocked
        (H.REBOOT, ""),
        (H.PAIRING_REQUESTED, None),
    ) == [
        ("connected", "authorized", ""),
        ("logging_out", "authorized", ""),
        ("logging_out", "authorized", ""),
        ("banned_logged_out", "blocked", "logged out by WhatsApp (TEMP_BANNED)"),
        ("banned_logged_out", "blocked", "logged out by WhatsApp (TEMP_BANNED)"),
        ("not_linked", "notAuthorized", ""),
        ("pairing", "notAuthorized", ""),
    ]


def test_banned_stays_banned_while_its_child_comes_and_goes() -> None:
    account = Lifecycle(P.CONNECTED, name="test")
    assert walk(
        account,
        (H.BANNED, "temporarily banned by WhatsApp (SEND_TO_TOO_MANY_PEOPLE)"),
        (H.DISCONNECTED, "dropped"),
        (H.FAILED, "could not connect"),
        (H.EXITED, "exited (1)"),
        (H.CHILD_STARTING, None),
        (H.CONNECTED, ""),
    ) == [
        ("banned", "blocked", "temporarily banned by WhatsApp (SEND_TO_TOO_MANY_PEOPLE)"),
        ("banned", "blocked", "temporarily banned by WhatsApp (SEND_TO_TOO_MANY_PEOPLE)"),
        ("banned", "blocked", "temporarily banned by WhatsApp (SEND_TO_TOO_MANY_PEOPLE)"),
        ("banned", "blocked", "temporarily banned by WhatsApp (SEND_TO_TOO_MANY_PEOPLE)"),
        ("banned", "blocked", "temporarily banned by WhatsApp (SEND_TO_TOO_MANY_PEOPLE)"),
        ("connected", "authorized", ""),
    ]


def test_replaced_stops_until_a_reboot() -> None:
    account = Lifecycle(P.CONNECTED, name="test")
    assert walk(
        account,
        (H.REPLACED, "another client connected with this session"),
        (H.EXITED, None),
        (H.CHILD_STARTING, None),  # refused
        (H.REBOOT, "rebooting"),
    ) == [
        ("replaced", "starting", "another client connected with this session"),
        ("replaced", "starting", "another client connected with this session"),
        ("replaced", "starting", "another client connected with this session"),
        ("connecting", "starting", "rebooting"),
    ]
    assert account.reconnects


def test_a_refused_move_is_logged_and_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    account = Lifecycle(P.NOT_LINKED, name="instance 7")
    with caplog.at_level(logging.WARNING, logger="statusgate.engine.lifecycle"):
        assert account.on(H.CONNECTED, "") is False
    assert (account.phase, account.state, account.reason) == (P.NOT_LINKED, InstanceState.NOT_AUTHORIZED, "")
    assert "instance 7: ignored: an account that is not_linked cannot take 'connected'" in caplog.text


def test_an_unmoved_happening_is_quiet_and_keeps_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    account = Lifecycle(P.CONNECTING, name="test")
    account.on(H.BANNED, "banned until tomorrow")
    with caplog.at_level(logging.DEBUG, logger="statusgate.engine.lifecycle"):
        assert account.on(H.DISCONNECTED, "dropped") is False
    assert account.reason == "banned until tomorrow"
    assert caplog.records == []


def test_a_move_keeps_the_reason_unless_given_one() -> None:
    account = Lifecycle(P.NOT_LINKED, name="test")
    account.on(H.REBOOT, "something to say")
    assert account.on(H.PAIRING_REQUESTED) is True
    assert account.reason == "something to say"
    account.on(H.PAIRING_EXPIRED, "")
    assert account.reason == ""


def test_closed_is_final_and_reports_nothing_new() -> None:
    account = Lifecycle(P.CONNECTING, name="test")
    account.on(H.CONNECTED, "")
    assert account.on(H.CLOSE) is True
    for happening in Happening:
        assert account.on(happening, "late") is False
    assert (account.phase, account.state, account.reason) == (P.CLOSED, InstanceState.AUTHORIZED, "")
