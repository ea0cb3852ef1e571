"""What ``/metrics`` reads from the database at each scrape: the queue's depth and the webhook backlog."""

from __future__ import annotations

from statusgate import metrics
from statusgate.domain.states import PENDING_STATES
from statusgate.services.context import ServiceContext
from statusgate.store import notifications, outbox


async def scrape(ctx: ServiceContext) -> bytes:
    """The series, the database-read gauges set first."""
    by_state = await ctx.db.read(outbox.count_by_state, PENDING_STATES)
    for state in PENDING_STATES:
        metrics.QUEUE.labels(state.value).set(by_state.get(state, 0))
    metrics.WEBHOOKS_WAITING.set(await ctx.db.read(notifications.webhook_backlog))
    return metrics.exposition()
