"""The baileys engine's chunk records (``store.status_chunks``): written only by the instance's owner, moved
only forward, read back in order (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from statusgate.domain.ownership import Fence
from statusgate.errors import LeaseLostError
from statusgate.services import instances
from statusgate.settings import Settings
from statusgate.store import ownership, status_chunks
from statusgate.store.status_chunks import ChunkState
from statusgate.wiring.core import Core


@pytest.fixture
async def core(make_settings: Callable[..., Settings]) -> AsyncIterator[Core]:
    opened = Core(make_settings())
    await opened.open()
    yield opened
    await opened.close()


async def _owned(core: Core, owner: str) -> Fence:
    instance_id = (await instances.create(core.ctx)).id_instance
    (lease,) = [
        lease
        for lease in await core.ctx.db.write(ownership.claim, owner, 600, 100)
        if lease.instance_id == instance_id
    ]
    return Fence(owner, lease)


async def test_chunks_are_recorded_before_and_after_and_read_in_order(core: Core) -> None:
    db, fence = core.ctx.db, await _owned(core, "w1")
    instance_id = fence.lease.instance_id
    assert await db.read(status_chunks.of_status, instance_id, "BAE5A") == []
    await db.write(status_chunks.begin, fence, "BAE5A", 1, ["2@c.us"], 11.0)
    await db.write(status_chunks.begin, fence, "BAE5A", 0, ["1@c.us", "3@c.us"], 10.0)
    await db.write(status_chunks.end, fence, "BAE5A", 0, ChunkState.ACKED, 10.5, dropped=["1:2@lid"])
    await db.write(status_chunks.end, fence, "BAE5A", 1, ChunkState.REJECTED, 11.5, error="479")
    # an ended chunk does not move again
    await db.write(status_chunks.end, fence, "BAE5A", 1, ChunkState.ACKED, 12.0)
    first, second = await db.read(status_chunks.of_status, instance_id, "BAE5A")
    assert (first.index, first.recipients, first.state, first.dropped, first.sent_at) == (
        0,
        ("1@c.us", "3@c.us"),
        ChunkState.ACKED,
        ("1:2@lid",),
        10.0,
    )
    assert (second.index, second.state, second.error) == (1, ChunkState.REJECTED, "479")
    with pytest.raises(ValueError, match="cannot end sending"):
        await db.write(status_chunks.end, fence, "BAE5A", 0, ChunkState.SENDING, 13.0)


async def test_a_chunk_that_never_left_is_discarded_but_an_ended_one_stays(core: Core) -> None:
    db, fence = core.ctx.db, await _owned(core, "w1")
    await db.write(status_chunks.begin, fence, "BAE5B", 0, ["1@c.us"], 10.0)
    await db.write(status_chunks.begin, fence, "BAE5B", 1, ["2@c.us"], 10.0)
    await db.write(status_chunks.end, fence, "BAE5B", 0, ChunkState.ACKED, 10.5)
    await db.write(status_chunks.discard, fence, "BAE5B", 0)
    await db.write(status_chunks.discard, fence, "BAE5B", 1)
    (kept,) = await db.read(status_chunks.of_status, fence.lease.instance_id, "BAE5B")
    assert (kept.index, kept.state) == (0, ChunkState.ACKED)


async def test_a_stale_owner_writes_nothing(core: Core) -> None:
    db, fence = core.ctx.db, await _owned(core, "w1")
    instance_id = fence.lease.instance_id
    await db.write(status_chunks.begin, fence, "BAE5C", 0, ["1@c.us"], 10.0)
    await db.write(ownership.release, "w1", [instance_id])
    with pytest.raises(LeaseLostError):
        await db.write(status_chunks.begin, fence, "BAE5C", 1, ["2@c.us"], 11.0)
    with pytest.raises(LeaseLostError):
        await db.write(status_chunks.end, fence, "BAE5C", 0, ChunkState.ACKED, 11.0)
    with pytest.raises(LeaseLostError):
        await db.write(status_chunks.discard, fence, "BAE5C", 0)
    (chunk,) = await db.read(status_chunks.of_status, instance_id, "BAE5C")
    assert chunk.state is ChunkState.SENDING
