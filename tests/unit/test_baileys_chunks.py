"""How the baileys engine splits an audience into chunks and reads what reached WhatsApp from their records."""

from __future__ import annotations

from statusgate.engines.baileys.sends import chunked, outcome_of
from statusgate.store.status_chunks import Chunk, ChunkState


def _chunk(
    index: int, recipients: list[str], state: ChunkState, error: str = "", dropped: tuple[str, ...] = ()
) -> Chunk:
    return Chunk(index, tuple(recipients), state, error, dropped, 100.0 + index)


def test_chunks_keep_the_order_and_the_last_is_short() -> None:
    audience = [f"{n}@c.us" for n in range(7)]
    assert chunked(audience, 3) == [audience[0:3], audience[3:6], audience[6:7]]
    assert chunked(audience, 7) == [audience]
    # only our own devices get a status with nobody else in it
    assert chunked([], 3) == [[]]


def test_every_chunk_acked_is_a_plain_send_paced_from_the_first() -> None:
    outcome = outcome_of([_chunk(0, ["1@c.us"], ChunkState.ACKED), _chunk(1, ["2@c.us"], ChunkState.ACKED)])
    assert outcome is not None
    assert (outcome.recipients, outcome.received_at, outcome.note) == (("1@c.us", "2@c.us"), 100.0, "")


def test_no_acked_chunk_means_nothing_is_known_to_have_arrived() -> None:
    assert outcome_of([]) is None
    assert outcome_of([_chunk(0, ["1@c.us"], ChunkState.REJECTED, "479")]) is None
    assert outcome_of([_chunk(0, ["1@c.us"], ChunkState.SENDING)]) is None


def test_a_partial_send_names_who_was_rejected_unconfirmed_dropped_or_never_sent_to() -> None:
    chunks = [
        _chunk(0, ["1@c.us", "2@c.us"], ChunkState.ACKED, dropped=("2@c.us",)),
        _chunk(1, ["3@c.us"], ChunkState.REJECTED, "479"),
    ]
    outcome = outcome_of(chunks, total=5)
    assert outcome is not None
    # a recipient none of whose devices could be encrypted for never got it: no statistics row
    assert outcome.recipients == ("1@c.us",)
    assert outcome.note == (
        "sent to 1 of 5 recipients; 1 rejected by WhatsApp (error 479); "
        "1 left out, encrypting for them failed: 2@c.us; 2 not sent to"
    )
    unconfirmed = outcome_of(
        [_chunk(0, ["1@c.us"], ChunkState.ACKED), _chunk(1, ["2@c.us"], ChunkState.SENDING)]
    )
    assert unconfirmed is not None
    assert unconfirmed.note == "sent to 1 of 2 recipients; 1 unconfirmed (no ack)"
