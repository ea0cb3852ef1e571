"""The sender's transactions: a head claimed, a send recorded, an attempt's end — each checked against the
instance's lease first (``store.ownership.holds``), so a stale owner writes nothing.

``worker.sending`` decides what to do; these write it, in the transaction given.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from statusgate.domain.models import Instance
from statusgate.domain.ownership import Fence
from statusgate.domain.states import StatusState
from statusgate.store import instances as instance_store
from statusgate.store import outbox, ownership
from statusgate.store import recipients as recipient_store
from statusgate.store.outbox import StatusRow
from statusgate.store.schema import statuses


def head_and_instance(conn: sa.Connection, instance_id: int) -> tuple[StatusRow | None, Instance | None]:
    return outbox.head(conn, instance_id), instance_store.get(conn, instance_id)


def _claim(
    conn: sa.Connection,
    head: StatusRow,
    recipients: list[str],
    skipped: list[str],
    fence: Fence,
    now: float,
    until: float,
) -> bool:
    """Fix the audience and take the head; ``attempts`` counts this attempt."""
    if not ownership.holds(conn, fence):
        return False
    owner = fence.owner
    if head.state is StatusState.READY:
        claimed = outbox.transition(
            conn,
            head.seq,
            StatusState.READY,
            StatusState.SENDING,
            now,
            recipients=recipients,
            skipped_participants=skipped,
            attempts=head.attempts + 1,
            not_before=None,
            lease_owner=owner,
            lease_expires_at=until,
        )
    else:  # SENDING, left behind by a dead worker: same id, same recipients
        claimed = outbox.take_lease(conn, head.seq, StatusState.SENDING, owner, now, until)
        if claimed:
            outbox.update_fields(conn, head.seq, attempts=head.attempts + 1)
    return claimed


def _delete_requested(conn: sa.Connection, seq: int) -> bool:
    return bool(conn.scalar(sa.select(statuses.c.delete_requested).where(statuses.c.seq == seq)))


def _sent(
    conn: sa.Connection, head: StatusRow, recipients: list[str], at: float, fence: Fence
) -> bool | None:
    """Record the send, and the attempt's end as the pacing clock; True if deleteStatus asked meanwhile for
    it to be revoked, None if the lease is no longer ours (nothing recorded: the next owner asks the
    engine)."""
    if not ownership.holds(conn, fence):
        return None
    instance_store.set_last_send_ended(conn, head.instance_id, at)
    moved = outbox.transition_row(
        conn,
        head.seq,
        StatusState.SENDING,
        StatusState.SENT,
        at,
        sent_at=at,
        lease_owner=None,
        lease_expires_at=None,
    )
    if moved is None:
        return _delete_requested(conn, head.seq)
    recipient_store.record_sent(conn, head.seq, recipients, at)
    return moved.delete_requested


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
    head: StatusRow
    recipients: list[str]
    skipped: list[str]
    fence: Fence
    now: float
    until: float


def claim_one(conn: sa.Connection, claim: Claim) -> bool:
    return _claim(conn, claim.head, claim.recipients, claim.skipped, claim.fence, claim.now, claim.until)


@dataclass(frozen=True)
class Sent:
    head: StatusRow
    recipients: list[str]
    at: float
    fence: Fence


def sent_one(conn: sa.Connection, sent: Sent) -> bool | None:
    return _sent(conn, sent.head, sent.recipients, sent.at, sent.fence)
