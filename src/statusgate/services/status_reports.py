"""One outgoing status as the console shows it: what was asked, what the media pipeline made of it, who
got it and when they saw it, and its views over time.

The words and counts are the Green API's own (the state is getOutgoingStatuses' ``statusMessage``, the
viewers are getStatusStatistic's rows), so the console and a client of the API never disagree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection

from statusgate.domain.models import Instance, PreparedMedia
from statusgate.domain.states import ReceiptStatus, StatusState
from statusgate.services import journals
from statusgate.services.context import ServiceContext
from statusgate.store import outbox, recipients
from statusgate.store.outbox import StatusRow
from statusgate.store.recipients import Viewer

_RANK = {ReceiptStatus.SENT: 0, ReceiptStatus.DELIVERED: 1, ReceiptStatus.READ: 2}


@dataclass(frozen=True)
class ViewPoint:
    """After ``seconds`` since the status went out, how many recipients had it delivered and had read it
    (cumulative: a read status was delivered too)."""

    seconds: float
    delivered: int
    read: int


@dataclass(frozen=True)
class StatusReport:
    row: StatusRow
    #: Green's word for where it is: pending, sent, delivered, read or failed
    status_message: str
    media: PreparedMedia | None
    viewers: list[Viewer]
    #: one point per change of the counts, oldest first; empty before anyone received it
    views: list[ViewPoint]
    #: seconds since it was sent (since it was queued, while unsent)
    elapsed: float

    @property
    def recipients(self) -> int:
        return len(self.viewers)


def status_message(state: StatusState, viewers: list[Viewer]) -> str:
    """Green's word for the status, from its recipients' furthest receipt."""
    best = max((v.status for v in viewers), key=_RANK.__getitem__, default=None)
    return journals.status_message(state, None if best is None else best.value)


def views_over_time(viewers: list[Viewer], since: float) -> list[ViewPoint]:
    """The cumulative delivered and read counts at each moment one of them changed, as seconds after
    ``since`` (the status's send); a receipt stamped before it (clocks of other machines) counts at 0."""
    changes: list[tuple[float, int, int]] = []
    for viewer in viewers:
        if viewer.delivered_at is not None:
            changes.append((viewer.delivered_at, 1, 0))
        if viewer.read_at is not None:
            changes.append((viewer.read_at, 0, 1))
    changes.sort()
    points: list[ViewPoint] = []
    delivered = read = 0
    for at, add_delivered, add_read in changes:
        delivered += add_delivered
        read += add_read
        seconds = max(0.0, at - since)
        if points and points[-1].seconds == seconds:
            points[-1] = ViewPoint(seconds, delivered, read)
        else:
            points.append(ViewPoint(seconds, delivered, read))
    return points


async def report(ctx: ServiceContext, instance: Instance, id_message: str) -> StatusReport | None:
    """The status ``id_message`` of ``instance`` (None if it has none by that id, or it was deleted)."""

    def query(conn: Connection) -> tuple[StatusRow, list[Viewer]] | None:
        row = outbox.get_by_message_id(conn, instance.id_instance, id_message)
        if row is None or row.state is StatusState.DELETED:
            return None
        return row, recipients.viewers(conn, row.seq)

    found = await ctx.db.read(query)
    if found is None:
        return None
    row, viewers = found
    media = await ctx.prepared.load(row.media_id) if row.media_id else None
    since = row.sent_at if row.sent_at is not None else row.created_at
    return StatusReport(
        row=row,
        status_message=status_message(row.state, viewers),
        media=media,
        viewers=viewers,
        views=views_over_time(viewers, since),
        elapsed=max(0.0, time.time() - since),
    )
