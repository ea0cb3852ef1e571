"""The sender's and the network's writes in groups: many instances' claims, results, posts and receipts share
a transaction and a few statements. Each item of a group must come out as it would alone — a stale lease,
a status moved meanwhile, a fault or a receipt out of order affects its own item only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa

from statusgate.domain.models import DeliveryState, EngineName
from statusgate.domain.notifications import StatusReceiptChanged
from statusgate.domain.ownership import Fence, Lease
from statusgate.domain.posts import OutgoingStatus, TextPost
from statusgate.domain.states import ReceiptStatus, StatusState
from statusgate.engines.sandbox_network import ImportedContact
from statusgate.errors import EngineTransientError
from statusgate.services import instances
from statusgate.settings import Settings
from statusgate.store import instances as instance_store
from statusgate.store import intake, notifications, outbox, ownership, recipients
from statusgate.store.outbox import StatusRow
from statusgate.wiring.core import Core
from statusgate.worker import send_records as records

ANN, BOB, EVE = "79990000001@c.us", "79990000002@c.us", "79990000003@c.us"
WORKER = "w1"


@pytest.fixture
async def core(make_settings: Callable[..., Settings]) -> AsyncIterator[Core]:
    opened = Core(make_settings())
    await opened.open()
    yield opened
    await opened.close()


async def _heads(core: Core, count: int) -> tuple[list[StatusRow], list[Lease]]:
    """``count`` authorized instances held by WORKER, each with one text status at the head of its queue."""
    ids = sorted([(await instances.create(core.ctx, authorized=True)).id_instance for _ in range(count)])
    now = time.time()
    new = [
        intake.NewStatus(i, f"3EB0{n:016X}", TextPost(f"status {n}"), now, now + 3600)
        for n, i in enumerate(ids)
    ]
    await core.ctx.db.write(intake.enqueue_many, new)
    leases = await core.ctx.db.write(ownership.claim, WORKER, 60, count)
    assert [lease.instance_id for lease in leases] == ids
    heads = [await core.ctx.db.read(outbox.head, i) for i in ids]
    assert all(head is not None and head.state is StatusState.READY for head in heads)
    return [head for head in heads if head is not None], leases


def _stale(lease: Lease) -> Fence:
    """A fence of an epoch this worker no longer holds (another worker took the instance over since)."""
    return Fence(WORKER, Lease(lease.instance_id, lease.epoch - 1))


async def _state(core: Core, head: StatusRow) -> StatusState:
    row = await core.ctx.db.read(outbox.get, head.seq)
    assert row is not None
    return row.state


async def test_a_group_of_claims_takes_only_the_heads_still_held_and_still_ready(core: Core) -> None:
    (held, stale, moved), (lease_held, lease_stale, lease_moved) = await _heads(core, 3)
    db = core.ctx.db
    # the third status was cleared by the API before the claim
    now = time.time()
    assert await db.write(
        lambda conn: outbox.transition(conn, moved.seq, StatusState.READY, StatusState.CLEARED, now)
    )
    claims = [
        records.Claim(held, [ANN], [BOB], Fence(WORKER, lease_held), now, 60),
        records.Claim(stale, [ANN], [], _stale(lease_stale), now, 60),
        records.Claim(moved, [ANN], [], Fence(WORKER, lease_moved), now, 60),
    ]
    assert await db.write(records.claim_many, claims) == [True, False, False]
    taken = await db.read(outbox.get, held.seq)
    assert taken is not None and taken.state is StatusState.SENDING
    assert (taken.recipients, taken.skipped_participants, taken.attempts) == ([ANN], [BOB], 1)
    assert taken.lease_owner == WORKER
    untouched = await db.read(outbox.get, stale.seq)
    assert untouched is not None and untouched.state is StatusState.READY and untouched.attempts == 0
    assert await _state(core, moved) is StatusState.CLEARED


async def test_a_group_of_results_records_only_the_sends_still_held(core: Core) -> None:
    (first, second), (lease_first, lease_second) = await _heads(core, 2)
    db = core.ctx.db
    now = time.time()
    claims = [
        records.Claim(first, [ANN, BOB], [], Fence(WORKER, lease_first), now, 60),
        records.Claim(second, [ANN], [], Fence(WORKER, lease_second), now, 60),
    ]
    assert await db.write(records.claim_many, claims) == [True, True]
    ended = time.time()
    sents = [
        records.Sent(first, [ANN, BOB], ended, Fence(WORKER, lease_first)),
        records.Sent(second, [ANN], ended, _stale(lease_second)),  # lost while its send was under way
    ]
    assert await db.write(records.sent_many, sents) == [False, None]
    assert await _state(core, first) is StatusState.SENT
    assert [row[:2] for row in await db.read(recipients.statistics, first.seq)] == [
        (ANN, "sent"),
        (BOB, "sent"),
    ]
    recorded = await db.read(instance_store.get, first.instance_id)
    assert recorded is not None and recorded.last_send_ended_at == ended
    # the stale owner's record is refused whole: still `sending` for the next owner to ask the engine about
    assert await _state(core, second) is StatusState.SENDING
    assert await db.read(recipients.statistics, second.seq) == []
    refused = await db.read(instance_store.get, second.instance_id)
    assert refused is not None and refused.last_send_ended_at is None


async def test_a_batch_of_receipts_moves_each_recipient_forward_in_order_and_journals_each_move(
    core: Core,
) -> None:
    (head,), (lease,) = await _heads(core, 1)
    db = core.ctx.db
    now = time.time()
    assert await db.write(
        records.claim_many, [records.Claim(head, [ANN, BOB], [], Fence(WORKER, lease), now, 60)]
    )
    await db.write(records.sent_many, [records.Sent(head, [ANN, BOB], now, Fence(WORKER, lease))])
    journaled_before = await db.read(notifications.count, head.instance_id)
    batch = [
        recipients.Receipt(head.seq, ANN, ReceiptStatus.DELIVERED, now + 1),
        recipients.Receipt(head.seq, ANN, ReceiptStatus.READ, now + 2),
        recipients.Receipt(head.seq, BOB, ReceiptStatus.READ, now + 3),
        recipients.Receipt(head.seq, BOB, ReceiptStatus.DELIVERED, now + 4),  # behind: never backwards
        recipients.Receipt(head.seq, EVE, ReceiptStatus.DELIVERED, now + 5),  # not a recipient
        recipients.Receipt(head.seq + 1000, ANN, ReceiptStatus.READ, now + 6),  # no such status
    ]
    assert await db.write(recipients.apply_receipts, batch) == [True, True, True, False, False, False]
    assert [row[:2] for row in await db.read(recipients.statistics, head.seq)] == [
        (ANN, "read"),
        (BOB, "read"),
    ]
    rows = await db.read(notifications.oldest_n, head.instance_id, 100)
    moves = [row for row in rows[journaled_before:]]
    assert [row.fact for row in moves] == [
        StatusReceiptChanged(head.instance_id, head.id_message, ANN, ReceiptStatus.DELIVERED, now + 1),
        StatusReceiptChanged(head.instance_id, head.id_message, ANN, ReceiptStatus.READ, now + 2),
        StatusReceiptChanged(head.instance_id, head.id_message, BOB, ReceiptStatus.READ, now + 3),
    ]
    first = rows[journaled_before - 1].receipt_id + 1
    assert [row.receipt_id for row in moves] == [first, first + 1, first + 2]
    status = await db.read(outbox.get, head.seq)
    assert status is not None and status.last_action_at == now + 3
    # an engine that chose the audience itself learns its recipients from their receipts
    learned = [recipients.Receipt(head.seq, EVE, ReceiptStatus.DELIVERED, now + 7)]
    assert await db.write(recipients.apply_receipts, learned, create_missing=True) == [True]
    assert (EVE, "delivered") in [row[:2] for row in await db.read(recipients.statistics, head.seq)]


async def test_posts_arriving_together_each_get_their_own_outcome(core: Core) -> None:
    ids = sorted([(await instances.create(core.ctx, authorized=True)).id_instance for _ in range(3)])
    faulty, stale_one, plain = ids
    for instance_id in ids:
        await core.ctx.sandbox.import_contacts(instance_id, [ImportedContact(ANN, "Ann", "Ann", True)])
    leases = {lease.instance_id: lease for lease in await core.ctx.db.write(ownership.claim, WORKER, 60, 3)}
    await core.ctx.sandbox.add_fault(faulty, "transient", 1)
    engine = core.ctx.engine(EngineName.SANDBOX)

    def status(instance_id: int, message_id: str, fence: Fence) -> OutgoingStatus:
        return OutgoingStatus(message_id, TextPost("hi"), fence=fence)

    # submitted together, they are recorded in one group
    outcomes = await asyncio.gather(
        engine.send_status(faulty, status(faulty, "3EB0FAULTED", Fence(WORKER, leases[faulty])), [ANN]),
        engine.send_status(faulty, status(faulty, "3EB0AFTERFAULT", Fence(WORKER, leases[faulty])), [ANN]),
        engine.send_status(stale_one, status(stale_one, "3EB0STALE", _stale(leases[stale_one])), [ANN]),
        engine.send_status(plain, status(plain, "3EB0PLAIN", Fence(WORKER, leases[plain])), [ANN, EVE]),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], EngineTransientError) and "injected fault" in outcomes[0].message
    assert isinstance(outcomes[2], EngineTransientError) and "no longer holds" in outcomes[2].message
    # the fault is used up by the first post: the second of the same account goes through
    assert [getattr(outcome, "recipients", None) for outcome in (outcomes[1], outcomes[3])] == [
        (ANN,),
        (ANN,),
    ]
    for instance_id, message_id, delivered in [
        (faulty, "3EB0FAULTED", DeliveryState.NOT_DELIVERED),
        (faulty, "3EB0AFTERFAULT", DeliveryState.DELIVERED),
        (stale_one, "3EB0STALE", DeliveryState.NOT_DELIVERED),
        (plain, "3EB0PLAIN", DeliveryState.DELIVERED),
    ]:
        assert (await engine.delivered(instance_id, message_id)).state is delivered, message_id


async def test_the_database_refuses_a_second_status_of_an_instance_on_its_way_out(core: Core) -> None:
    (head,), _ = await _heads(core, 1)
    now = time.time()
    later = intake.NewStatus(head.instance_id, "3EB0SECOND", TextPost("second"), now, now + 3600)
    await core.ctx.db.write(intake.enqueue_many, [later])
    second = await core.ctx.db.read(outbox.get_by_message_id, head.instance_id, "3EB0SECOND")
    assert second is not None

    def to_sending(seq: int) -> Callable[[sa.Connection], bool]:
        return lambda conn: outbox.transition(conn, seq, StatusState.READY, StatusState.SENDING, now)

    assert await core.ctx.db.write(to_sending(head.seq))
    with pytest.raises(sa.exc.IntegrityError):
        await core.ctx.db.write(to_sending(second.seq))
    assert await _state(core, second) is StatusState.READY
