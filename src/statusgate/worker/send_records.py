"""The sender's transactions: a head claimed, a send recorded, an attempt's end — each checked against the
instance's lease first (``store.ownership.holds``), so a stale owner writes nothing.

``worker.sending`` and ``worker.send_outcomes`` decide what to do; these write it, in the transaction given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from statusgate.domain.instance_settings import InstanceSettings
from statusgate.domain.models import EngineName
from statusgate.domain.ownership import Fence
from statusgate.domain.states import StatusState
from statusgate.store import clock, outbox, ownership, status_leases
from statusgate.store import instances as instance_store
from statusgate.store import recipients as recipient_store
from statusgate.store.outbox import StatusRow
from statusgate.store.schema.instances import instances
from statusgate.store.schema.statuses import PENDING_SQL, statuses


@dataclass(frozen=True)
class Pacing:
    """What the sender needs of an instance to pace its head."""

    engine: EngineName
    settings: InstanceSettings
    #: when the instance's previous send ended (the pacing clock); None before its first
    last_send_ended_at: float | None


def head_and_pacing(conn: sa.Connection, instance_id: int) -> tuple[StatusRow, Pacing] | None:
    """The head (``outbox.head``) and its instance's pacing, or None when the queue is empty. One statement:
    the sender reads them before every send, and a second one cost ~5 % of a send."""
    row = conn.execute(_HEAD_AND_PACING, {"instance_id": instance_id}).first()
    if row is None:
        return None
    pacing = Pacing(
        EngineName(row.p_engine),
        instance_store.settings_from_text(row.p_settings),
        row.p_last_send_ended_at,
    )
    return outbox.row_from_db(row), pacing


_HEAD_AND_PACING = (
    sa.select(
        statuses,
        instances.c.engine.label("p_engine"),
        instance_store.SETTINGS_TEXT.label("p_settings"),
        instances.c.last_send_ended_at.label("p_last_send_ended_at"),
    )
    .join(instances, instances.c.id_instance == statuses.c.instance_id)
    .where(statuses.c.instance_id == sa.bindparam("instance_id"), sa.text(PENDING_SQL))
    .order_by(statuses.c.seq)
    .limit(1)
)


def _delete_requested(conn: sa.Connection, seq: int) -> bool:
    return bool(conn.scalar(sa.select(statuses.c.delete_requested).where(statuses.c.seq == seq)))


def finish(
    conn: sa.Connection,
    head: StatusRow,
    new: StatusState,
    at: float,
    reason: str,
    retry_at: float | None,
    fence: Fence,
    ends_attempt: bool = False,
) -> bool:
    """Move the head on; ``ends_attempt``: this is an attempt's result, so the pacing clock is ``at``.
    False, writing nothing, if the lease is no longer ours."""
    if not ownership.holds(conn, fence):
        return False
    if ends_attempt:
        instance_store.set_last_send_ended(conn, head.instance_id, at)
    if head.state is StatusState.SENDING and _delete_requested(conn, head.seq):
        new, reason, retry_at = StatusState.DELETED, "deleted by deleteStatus before it went out", None
    outbox.transition(
        conn,
        head.seq,
        head.state,
        new,
        at,
        description=reason,
        not_before=retry_at,
        lease_owner=None,
        lease_expires_at=None,
    )
    return True


@dataclass(frozen=True)
class Claim:
    """Fix the audience and take the head; ``attempts`` counts this attempt."""

    head: StatusRow
    recipients: list[str]
    skipped: list[str]
    fence: Fence
    #: stamps the move (the journal's clock)
    now: float
    #: how long the lease runs, by the database's clock
    lease_seconds: float


def claim_many(conn: sa.Connection, claims: Sequence[Claim]) -> list[bool]:
    """Each claim's head taken, or not (its lease is no longer ours, or the status moved meanwhile): many
    instances' claims in a few statements, whatever their number."""
    held = ownership.holding(conn, [claim.fence for claim in claims])
    db_now = clock.now(conn)
    taken: dict[int, bool] = {}
    moves: list[tuple[int, outbox.Move]] = []
    for index, claim in enumerate(claims):
        head = claim.head
        if claim.fence not in held:
            taken[index] = False
        elif head.state is StatusState.READY:
            values = (
                ("recipients", claim.recipients),
                ("skipped_participants", claim.skipped),
                ("attempts", head.attempts + 1),
                ("not_before", None),
                ("lease_owner", claim.fence.owner),
                ("lease_expires_at", db_now + claim.lease_seconds),
            )
            moves.append(
                (
                    index,
                    outbox.Move(head.seq, StatusState.READY, StatusState.SENDING, claim.now, None, values),
                )
            )
        else:  # SENDING, left behind by a dead worker: same id, same recipients
            owner = claim.fence.owner
            taken[index] = status_leases.take_lease(
                conn, head.seq, StatusState.SENDING, owner, claim.lease_seconds
            )
            if taken[index]:
                outbox.update_fields(conn, head.seq, attempts=head.attempts + 1)
    moved = outbox.transition_many(conn, [move for _, move in moves])
    for (index, _), result in zip(moves, moved, strict=True):
        taken[index] = result is not None
    return [taken[index] for index in range(len(claims))]


@dataclass(frozen=True)
class Sent:
    """A send the engine accepted: to whom, when its call returned (the pacing clock)."""

    head: StatusRow
    recipients: list[str]
    at: float
    fence: Fence
    #: the status' description (a send that reached part of its audience), empty: none
    note: str = ""


def sent_many(conn: sa.Connection, sents: Sequence[Sent]) -> list[bool | None]:
    """Record each send and its attempt's end: True if deleteStatus asked meanwhile for it to be revoked,
    None if the lease is no longer ours (nothing recorded: the next owner asks the engine)."""
    held = ownership.holding(conn, [sent.fence for sent in sents])
    answers: list[bool | None] = [None] * len(sents)
    live = [(index, sent) for index, sent in enumerate(sents) if sent.fence in held]
    if not live:
        return answers
    instance_store.set_last_sends_ended(conn, [(sent.head.instance_id, sent.at) for _, sent in live])
    cleared = (("lease_owner", None), ("lease_expires_at", None))
    moves = [
        outbox.Move(
            sent.head.seq,
            StatusState.SENDING,
            StatusState.SENT,
            sent.at,
            sent.note or None,
            (("sent_at", sent.at), *cleared),
        )
        for _, sent in live
    ]
    recorded: list[Sent] = []
    for (index, sent), moved in zip(live, outbox.transition_many(conn, moves), strict=True):
        if moved is None:
            answers[index] = _delete_requested(conn, sent.head.seq)
        else:
            recorded.append(sent)
            answers[index] = moved.delete_requested
    recipient_store.record_sent_many(conn, [(sent.head.seq, sent.recipients, sent.at) for sent in recorded])
    return answers
