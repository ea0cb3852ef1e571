"""Webhook delivery: per instance with a webhookUrl, its notifications are POSTed in order.

Success is a 2xx within ``webhook_timeout_seconds``. Otherwise the same notification is tried again after
``webhook_retry_seconds`` (±20 % jitter, so many instances pointed at one receiver don't retry in step),
holding back the later ones, until it is older than ``notification_retention_seconds``. The next attempt's
time is stored with the notification, so a restart loses nothing and does not hammer a receiver that was
down.

Only the instance's owner (``worker.ownership``) delivers its webhooks, so that they stay in order however
many workers run; a loop stops when its instance is lost or handed back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

import httpx

from statusgate import metrics
from statusgate.domain.models import Instance
from statusgate.notify.client import WebhookResult, post_webhook
from statusgate.services import notifications as notification_service
from statusgate.services.context import ServiceContext
from statusgate.store import instances as instance_store
from statusgate.store import notifications
from statusgate.store.notifications import NotificationRow

log = logging.getLogger("statusgate.webhooks")

#: notifications read (and removed once delivered) per round trip to the database
DELIVERY_BATCH = 100
#: delivered notifications are removed in groups of this size (a crash re-sends at most this many)
REMOVE_EVERY = 20
#: how long "this instance has a webhookUrl" is believed without looking again
WEBHOOK_CACHE_SECONDS = 30.0


class WebhookSender:
    def __init__(self, ctx: ServiceContext, held: Callable[[], set[int]]) -> None:
        self.ctx = ctx
        #: the instances this worker owns: only their webhooks are its to deliver
        self.held = held
        self.settings = ctx.settings
        self._loops: dict[int, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._client = httpx.AsyncClient(
            follow_redirects=False, trust_env=False, transport=httpx.AsyncHTTPTransport(retries=0)
        )
        self._last_sweep = 0.0
        self._last_scan = 0.0
        self._webhook_cache: dict[int, tuple[float, bool]] = {}

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name="statusgate.webhooks")

    async def stop(self) -> None:
        self._stopping.set()
        tasks = [t for t in [self._supervisor, *self._loops.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._client.aclose()

    async def _supervise(self) -> None:
        while not self._stopping.is_set():
            self.ctx.hub.anything.clear()
            try:
                now = time.time()
                if now - self._last_scan >= self.settings.poll_interval_seconds:
                    self._last_scan = now
                    await self._sweep()
                    candidates = set(await self.ctx.db.read(notifications.webhook_instances_with_pending))
                    self.ctx.hub.take_woken()
                else:
                    candidates = {i for i in self.ctx.hub.take_woken() if await self._has_webhook(i)}
                for instance_id in candidates & self.held():
                    task = self._loops.get(instance_id)
                    if task is None or task.done():
                        self._loops[instance_id] = asyncio.create_task(
                            self._deliver_loop(instance_id), name=f"statusgate.webhooks[{instance_id}]"
                        )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook supervisor pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ctx.hub.anything.wait(), self.settings.poll_interval_seconds)
            # many notifications journaled together: one pass for all of them
            await asyncio.sleep(self.settings.queue_batch_window_seconds)

    # --- OwnershipListener ----------------------------------------------------------------------------

    async def gained(self, instance_ids: list[int]) -> None:
        self._last_scan = 0.0  # look at their journals at the next pass
        self.ctx.hub.anything.set()

    async def lost(self, instance_ids: list[int]) -> None:
        """Stop their deliveries now: a POST under way may still land, and the next owner sends it again
        (webhooks are at least once; removed only after their 2xx)."""
        tasks = [self._loops.pop(i) for i in instance_ids if i in self._loops]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _has_webhook(self, instance_id: int) -> bool:
        """Whether the instance delivers by webhook (believed WEBHOOK_CACHE_SECONDS: settings rarely change)."""
        now = time.monotonic()
        cached = self._webhook_cache.get(instance_id)
        # a stale answer is harmless: a loop started for nothing reads the instance afresh and ends, and an
        # instance that just got a webhookUrl is found by the next full scan (every poll interval)
        if cached is None or now - cached[0] > WEBHOOK_CACHE_SECONDS:
            instance = await self.ctx.db.read(instance_store.get, instance_id)
            cached = (now, bool(instance is not None and instance.settings.webhook_url))
            self._webhook_cache[instance_id] = cached
        return cached[1]

    async def _sweep(self) -> None:
        now = time.time()
        if now - self._last_sweep < 60:
            return
        self._last_sweep = now
        dropped = await self.ctx.db.write(
            notifications.expire, now - self.settings.notification_retention_seconds
        )
        if dropped:
            log.warning(
                "dropped %d notifications older than %g s",
                dropped,
                self.settings.notification_retention_seconds,
            )

    async def _deliver_loop(self, instance_id: int) -> None:
        """Deliver this instance's notifications in order; ends when there is nothing (or no webhookUrl).

        A fault no delivery outcome covers is logged and waited out (a retry interval) before the loop
        ends, so the supervisor's restart of it cannot turn one bad notification into a busy loop."""
        try:
            await self._deliver_until_done(instance_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            retry = self.settings.webhook_retry_seconds
            log.exception("webhook delivery of instance %s failed; trying again in %g s", instance_id, retry)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), retry)

    async def _deliver_until_done(self, instance_id: int) -> None:
        while not self._stopping.is_set() and instance_id in self.held():
            seen = self.ctx.hub.version(instance_id)
            instance = await self.ctx.db.read(instance_store.get, instance_id)
            if instance is None or not instance.settings.webhook_url:
                return  # polling instance: receiveNotification hands its notifications out
            rows = await self.ctx.db.read(notifications.oldest_n, instance_id, DELIVERY_BATCH)
            if not rows:
                return
            wait = await self._deliver_in_order(instance, rows)
            if wait is not None:
                await self.ctx.hub.wait(instance_id, seen, wait)

    async def _deliver_in_order(self, instance: Instance, rows: list[NotificationRow]) -> float | None:
        """POST ``rows`` one after the other; stop at the first that must wait. Delivered rows are removed
        in groups of REMOVE_EVERY: a crash in between re-sends at most that many (at least once, never lost)."""
        wid = await self.ctx.engine(instance.engine).wid(instance.id_instance)
        url = instance.settings.webhook_url
        token = instance.settings.webhook_url_token
        timeout = self.settings.webhook_timeout_seconds
        delivered: list[int] = []
        try:
            for row in rows:
                now = time.time()
                if row.created_at < now - self.settings.notification_retention_seconds:
                    delivered.append(row.receipt_id)
                    log.warning(
                        "webhook of instance %s: notification %s expired undelivered",
                        instance.id_instance,
                        row.receipt_id,
                    )
                    continue
                if row.next_attempt_at > now:
                    return min(row.next_attempt_at - now, self.settings.poll_interval_seconds * 20)
                body = await notification_service.render(self.ctx, instance, row, wid=wid)
                try:
                    async with asyncio.timeout(timeout):
                        result = await post_webhook(self._client, url, body, token, self.ctx.guard, timeout)
                except TimeoutError:
                    result = WebhookResult(False, f"no answer within {timeout:g} s")
                if result.ok:
                    delivered.append(row.receipt_id)
                    if len(delivered) >= REMOVE_EVERY:
                        await self.ctx.db.write(notifications.remove_many, instance.id_instance, delivered)
                        delivered = []
                    continue
                metrics.WEBHOOK_FAILURES.inc()
                retry = self.settings.webhook_retry_seconds * random.uniform(0.8, 1.2)
                await self.ctx.db.write(
                    notifications.postpone,
                    instance.id_instance,
                    row.receipt_id,
                    time.time() + retry,
                    result.error,
                )
                log.warning(
                    "webhook of instance %s failed (%s); notification %s retried in %.1f s",
                    instance.id_instance,
                    result.error,
                    row.receipt_id,
                    retry,
                )
                return retry
            return None
        finally:
            if delivered:
                await self.ctx.db.write(notifications.remove_many, instance.id_instance, delivered)
