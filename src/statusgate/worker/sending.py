"""Sending: one loop per instance takes the head of its queue out, in order, paced, exactly once.

Exactly once means the network receives a status once. The message id was fixed when the status was
queued; the audience is fixed (committed) before the engine is called. A status' first attempt sends. Every
later attempt — a ``sending`` head left by a dead worker, a retry after an error or a timeout — follows one
whose outcome may be unknown, so it first asks the engine (``Engine.delivered``): delivered, the status is
recorded as sent without being sent again; not delivered, it is sent; still under way, it waits (``ready``
with a retry time, an attempt counted); unknown, it fails as "may or may not have been published". A send
whose outcome is unknown is never repeated blindly.

Only the instance's owner sends (``worker.ownership``): each step starts with the lease the worker holds,
and every write of the step first checks, in its transaction, that the lease is still the worker's
(``store.ownership.holds``). A stale owner's claim is refused; its record of a send is refused too, leaving
the status ``sending`` for the new owner, which asks the engine rather than sending again.

Pacing is counted at the network: an instance's next send call starts no earlier than its delay after the
previous attempt ended — when the network took the status in, if the engine can tell (``SendOutcome.
received_at``, never later than the call's return), else when the send call returned, or when the engine's
answer settled it — and that clock is written in the same transaction as the attempt's result. What comes
before the call (reads, the claim) is done ``send_lead_seconds`` ahead, so the call starts on time.

How an attempt ends once the engine has answered (recorded, settled, retried, failed, revoked) is
``worker.send_outcomes``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from statusgate import metrics
from statusgate.domain.models import DeliveryState, EngineName, PreparedMedia
from statusgate.domain.ownership import Fence, Lease
from statusgate.domain.posts import OutgoingStatus
from statusgate.domain.states import InstanceState, StatusState
from statusgate.engines.base import Engine
from statusgate.errors import EngineError, EnginePermanentError, EngineTransientError
from statusgate.queue import audience, pacing
from statusgate.queue.crashpoints import CrashPoints
from statusgate.queue.retry import RetryPolicy
from statusgate.settings import Settings
from statusgate.store.batch import Batcher
from statusgate.store.db import Database
from statusgate.store.outbox import StatusRow
from statusgate.worker import send_records as records
from statusgate.worker.send_outcomes import SendOutcomes

log = logging.getLogger("statusgate.queue")

LoadMedia = Callable[[str], Awaitable[PreparedMedia | None]]


class Sender:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        engines: Mapping[EngineName, Engine],
        load_media: LoadMedia,
        *,
        owner: str,
        leases: Callable[[int], Lease | None],
        crash: CrashPoints,
        retry_policy: RetryPolicy,
    ) -> None:
        self.settings = settings
        self.db = db
        self.engines = engines
        self.load_media = load_media
        self.owner = owner
        self.leases = leases
        self.crash = crash
        self.retry_policy = retry_policy
        # many instances send at once: their claims and results share transactions
        self._claims: Batcher[records.Claim, bool] = Batcher(db, records.claim_many, "claims")
        self._outcomes = SendOutcomes(settings, db, retry_policy)
        self._wids: dict[int, str] = {}
        self._holding: set[int] = set()
        #: the fence of each instance's step in progress (one step per instance at a time)
        self._fences: dict[int, Fence] = {}

    @property
    def in_flight(self) -> list[int]:
        """The statuses this sender holds the lease of (claimed, result not yet recorded)."""
        return list(self._holding)

    def forget(self, instance_id: int) -> None:
        """The account's state changed: what we cached about it may be stale."""
        self._wids.pop(instance_id, None)

    async def step(self, instance_id: int, stopping: asyncio.Event) -> float | None:
        """Advance the head of one instance's queue; how long to wait, or None when the queue is empty or
        the instance is not (or no longer) this worker's."""
        if self.leases(instance_id) is None:
            return None
        now = time.time()
        found = await self.db.read(records.head_and_pacing, instance_id)
        if found is None:
            return None
        head, instance = found
        poll = self.settings.poll_interval_seconds
        if head.state in (StatusState.QUEUED, StatusState.PREPARING):
            return poll  # the head holds the line while it prepares
        if head.not_before is not None and head.not_before > now:
            return head.not_before - now
        engine = self.engines[instance.engine]
        if await engine.state(instance_id) is not InstanceState.AUTHORIZED:
            return poll
        delay_ms = instance.settings.delay(self.settings.delay_default_ms)
        start_at = pacing.next_send_at(instance.last_send_ended_at, delay_ms, now)
        # what comes before the send call (reads, the claim's commit) is done ahead of the moment it may
        # start, so that the call starts then rather than that much later
        if start_at - self.settings.send_lead_seconds > now:
            return start_at - self.settings.send_lead_seconds - now
        if stopping.is_set():
            return None
        ended = await self.send(engine, head, start_at)
        if ended is None:
            return poll
        # the next head cannot start before the delay (counted from this attempt's end) is over: no need to
        # look before then (less the lead), and looking then keeps the pace however long this attempt took
        return max(0.0, ended + delay_ms / 1000 - self.settings.send_lead_seconds - time.time())

    async def send(self, engine: Engine, head: StatusRow, start_at: float = 0.0) -> float | None:
        """One attempt at the head, its engine call made no earlier than ``start_at``: when it ended (the
        pacing clock written with its result; 0.0 when the status failed before any attempt, for want of an
        audience), or None if another worker holds it."""
        lease = self.leases(head.instance_id)
        if lease is None:
            return None
        self._fences[head.instance_id] = Fence(self.owner, lease)
        try:
            return await self._send(engine, head, start_at)
        finally:
            self._fences.pop(head.instance_id, None)

    def _fence(self, head: StatusRow) -> Fence:
        return self._fences[head.instance_id]

    async def _send(self, engine: Engine, head: StatusRow, start_at: float) -> float | None:
        now = time.time()
        recipients = head.recipients
        skipped = head.skipped_participants or []
        if recipients is None:
            try:
                resolved = await self._resolve_audience(engine, head)
            except EngineTransientError as exc:
                # not known yet (the account reconnects, its address book still syncs): the head waits
                log.info("the audience of %s is not known yet: %s", head.id_message, exc.message)
                return None
            except EnginePermanentError as exc:
                resolved = exc.message
            if isinstance(resolved, str):
                await self.db.write(
                    records.finish, head, StatusState.FAILED, now, resolved, None, self._fence(head)
                )
                return 0.0
            recipients, skipped = resolved.recipients, resolved.skipped
        if not await self._claims.submit(
            records.Claim(head, recipients, skipped, self._fence(head), now, self.settings.lease_seconds)
        ):
            return None
        self._holding.add(head.seq)
        try:
            return await self._send_claimed(engine, head, recipients, start_at)
        finally:
            self._holding.discard(head.seq)

    async def _send_claimed(
        self, engine: Engine, head: StatusRow, recipients: list[str], start_at: float
    ) -> float:
        """The claimed attempt; returns when it ended. Only a first attempt sends without asking."""
        instance_id = head.instance_id
        self.crash.reached("after_claim")
        attempts = head.attempts + 1
        if head.attempts > 0 and not self.settings.test_blind_resend:
            check = await self._outcomes.ask(engine, head, attempts)
            if check.state is not DeliveryState.NOT_DELIVERED:
                return await self._outcomes.settle(
                    engine, head, recipients, check, attempts, self._fence(head)
                )
        media = await self.load_media(head.media_id) if head.media_id else None
        early = start_at - time.time()
        if early > 0:
            await asyncio.sleep(early)
        if self.leases(instance_id) != self._fence(head).lease:
            # the lease ran out (or changed hands) since the claim: whoever holds it now finds the status
            # `sending` and asks the engine, which says it was not delivered
            log.warning(
                "instance %s was lost before %s went out: not sent here", instance_id, head.id_message
            )
            return time.time()
        # the fence goes along: a network that can (the sandbox) refuses a stale owner's post
        status = OutgoingStatus(head.id_message, head.post, media, fence=self._fence(head))
        called = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.engine_timeout_seconds):
                outcome = await engine.send_status(instance_id, status, recipients)
        except EngineError as exc:
            return await self._outcomes.failed(head, exc, attempts, self._fence(head))
        except TimeoutError:
            error = EngineTransientError("the engine did not answer in time")
            return await self._outcomes.failed(head, error, attempts, self._fence(head), uncertain=True)
        except Exception:
            # a bug in an engine, not an answer: the status may be out, so the next attempt asks
            log.exception("send of %s raised; its outcome is unknown", head.id_message)
            error = EngineTransientError("the engine failed while sending")
            return await self._outcomes.failed(head, error, attempts, self._fence(head), uncertain=True)
        self.crash.reached("after_engine_send")
        # the pacing clock: when the network took the status in, if the engine can tell (never later than
        # now), else now, as the call returned; either way no earlier than the network had it, so the next
        # status reaches the network at least the delay after this one
        ended = time.time()
        if outcome.received_at is not None:
            ended = min(ended, outcome.received_at)
        revoke = await self._outcomes.record_sent(
            records.Sent(head, list(outcome.recipients), ended, self._fence(head), outcome.note)
        )
        self.crash.reached("after_sent_commit")
        if revoke:
            await self._outcomes.revoke_after_send(engine, head, list(outcome.recipients), self._fence(head))
        call_ms = (time.monotonic() - called) * 1000
        metrics.SEND_SECONDS.observe(call_ms / 1000)
        metrics.SENDS.labels("sent").inc()
        log.info(
            "status %s of instance %s sent to %d recipients in %.0f ms",
            head.id_message,
            instance_id,
            len(outcome.recipients),
            call_ms,
            extra={
                "idMessage": head.id_message,
                "instance": instance_id,
                "recipients": len(outcome.recipients),
                "sendMs": round(call_ms, 1),
                "attempt": attempts,
            },
        )
        return ended

    async def _resolve_audience(self, engine: Engine, head: StatusRow) -> audience.Audience | str:
        """The recipients, or the reason there are none."""
        own = self._wids.get(head.instance_id)
        if own is None:
            own = self._wids[head.instance_id] = await engine.wid(head.instance_id)
        participants = list(head.post.participants or [])
        if not engine.capabilities.explicit_audience:
            if participants:
                return "this engine cannot restrict a status to a list of participants"
            # the network sends to the phone's own status audience (no list, no cap); receipts name it
            return audience.Audience([], [])
        if participants:
            existing = await engine.existing(head.instance_id, participants)
            result = audience.from_participants(participants, existing, own)
            if not result.recipients:
                return "none of the participants is on WhatsApp"
            return result
        contacts = await engine.contacts(head.instance_id)
        result = audience.from_contacts(contacts, own, self.settings.audience_limit)
        if not result.recipients:
            return "no contact with a contactName to send the status to"
        return result
