"""The baileys engine's auth state in the database (issue 13, step 4): the engine's own ``auth_state.mjs``
in a real Node child, with the installed Baileys' ``BufferJSON``/``initAuthCreds``/``proto``, reading and
writing through the real sidecar parent (``ChildProcess`` and ``engines/baileys/keys.py``) into the real
store, fenced by the lease of the worker that started the child."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from statusgate.domain.ownership import Fence, Lease
from statusgate.engines.baileys import install, keys, protocol
from statusgate.engines.sidecar.framing import FENCED, Codec, Response
from statusgate.engines.sidecar.process import ChildKind, ChildProcess
from statusgate.engines.sidecar.serving import RequestHandler
from statusgate.services import instances
from statusgate.settings import Settings
from statusgate.store import engine_keys, ownership
from statusgate.store import instances as instance_store
from statusgate.store.db import Database
from statusgate.store.schema.instances import engine_keys as engine_keys_table
from statusgate.wiring.core import Core

CHILD = install.CHILD_DIR.parents[4] / "tests" / "integration" / "baileys_auth_child.mjs"


@dataclass(frozen=True)
class Hello:
    install: str


@dataclass(frozen=True)
class Open:
    pass


@dataclass(frozen=True)
class Pair:
    me: str


@dataclass(frozen=True)
class Put:
    category: str
    #: id → {"public": base64, "private": base64, "n": int}, or None to delete
    values: dict[str, Any]


@dataclass(frozen=True)
class Get:
    category: str
    ids: list[str]


@dataclass(frozen=True)
class Burst:
    category: str
    #: each a Put's values, set without waiting for the one before
    writes: list[dict[str, Any]]
    ids: list[str]


@dataclass(frozen=True)
class Commit:
    pass


@dataclass(frozen=True)
class Wipe:
    pass


@dataclass(frozen=True)
class Stop:
    pass


CODEC = Codec(1, [*protocol.FRAMES, Hello, Open, Pair, Put, Get, Burst, Commit, Wipe, Stop])
KIND = ChildKind(CODEC, lambda _f: False, lambda _f: None, Stop(), is_request=keys.is_key_request)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


#: bytes no text encoding would carry unharmed: NUL, every high byte, invalid UTF-8
PUBLIC = bytes(range(256))
PRIVATE = b"\x00\xff\xfe\x80" * 8


class Child:
    def __init__(self, process: ChildProcess) -> None:
        self.process = process

    async def ask(self, request: Any) -> Response:
        return await self.process.request(request, timeout=60)

    async def ok(self, request: Any) -> dict[str, Any]:
        response = await self.ask(request)
        assert response.ok, response
        return response.result


class SlowWrite:
    """The real handler, with the next KeysSet held back a while once :attr:`slow` is set (a database that
    took longer over one transaction): a child that does not wait for its writes in turn lets a later
    write of a key land before an earlier one."""

    def __init__(self, db: Database, fence: Fence) -> None:
        self.inner = keys.KeyRequests(db, fence)
        self.slow = False

    async def __call__(self, frame: object) -> Mapping[str, Any]:
        if isinstance(frame, protocol.KeysSet) and self.slow:
            self.slow = False
            await asyncio.sleep(0.5)
        return await self.inner(frame)


@contextlib.asynccontextmanager
async def child_for(
    db: Database, fence: Fence, handler: RequestHandler | None = None
) -> AsyncIterator[Child]:
    """A Node child of the account ``fence`` names, started by the worker holding ``fence``."""
    engines_dir = Settings().effective_engines_dir
    assert install.state(engines_dir) is install.InstallState.READY, install.not_ready_message(engines_dir)
    process = ChildProcess(
        f"auth.{fence.lease.instance_id}",
        [str(install.NodeRuntime.from_wheel().node), str(CHILD), str(install.CHILD_DIR)],
        KIND,
        log=logging.getLogger("test.baileys.auth"),
        on_event=lambda _frame: None,
        on_exit=lambda _code: None,
        on_request=handler or keys.KeyRequests(db, fence),
    )
    await process.start(Hello(str(install.install_path(engines_dir))), timeout=60)
    try:
        yield Child(process)
    finally:
        await process.stop(timeout=30)


@pytest.fixture
async def core(make_settings: Callable[..., Settings]) -> AsyncIterator[Core]:
    opened = Core(make_settings())
    await opened.open()
    yield opened
    await opened.close()


async def _owned(core: Core, owner: str) -> Fence:
    """A new instance, and the fence of ``owner``'s lease on it."""
    instance_id = (await instances.create(core.ctx)).id_instance
    (lease,) = [
        lease
        for lease in await core.ctx.db.write(ownership.claim, owner, 600, 100)
        if lease.instance_id == instance_id
    ]
    return Fence(owner, lease)


async def _rows(db: Database, instance_id: int) -> dict[tuple[str, str], str]:
    def read(conn: sa.Connection) -> dict[tuple[str, str], str]:
        table = engine_keys_table
        rows = conn.execute(sa.select(table).where(table.c.instance_id == instance_id))
        return {(row.category, row.key_id): row.value for row in rows}

    return await db.read(read)


async def _link(child: Child, me: str = "79001234567:3@s.whatsapp.net") -> None:
    opened = await child.ok(Open())
    assert opened["linked"] is False and opened["me"] is None
    await child.ok(Pair(me))
    assert (await child.ok(Commit())) == {"linked": True}


def _key(n: int) -> dict[str, Any]:
    return {"public": b64(PUBLIC[n:] + bytes([n])), "private": b64(PRIVATE + bytes([n])), "n": n}


def _described(spec: dict[str, Any]) -> dict[str, Any]:
    """What the child reads back for a key written from ``spec``: the same bytes (as a Buffer)."""
    return {
        "keyPair": {"public": {"bytes": spec["public"]}, "private": {"bytes": spec["private"]}},
        "keyId": spec["n"],
    }


async def test_keys_round_trip_byte_exact_across_children_and_a_null_deletes(core: Core) -> None:
    db = core.ctx.db
    fence = await _owned(core, "worker-a")
    instance_id = fence.lease.instance_id
    async with child_for(db, fence) as child:
        await _link(child)
        await child.ok(Put("pre-key", {"1": _key(1), "2": _key(2)}))
        sync_key = {"public": b64(PRIVATE), "private": "", "n": 7}
        await child.ok(Put("app-state-sync-key", {"AAAAAAAB": sync_key}))
        got = await child.ok(Get("pre-key", ["1", "2", "3"]))
        assert got == {"values": {"1": _described(_key(1)), "2": _described(_key(2))}}
        registration_id = (await _rows(db, instance_id))[("creds", "creds")]

        # stored as BufferJSON text: the bytes as base64, nothing lost to an encoding
        rows = await _rows(db, instance_id)
        stored = json.loads(rows[("pre-key", "1")])
        assert stored["keyPair"]["public"] == {"type": "Buffer", "data": _key(1)["public"]}
        assert stored["keyPair"]["private"] == {"type": "Buffer", "data": _key(1)["private"]}
        assert json.loads(rows[("creds", "creds")])["me"]["id"] == "79001234567:3@s.whatsapp.net"

        # a null value deletes the key
        await child.ok(Put("pre-key", {"1": None}))
        assert ("pre-key", "1") not in await _rows(db, instance_id)
        assert (await child.ok(Get("pre-key", ["1", "2"]))) == {"values": {"2": _described(_key(2))}}

    # another child of the account (another worker after a takeover) reads all of it from the database
    async with child_for(db, fence) as child:
        opened = await child.ok(Open())
        assert opened["linked"] is True and opened["me"] == "79001234567:3@s.whatsapp.net"
        assert json.loads(registration_id)["registrationId"] == opened["registration_id"]
        assert (await child.ok(Get("pre-key", ["1", "2"]))) == {"values": {"2": _described(_key(2))}}
        # Baileys reads an app state sync key as its protobuf type, with the very bytes it was given
        sync = (await child.ok(Get("app-state-sync-key", ["AAAAAAAB"])))["values"]["AAAAAAAB"]
        assert sync["class"] == "AppStateSyncKeyData"
        assert sync["keyData"] == {"bytes": b64(PRIVATE)}
        assert sync["fingerprint"]["deviceIndexes"] == [0, 7]


async def test_nothing_is_written_until_the_account_is_linked(core: Core) -> None:
    db = core.ctx.db
    fence = await _owned(core, "worker-a")
    instance_id = fence.lease.instance_id
    async with child_for(db, fence) as child:
        first = await child.ok(Open())
        assert first["linked"] is False
        # what a pairing code request does: creds.me written before any phone paired; keys made meanwhile
        await child.ok(Pair("79001234567@s.whatsapp.net"))
        await child.ok(Put("pre-key", {"5": _key(5)}))
        assert (await child.ok(Get("pre-key", ["5"]))) == {"values": {"5": _described(_key(5))}}
        assert await _rows(db, instance_id) == {}
    # the pairing was abandoned: nothing of it is left, the next child starts afresh
    assert await db.read(engine_keys.count, instance_id) == 0
    async with child_for(db, fence) as child:
        again = await child.ok(Open())
        assert again["linked"] is False and again["me"] is None
        assert again["noise_key"] != first["noise_key"]  # fresh creds, not the abandoned ones
        assert (await child.ok(Get("pre-key", ["5"]))) == {"values": {}}
        # an account no phone has paired cannot be committed
        refused = await child.ask(Commit())
        assert not refused.ok and "not linked yet" in refused.error
    assert await _rows(db, instance_id) == {}


@pytest.mark.parametrize("linked", [False, True], ids=["before-linking", "linked"])
async def test_writes_land_in_the_order_made_and_a_read_sees_the_writes_before_it(
    core: Core, linked: bool
) -> None:
    db = core.ctx.db
    fence = await _owned(core, "worker-a")
    handler = SlowWrite(db, fence)
    async with child_for(db, fence, handler) as child:
        if linked:
            await _link(child)
        else:
            await child.ok(Open())
        handler.slow = True
        burst = Burst(
            "session",
            [{"9.0": _key(1)}, {"9.0": _key(2)}, {"9.0": None, "10.0": _key(3)}] * 3,
            ["9.0", "10.0"],
        )
        assert (await child.ok(burst)) == {"values": {"10.0": _described(_key(3))}}
        if linked:
            rows = await _rows(db, fence.lease.instance_id)
            assert ("session", "9.0") not in rows and ("session", "10.0") in rows


async def test_keys_a_commit_cut_short_left_are_wiped_when_the_account_opens(core: Core) -> None:
    db = core.ctx.db
    fence = await _owned(core, "worker-a")
    instance_id = fence.lease.instance_id
    # a first batch stored, the one with the creds never: the account is not linked
    await db.write(engine_keys.write, fence, [engine_keys.KeyWrite("pre-key", "1", '{"keyId":1}')])
    async with child_for(db, fence) as child:
        assert (await child.ok(Open()))["linked"] is False
        assert await _rows(db, instance_id) == {}


async def test_a_stale_owner_is_refused_and_its_child_sees_it(core: Core) -> None:
    db = core.ctx.db
    fence = await _owned(core, "worker-a")
    instance_id = fence.lease.instance_id
    async with child_for(db, fence) as child:
        await _link(child)
        await child.ok(Put("session", {"123.0": _key(1)}))
        before = await _rows(db, instance_id)

        # worker-a's lease goes (it stalled; here: handed back) and worker-b takes the account over
        assert await db.write(ownership.release, "worker-a", [instance_id]) == 1
        taken = await db.write(ownership.claim, "worker-b", 600, 100)
        assert Lease(instance_id, fence.lease.epoch + 1) in taken

        for request in (
            Put("session", {"123.0": _key(2), "456.0": _key(3)}),
            Put("session", {"123.0": None}),
        ):
            refused = await child.ask(request)
            assert (refused.ok, refused.error_kind) == (False, FENCED), refused
            assert f"no longer holds instance {instance_id}'s lease" in refused.error
        refused = await child.ask(Wipe())
        assert (refused.ok, refused.error_kind) == (False, FENCED), refused
        assert await _rows(db, instance_id) == before

    # the new owner's child carries on from what the old one stored
    new_fence = Fence("worker-b", Lease(instance_id, fence.lease.epoch + 1))
    async with child_for(db, new_fence) as child:
        assert (await child.ok(Open()))["linked"] is True
        await child.ok(Put("session", {"456.0": _key(3)}))
        got = await child.ok(Get("session", ["123.0", "456.0"]))
        assert got == {"values": {"123.0": _described(_key(1)), "456.0": _described(_key(3))}}


async def test_a_wipe_removes_everything_and_deleting_the_instance_removes_its_keys(core: Core) -> None:
    db = core.ctx.db
    logged_out = await _owned(core, "worker-a")
    deleted = await _owned(core, "worker-a")
    kept = await _owned(core, "worker-a")
    for fence in (logged_out, deleted, kept):
        async with child_for(db, fence) as child:
            await _link(child)
            await child.ok(Put("pre-key", {"1": _key(1), "2": _key(2)}))
        assert await db.read(engine_keys.count, fence.lease.instance_id) == 3

    async with child_for(db, logged_out) as child:
        assert (await child.ok(Open()))["linked"] is True
        assert (await child.ok(Wipe())) == {"linked": False}
        assert (await child.ok(Get("pre-key", ["1"]))) == {"values": {}}
    assert await _rows(db, logged_out.lease.instance_id) == {}
    async with child_for(db, logged_out) as child:
        assert (await child.ok(Open()))["linked"] is False

    assert await db.write(instance_store.delete, deleted.lease.instance_id)
    assert await _rows(db, deleted.lease.instance_id) == {}
    assert await db.read(engine_keys.count, kept.lease.instance_id) == 3
