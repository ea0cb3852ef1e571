"""How an attempt ends once the engine has answered, or has not: the sender's decisions after the call.

A later attempt first asks the engine whether an earlier one reached the network (:meth:`SendOutcomes.ask`);
its answer settles the attempt without sending (:meth:`SendOutcomes.settle`): delivered, the status is
recorded as sent; still under way, it waits (``ready`` with a retry time, an attempt counted); unknown, it
fails as "may or may not have been published". A failed send goes back to ``ready`` with the retry policy's
wait, or fails when the policy gives up. A send that ended after deleteStatus came is revoked.

A send the engine accepted is recorded whatever the disk says: while it is full the record is tried again
(the lease renewed meanwhile) rather than the status sent again.

Every write here carries the fence of the step (``worker.sending``), so a stale owner writes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from statusgate import metrics
from statusgate.domain.models import DeliveryCheck, DeliveryState
from statusgate.domain.ownership import Fence
from statusgate.domain.states import StatusState
from statusgate.engines.base import Engine
from statusgate.errors import EngineError, EngineTransientError
from statusgate.queue.retry import RetryPolicy
from statusgate.settings import Settings
from statusgate.store.batch import Batcher
from statusgate.store.db import Database
from statusgate.store.outbox import StatusRow
from statusgate.worker import send_records as records
from statusgate.worker.room import write_when_room

log = logging.getLogger("statusgate.queue")

STILL_UNDER_WAY = "an earlier attempt is still under way (the engine has not settled it yet)"
NOT_RESENT = "the status may or may not have been published — not resent to avoid a duplicate"
UNKNOWN_OUTCOME = f"the engine cannot tell whether an earlier attempt reached the network; {NOT_RESENT}"


class SendOutcomes:
    """Records how the sender's attempts end: sent, settled by the engine's answer, retried, failed."""

    def __init__(self, settings: Settings, db: Database, retry_policy: RetryPolicy) -> None:
        self.settings = settings
        self.db = db
        self.retry_policy = retry_policy
        # results are committed on the event loop when the write lock is free: queued behind the writer
        # thread (a group of claims, the events drain), they held up the posts that came after them
        self._results: Batcher[records.Sent, bool | None] = Batcher(
            db, records.sent_many, "sent", inline=True
        )

    async def ask(self, engine: Engine, head: StatusRow, attempts: int) -> DeliveryCheck:
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

    async def settle(
        self,
        engine: Engine,
        head: StatusRow,
        recipients: list[str],
        check: DeliveryCheck,
        attempts: int,
        fence: Fence,
    ) -> float:
        """A later attempt that the engine's answer settles without sending; returns when it ended."""
        now = time.time()
        if check.state is DeliveryState.DELIVERED:
            metrics.SENDS.labels("already_delivered").inc()
            sent_to = list(check.recipients) or recipients
            revoke = await self.record_sent(records.Sent(head, sent_to, now, fence))
            if revoke:
                await self.revoke_after_send(engine, head, sent_to, fence)
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
                head, EngineTransientError(STILL_UNDER_WAY), attempts, True, fence
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
            fence,
            ends_attempt=True,
        )
        metrics.SENDS.labels("failed").inc()
        log.warning("status %s of instance %s failed: %s", head.id_message, head.instance_id, UNKNOWN_OUTCOME)
        return now

    async def record_sent(self, sent: records.Sent) -> bool:
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

    async def revoke_after_send(
        self, engine: Engine, head: StatusRow, recipients: list[str], fence: Fence
    ) -> None:
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
            fence,
        )

    async def failed(
        self, head: StatusRow, error: EngineError, attempts: int, fence: Fence, *, uncertain: bool = False
    ) -> float:
        """A send that failed; returns when the attempt ended."""
        ended, _retry_in = await self._retry_later(head, error, attempts, uncertain, fence)
        log.warning("send of %s failed (attempt %d): %s", head.id_message, attempts, error.message)
        return ended

    async def _retry_later(
        self, head: StatusRow, error: EngineError, attempts: int, uncertain: bool, fence: Fence
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
                fence,
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
                fence,
                ends_attempt=True,
            )
        return now, decision.retry_in_seconds
