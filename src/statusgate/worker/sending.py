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

A send the engine accepted is recorded whatever the disk says: while it is full the record is tried again
(the lease renewed meanwhile) rather than the status sent again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from statusgate import metrics
from statusgate.domain.models import DeliveryCheck, DeliveryState, EngineName, PreparedMedia
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
from statusgate.worker.room import write_when_room

log = logging.getLogger("statusgate.queue")

LoadMedia = Callable[[str], Awaitable[PreparedMedia | None]]

STILL_UNDER_WAY = "an earlier attempt is still under way (the engine has not settled it yet)"
NOT_RESENT = "the status may or may not have been published — not resent to avoid a duplicate"
UNKNOWN_OUTCOME = f"the engine cannot tell whether an earlier attempt reached the network; {NOT_RESENT}"


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
        # results are committed on the event loop when the write lock is free: queued behind the writer
        # thread (a group of claims, the events drain), they held up the posts that came after them
        self._results: Batcher[records.Sent, bool | None] = Batcher(
            db, records.sent_many, "sent", inline=True
        )
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
            check = await self._ask(engine, head, attempts)
            if check.state is not DeliveryState.NOT_DELIVERED:
                return await self._settle(engine, head, recipients, check, attempts)
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
            return await self._failed(head, exc, attempts)
        except TimeoutError:
            error = EngineTransientError("the engine did not answer in time")
            return await self._failed(head, error, attempts, uncertain=True)
        except Exception:
            # a bug in an engine, not an answer: the status may be out, so the next attempt asks
            log.exception("send of %s raised; its outcome is unknown", head.id_message)
            error = EngineTransientError("the engine failed while sending")
            return await self._failed(head, error, attempts, uncertain=True)
        self.crash.reached("after_engine_send")
        # the pacing clock: when the network took the status in, if the engine can tell (never later than
        # now), else now, as the call returned; either way no earlier than the network had it, so the next
        # status reaches the network at least the delay after this one
        ended = time.time()
        if outcome.received_at is not None:
            ended = min(ended, outcome.received_at)
        revoke = await self._record_sent(
            records.Sent(head, list(outcome.recipients), ended, self._fence(head), outcome.note)
        )
        self.crash.reached("after_sent_commit")
        if revoke:
            await self._revoke_after_send(engine, head, list(outcome.recipients))
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

    async def _ask(self, engine: Engine, head: StatusRow, attempts: int) -> DeliveryCheck:
        """Did an earlier attempt reach the network? No answer in time, or an error, counts as pending."""
        try:
            async with asyncio.timeout(self.settings.engine_timeout_seconds):
                return await engine.delivered(head.instance_id, head.id_message)
        except EngineError as exc:
            reason = exc.message
        except TimeoutError:
            reason = "the engine did not answer in time"
        except Exception:
            log.exception("asking whether %s was delivered raised", head.id_message)
            reason = "the engine failed to answer"
        log.warning(
            "attempt %d at %s: whether an earlier attempt was delivered is not known yet: %s",
            attempts,
            head.id_message,
            reason,
        )
        return DeliveryCheck(DeliveryState.PENDING)

    async def _settle(
        self, engine: Engine, head: StatusRow, recipients: list[str], check: DeliveryCheck, attempts: int
    ) -> float:
        """A later attempt that the engine's answer settles without sending; returns when it ended."""
        now = time.time()
        if check.state is DeliveryState.DELIVERED:
            metrics.SENDS.labels("already_delivered").inc()
            sent_to = list(check.recipients) or recipients
            revoke = await self._record_sent(records.Sent(head, sent_to, now, self._fence(head)))
            if revoke:
                await self._revoke_after_send(engine, head, sent_to)
            log.info(
                "status %s of instance %s was already delivered (the engine says so, asked at attempt %d): "
                "recorded as sent to %d recipients without sending it again",
                head.id_message,
                head.instance_id,
                attempts,
                len(sent_to),
            )
            return now
        if check.state is DeliveryState.PENDING:
            ended, retry_in = await self._retry_later(
                head, EngineTransientError(STILL_UNDER_WAY), attempts, True
            )
            log.info(
                "attempt %d at %s: %s; %s",
                attempts,
                head.id_message,
                STILL_UNDER_WAY,
                "failed" if retry_in is None else f"asking again in {retry_in:.3g} s",
            )
            return ended
        sending = dataclasses.replace(head, state=StatusState.SENDING)
        await self.db.write(
            records.finish,
            sending,
            StatusState.FAILED,
            now,
            UNKNOWN_OUTCOME,
            None,
            self._fence(head),
            ends_attempt=True,
        )
        metrics.SENDS.labels("failed").inc()
        log.warning("status %s of instance %s failed: %s", head.id_message, head.instance_id, UNKNOWN_OUTCOME)
        return now

    async def _record_sent(self, sent: records.Sent) -> bool:
        """Record a send the engine accepted: it went out, so a full disk only delays the record. True if it
        is to be revoked now."""
        revoke = await write_when_room(
            lambda: self._results.submit(sent), f"the send of {sent.head.id_message}", self.settings
        )
        if revoke is None:
            log.warning(
                "the send of %s went out after this worker lost instance %s: not recorded here; the next "
                "owner asks the engine whether it was delivered",
                sent.head.id_message,
                sent.head.instance_id,
            )
            return False
        return revoke

    async def _revoke_after_send(self, engine: Engine, head: StatusRow, recipients: list[str]) -> None:
        """deleteStatus came while this status was being sent: revoke it now that it is out."""
        sent = dataclasses.replace(head, state=StatusState.SENT)
        try:
            await engine.revoke_status(head.instance_id, head.id_message, recipients)
        except EngineError as exc:
            # stays `sent` with the request noted; a later deleteStatus can try again
            log.warning("revoking %s after its send failed: %s", head.id_message, exc.message)
            return
        await self.db.write(
            records.finish,
            sent,
            StatusState.DELETED,
            time.time(),
            "deleted by deleteStatus",
            None,
            self._fence(head),
        )

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

    async def _failed(
        self, head: StatusRow, error: EngineError, attempts: int, *, uncertain: bool = False
    ) -> float:
        """A send that failed; returns when the attempt ended."""
        ended, _retry_in = await self._retry_later(head, error, attempts, uncertain)
        log.warning("send of %s failed (attempt %d): %s", head.id_message, attempts, error.message)
        return ended

    async def _retry_later(
        self, head: StatusRow, error: EngineError, attempts: int, uncertain: bool
    ) -> tuple[float, float | None]:
        """Back to ``ready`` with the retry policy's wait, or ``failed`` when it gives up: (when the attempt
        ended, the wait or None). ``uncertain``: the status may have reached the network (the next attempt
        asks); should the policy give up, the description says so."""
        decision = self.retry_policy.decide(error, attempts)
        metrics.SENDS.labels("failed" if decision.retry_in_seconds is None else "retry").inc()
        now = time.time()
        sending = dataclasses.replace(head, state=StatusState.SENDING)
        if decision.retry_in_seconds is None:
            reason = f"{decision.reason}; {NOT_RESENT}" if uncertain else decision.reason
            await self.db.write(
                records.finish,
                sending,
                StatusState.FAILED,
                now,
                reason,
                None,
                self._fence(head),
                ends_attempt=True,
            )
        else:
            retry_at = now + decision.retry_in_seconds
            await self.db.write(
                records.finish,
                sending,
                StatusState.READY,
                now,
                decision.reason,
                retry_at,
                self._fence(head),
                ends_attempt=True,
            )
        return now, decision.retry_in_seconds
