"""The sender's decision: a first attempt sends; every later one asks the engine first, and never resends
blindly. A scripted engine stands in for the network; the queue is a real (SQLite) database."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from statusgate.domain.instance_settings import InstanceSettings
from statusgate.domain.models import (
    DeliveryCheck,
    DeliveryState,
    EngineName,
    Instance,
    PreparedMedia,
    SendOutcome,
)
from statusgate.domain.ownership import Lease
from statusgate.domain.posts import OutgoingStatus, TextPost
from statusgate.domain.states import InstanceState, StatusState
from statusgate.engines.base import EngineCapabilities
from statusgate.errors import EngineTransientError
from statusgate.queue.crashpoints import CrashPoints
from statusgate.queue.retry import RetryPolicy
from statusgate.settings import Settings
from statusgate.store import instances, intake, migrate, outbox, ownership
from statusgate.store.db import Database
from statusgate.worker.send_outcomes import NOT_RESENT
from statusgate.worker.sending import Sender

INSTANCE = 1_100_000_001
AUDIENCE = ["79990000001@c.us", "79990000002@c.us"]
ID = "3EB0000000000000000A"


@dataclass
class ScriptedEngine:
    """Answers ``delivered`` and ``send_status`` as scripted, and records what it was asked."""

    check: DeliveryCheck | BaseException = field(
        default_factory=lambda: DeliveryCheck(DeliveryState.NOT_DELIVERED)
    )
    send_error: BaseException | None = None
    #: how long before the call returns the network took the status in (reported), or None (not reported)
    received_before_return: float | None = None
    sends: list[str] = field(default_factory=list)
    called_at: list[float] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    name = EngineName.SANDBOX
    capabilities = EngineCapabilities(explicit_audience=True, honours_message_id=True, revoke=True)

    async def state(self, instance_id: int) -> InstanceState:
        return InstanceState.AUTHORIZED

    async def delivered(self, instance_id: int, message_id: str) -> DeliveryCheck:
        self.asked.append(message_id)
        if isinstance(self.check, BaseException):
            raise self.check
        return self.check

    async def send_status(
        self, instance_id: int, status: OutgoingStatus, recipients: Sequence[str]
    ) -> SendOutcome:
        self.sends.append(status.message_id)
        self.called_at.append(time.time())
        if self.send_error is not None:
            raise self.send_error
        if self.received_before_return is None:
            return SendOutcome(tuple(recipients))
        return SendOutcome(tuple(recipients), received_at=time.time() - self.received_before_return)


class Hangs(ScriptedEngine):
    async def delivered(self, instance_id: int, message_id: str) -> DeliveryCheck:
        self.asked.append(message_id)
        await asyncio.sleep(60)
        raise AssertionError("not reached")


async def no_media(_media_id: str) -> PreparedMedia | None:
    return None


@dataclass
class Queue:
    db: Database
    settings: Settings
    #: the instance's lease, held by "me" (the sender's worker) in the database
    lease: Lease

    def sender(self, engine: ScriptedEngine, **overrides: Any) -> Sender:
        settings = self.settings.model_copy(update=overrides)
        policy = RetryPolicy(max_attempts=3, base_seconds=10, cap_seconds=10)
        engines: dict[EngineName, Any] = {EngineName.SANDBOX: engine}
        return Sender(
            settings,
            self.db,
            engines,
            no_media,
            owner="me",
            leases=lambda instance_id: self.lease if instance_id == INSTANCE else None,
            crash=CrashPoints(""),
            retry_policy=policy,
        )

    async def status(self, *, attempts: int, state: StatusState = StatusState.SENDING) -> outbox.StatusRow:
        """The head of the queue, as a dead worker (or an earlier attempt) left it."""

        def _tx(conn: Any) -> outbox.StatusRow:
            now = time.time()
            intake.enqueue_many(conn, [intake.NewStatus(INSTANCE, ID, TextPost("hi"), now, now + 3600)])
            head = outbox.head(conn, INSTANCE)
            assert head is not None
            outbox.update_fields(
                conn,
                head.seq,
                state=state.value,
                attempts=attempts,
                recipients=AUDIENCE,
                skipped_participants=[],
                lease_owner="a-dead-worker" if state is StatusState.SENDING else None,
                lease_expires_at=now - 1 if state is StatusState.SENDING else None,
            )
            found = outbox.head(conn, INSTANCE)
            assert found is not None
            return found

        return await self.db.write(_tx)

    async def head(self) -> outbox.StatusRow:
        row = await self.db.read(outbox.get_by_message_id, INSTANCE, ID)
        assert row is not None
        return row

    async def clock(self) -> float | None:
        instance = await self.db.read(instances.get, INSTANCE)
        assert instance is not None
        return instance.last_send_ended_at


@pytest.fixture
async def queue(tmp_path: Path, make_settings: Callable[..., Settings]) -> AsyncIterator[Queue]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    await migrate.upgrade(db)
    instance = Instance(INSTANCE, None, EngineName.SANDBOX, "0" * 64, True, InstanceSettings(), time.time())
    await db.write(instances.insert, instance)
    [lease] = await db.write(ownership.claim, "me", 3600, 1)
    yield Queue(db, make_settings(engine_timeout_seconds=0.2), lease)
    await db.dispose()


async def test_a_first_attempt_sends_without_asking(queue: Queue) -> None:
    engine = ScriptedEngine()
    head = await queue.status(attempts=0, state=StatusState.READY)
    before = time.time()
    ended = await queue.sender(engine).send(engine, head)  # type: ignore[arg-type]
    assert engine.asked == [] and engine.sends == [ID]
    row = await queue.head()
    assert row.state is StatusState.SENT and row.attempts == 1
    # the pacing clock is the moment the send call returned, written with its result
    assert ended is not None and before <= ended == await queue.clock()


async def test_a_later_attempt_already_delivered_is_recorded_without_sending(
    queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    engine = ScriptedEngine(check=DeliveryCheck(DeliveryState.DELIVERED, (AUDIENCE[1],)))
    head = await queue.status(attempts=1)
    with caplog.at_level(logging.INFO, "statusgate.queue"):
        ended = await queue.sender(engine).send(engine, head)  # type: ignore[arg-type]
    assert engine.asked == [ID] and engine.sends == []
    row = await queue.head()
    assert row.state is StatusState.SENT and row.attempts == 2
    assert ended == await queue.clock()
    assert "was already delivered" in caplog.text and "without sending it again" in caplog.text


async def test_delivered_without_recipients_keeps_the_claimed_audience(queue: Queue) -> None:
    from statusgate.store import recipients

    engine = ScriptedEngine(check=DeliveryCheck(DeliveryState.DELIVERED))
    head = await queue.status(attempts=1)
    await queue.sender(engine).send(engine, head)  # type: ignore[arg-type]
    rows = await queue.db.read(recipients.statistics, head.seq)
    assert sorted(participant for participant, _status, _at in rows) == AUDIENCE


async def test_a_later_attempt_not_delivered_sends(queue: Queue) -> None:
    engine = ScriptedEngine(check=DeliveryCheck(DeliveryState.NOT_DELIVERED))
    head = await queue.status(attempts=1)
    await queue.sender(engine).send(engine, head)  # type: ignore[arg-type]
    assert engine.asked == [ID] and engine.sends == [ID]
    assert (await queue.head()).state is StatusState.SENT


@pytest.mark.parametrize(
    "check",
    [
        DeliveryCheck(DeliveryState.PENDING),
        EngineTransientError("the engine is restarting"),
        RuntimeError("a bug in the engine"),
    ],
    ids=["pending", "engine-error", "bug"],
)
async def test_pending_or_no_answer_waits_and_counts_an_attempt(
    queue: Queue, check: DeliveryCheck | BaseException
) -> None:
    engine = ScriptedEngine(check=check)
    head = await queue.status(attempts=1)
    before = time.time()
    ended = await queue.sender(engine).send(engine, head)  # type: ignore[arg-type]
    assert engine.sends == []
    row = await queue.head()
    assert row.state is StatusState.READY and row.attempts == 2
    assert row.not_before is not None and row.not_before >= before + 10  # the retry policy's backoff
    assert ended == await queue.clock()


async def test_no_answer_in_time_is_pending(queue: Queue) -> None:
    engine = Hangs()
    head = await queue.status(attempts=1)
    await queue.sender(engine).send(engine, head)  # type: ignore[arg-type]
    assert engine.sends == [] and (await queue.head()).state is StatusState.READY


async def test_still_pending_at_the_last_attempt_fails_as_uncertain(queue: Queue) -> None:
    engine = ScriptedEngine(check=DeliveryCheck(DeliveryState.PENDING))
    head = await queue.status(attempts=2)  # the policy allows 3
    await queue.sender(engine).send(engine, head)  # type: ignore[arg-type]
    row = await queue.head()
    assert row.state is StatusState.FAILED and engine.sends == []
    assert row.description is not None and row.description.endswith(NOT_RESENT)


async def test_unknown_fails_without_sending(queue: Queue) -> None:
    engine = ScriptedEngine(check=DeliveryCheck(DeliveryState.UNKNOWN))
    head = await queue.status(attempts=1)
    await queue.sender(engine).send(engine, head)  # type: ignore[arg-type]
    row = await queue.head()
    assert row.state is StatusState.FAILED and engine.sends == []
    assert row.description is not None and "may or may not have been published" in row.description


async def test_an_unexpected_error_of_a_send_is_an_unknown_outcome_not_a_crash(queue: Queue) -> None:
    engine = ScriptedEngine(send_error=RuntimeError("a bug in the engine"))
    head = await queue.status(attempts=0, state=StatusState.READY)
    await queue.sender(engine).send(engine, head)  # type: ignore[arg-type]
    row = await queue.head()
    assert row.state is StatusState.READY and row.attempts == 1
    # the next attempt asks first
    engine.send_error = None
    engine.check = DeliveryCheck(DeliveryState.DELIVERED, tuple(AUDIENCE))
    await queue.sender(engine).send(engine, row)  # type: ignore[arg-type]
    assert engine.asked == [ID] and engine.sends == [ID]
    assert (await queue.head()).state is StatusState.SENT


async def test_blind_resend_skips_the_question(queue: Queue) -> None:
    engine = ScriptedEngine(check=DeliveryCheck(DeliveryState.DELIVERED, tuple(AUDIENCE)))
    head = await queue.status(attempts=1)
    await queue.sender(engine, test_blind_resend=True).send(engine, head)  # type: ignore[arg-type]
    assert engine.asked == [] and engine.sends == [ID]


async def test_the_next_send_waits_the_delay_after_the_previous_one_returned(queue: Queue) -> None:
    engine = ScriptedEngine()
    await queue.status(attempts=0, state=StatusState.READY)
    sender = queue.sender(engine)
    ended = time.time()
    await queue.db.write(instances.set_last_send_ended, INSTANCE, ended)
    wait = await sender.step(INSTANCE, asyncio.Event())
    delay = queue.settings.delay_default_ms / 1000
    lead = queue.settings.send_lead_seconds
    assert 0 < lead < delay
    # it looks again a lead before the moment, to have the head claimed by then ...
    assert engine.sends == [] and wait is not None and 0 < wait <= delay - lead
    assert wait >= ended + delay - lead - time.time()
    await asyncio.sleep(wait)
    await sender.step(INSTANCE, asyncio.Event())
    # ... and the send call itself starts no earlier than the delay after the previous one returned
    assert engine.sends == [ID] and engine.called_at[0] >= ended + delay


@pytest.mark.parametrize("reported", [None, 0.25, -5.0], ids=["not reported", "reported", "in the future"])
async def test_the_pacing_clock_is_when_the_network_took_the_status_in_if_the_engine_says(
    queue: Queue, reported: float | None
) -> None:
    engine = ScriptedEngine(received_before_return=reported)
    await queue.status(attempts=0, state=StatusState.READY)
    before = time.time()
    ended = await queue.sender(engine).send(engine, await queue.head())  # type: ignore[arg-type]
    after = time.time()
    assert ended is not None
    if reported is not None and reported > 0:
        assert before - reported - 0.01 <= ended <= after - reported + 0.01  # the network's moment
    else:  # not reported, or later than the return (a clock that cannot be right): the call's return
        assert before <= ended <= after
    recorded = await queue.db.read(instances.get, INSTANCE)
    assert recorded is not None and recorded.last_send_ended_at == ended
    assert (await queue.head()).state is StatusState.SENT


class TakenOverMidSend(ScriptedEngine):
    """While the send call runs, another worker takes the instance over (this worker stalled past its
    lease): the send itself still reaches the network."""

    db: Database | None = None

    async def send_status(
        self, instance_id: int, status: OutgoingStatus, recipients: Sequence[str]
    ) -> SendOutcome:
        assert self.db is not None
        await self.db.write(ownership.release, "me")
        assert await self.db.write(ownership.claim, "other", 3600, 1)
        return await super().send_status(instance_id, status, recipients)


async def test_a_worker_whose_lease_was_taken_over_neither_claims_nor_sends(queue: Queue) -> None:
    engine = ScriptedEngine()
    head = await queue.status(attempts=0, state=StatusState.READY)
    await queue.db.write(ownership.release, "me")
    [newer] = await queue.db.write(ownership.claim, "other", 3600, 1)
    assert newer.epoch == queue.lease.epoch + 1
    # the sender still believes its old lease (it has not renewed yet): the claim's fence refuses it
    assert await queue.sender(engine).send(engine, head) is None  # type: ignore[arg-type]
    assert engine.sends == []
    row = await queue.head()
    assert row.state is StatusState.READY and row.attempts == 0


async def test_a_send_that_ends_after_a_takeover_is_left_for_the_new_owner_to_settle(
    queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    engine = TakenOverMidSend()
    engine.db = queue.db
    head = await queue.status(attempts=0, state=StatusState.READY)
    with caplog.at_level(logging.WARNING, "statusgate.queue"):
        await queue.sender(engine).send(engine, head)  # type: ignore[arg-type]
    assert engine.sends == [ID]
    # not recorded by the stale owner: still `sending`, so the new owner asks the engine (which says
    # delivered) instead of sending it again
    row = await queue.head()
    assert row.state is StatusState.SENDING and row.attempts == 1
    assert await queue.clock() is None
    assert "not recorded here" in caplog.text
