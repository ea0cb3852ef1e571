from __future__ import annotations

import pytest

from statusgate.domain.models import Contact
from statusgate.domain.states import (
    FINAL_STATES,
    STATUS_TRANSITIONS,
    InvalidTransition,
    ReceiptStatus,
    StatusState,
    check_transition,
)
from statusgate.errors import EnginePermanentError, EngineTransientError
from statusgate.ids import hash_token, new_api_token, new_instance_id, new_message_id, token_matches
from statusgate.queue import audience
from statusgate.queue.pacing import next_send_at
from statusgate.queue.retry import RetryPolicy


def test_every_state_has_a_row_and_final_states_are_final() -> None:
    assert set(STATUS_TRANSITIONS) == set(StatusState)
    assert {
        StatusState.SENT,
        StatusState.FAILED,
        StatusState.EXPIRED,
        StatusState.CLEARED,
        StatusState.DELETED,
    } == FINAL_STATES
    assert STATUS_TRANSITIONS[StatusState.DELETED] == frozenset()
    with pytest.raises(InvalidTransition):
        check_transition(StatusState.SENT, StatusState.SENDING)
    with pytest.raises(InvalidTransition):
        check_transition(StatusState.SENDING, StatusState.CLEARED)  # a send in flight cannot be cleared
    check_transition(StatusState.SENDING, StatusState.READY)  # a retryable fault puts it back


def test_receipts_only_rank_forward() -> None:
    assert ReceiptStatus.SENT.rank < ReceiptStatus.DELIVERED.rank < ReceiptStatus.READ.rank


def test_ids_have_greens_shapes() -> None:
    for _ in range(100):
        assert 1_000_000_000 <= new_instance_id() <= 9_999_999_999
        token = new_api_token()
        assert len(token) == 50 and token == token.lower() and int(token, 16) >= 0
        message = new_message_id()
        assert len(message) == 20 and message.startswith("3EB0") and message == message.upper()
    token = new_api_token()
    assert token_matches(token, hash_token(token))
    assert not token_matches(token[:-1] + ("0" if token[-1] != "0" else "1"), hash_token(token))


def test_pacing() -> None:
    assert next_send_at(None, 3000, 100.0) == 100.0
    assert next_send_at(100.0, 3000, 101.0) == 103.0
    assert next_send_at(100.0, 3000, 110.0) == 110.0  # already passed: at once


def test_retry_policy_is_pure_and_bounded() -> None:
    policy = RetryPolicy(max_attempts=3, base_seconds=1, cap_seconds=1.5)
    transient = EngineTransientError("blip")
    assert policy.decide(transient, 1).retry_in_seconds == 1
    assert policy.decide(transient, 2).retry_in_seconds == 1.5
    final = policy.decide(transient, 3)
    assert final.retry_in_seconds is None and "3 attempts" in final.reason
    permanent = policy.decide(EnginePermanentError("rejected"), 1)
    assert permanent.retry_in_seconds is None and permanent.reason == "rejected"


def test_audience_from_contacts_takes_first_named_up_to_limit() -> None:
    own = "79990000000@c.us"
    contacts = [
        Contact(own, "me", "Me"),
        Contact("1@c.us", "a", "A"),
        Contact("2@c.us", "b", ""),
        Contact("3@c.us", "c", "  "),
        Contact("4@g.us", "group", "G", type="group"),
        Contact("5@c.us", "e", "E"),
        Contact("6@c.us", "f", "F"),
    ]
    assert audience.from_contacts(contacts, own, 2).recipients == ["1@c.us", "5@c.us"]
    assert audience.from_contacts(contacts, own, 10).recipients == ["1@c.us", "5@c.us", "6@c.us"]


def test_audience_from_participants_skips_missing_and_self() -> None:
    own = "79990000000@c.us"
    result = audience.from_participants(["1@c.us", own, "2@c.us", "1@c.us"], {"1@c.us", own}, own)
    assert result.recipients == ["1@c.us"]
    assert result.skipped == ["2@c.us"]


def test_pending_sql_names_exactly_the_pending_states() -> None:
    import re

    from statusgate.domain.states import PENDING_STATES
    from statusgate.store.schema.statuses import PENDING_SQL

    assert set(re.findall(r"'(\w+)'", PENDING_SQL)) == {s.value for s in PENDING_STATES}
