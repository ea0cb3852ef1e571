"""``/health``: whether this process can reach its database, and whether a worker is alive."""

from __future__ import annotations

from typing import Any

from statusgate.services.context import ServiceContext
from statusgate.store import workers


async def report(ctx: ServiceContext) -> dict[str, Any]:
    """``status`` is ``ok`` while the database answers; ``worker`` says whether any worker heartbeated
    within the lease (an API node without one still takes statuses: they wait in the queue)."""
    database = await ctx.db.ping()
    worker = False
    if database:
        worker = await ctx.db.read(workers.alive, ctx.settings.lease_seconds) > 0
    return {"status": "ok" if database else "unavailable", "database": database, "worker": worker}
