"""The periodic sweep: journals older than their retention, expired uploads, media nobody needs, ended
console sessions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from statusgate.services import console_sessions
from statusgate.services.context import ServiceContext
from statusgate.store import commands, sweep

log = logging.getLogger("statusgate.sweeper")


async def sweep_once(ctx: ServiceContext, now: float | None = None) -> dict[str, int]:
    now = time.time() if now is None else now
    settings = ctx.settings
    # a file this young may belong to a preparation that has not recorded it yet
    young = now - settings.media_sweep_grace_seconds
    counts = {
        "journal_rows": await ctx.db.write(sweep.old_journals, now - settings.journal_retention_seconds),
        "uploads": await ctx.db.write(sweep.expired_uploads, now),
        "media_rows": await ctx.db.write(sweep.unused_media, young),
        "sandbox_events": await ctx.sandbox.prune(now - settings.notification_retention_seconds),
        "commands": await ctx.db.write(commands.forget_finished, now - settings.command_retention_seconds),
        "console_sessions": await console_sessions.prune(ctx, now),
    }
    needed = await ctx.db.read(sweep.referenced_blobs)
    counts["files"] = await asyncio.to_thread(ctx.media.remove_unreferenced, needed, young)
    if any(counts.values()):
        log.info("sweep removed %s", ", ".join(f"{n} {what}" for what, n in counts.items() if n))
    return counts


async def run_forever(ctx: ServiceContext, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            await sweep_once(ctx)
        except Exception:
            log.exception("sweep failed; trying again at the next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), ctx.settings.sweep_interval_seconds)
