"""The notification journal itself: the one function that journals, what it announces, the receiptIds' order.

Every test runs on SQLite and on PostgreSQL (``make_settings``). Nothing here runs a worker: the tests drive
the places that journal themselves, so nothing else journals meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from statusgate.domain.instance_settings import InstanceSettings
from statusgate.domain.models import (
    EngineEvent,
    EngineName,
    IncomingStatusEvent,
    Instance,
    MediaKind,
    PreparedMedia,
    StateEvent,
)
from statusgate.domain.notifications import InstanceStateChanged, Notification, NotificationType
from statusgate.domain.posts import TextPost
from statusgate.domain.states import InstanceState, ReceiptStatus, StatusState
from statusgate.services import instances, media
from statusgate.services import notifications as notification_service
from statusgate.settings import Settings
from statusgate.store import instances as instance_store
from statusgate.store import intake, migrate, notifications, outbox, recipients
from statusgate.store.db import Database
from statusgate.store.schema.notifications import notifications as notifications_table
from statusgate.store.schema.statuses import status_events
from statusgate.wiring.core import Core
from statusgate.worker import dispatcher
from tests.support import jpeg_bytes

WID = "79990000000@c.us"
ANN = "79990000001@c.us"
BOB = "79990000002@c.us"
EVE = "79990000003@c.us"
#: longer than the incoming journal's name columns hold: the notification keeps the whole name
LONG_NAME = "Bob" * 80
INSTANCE_ID = 1101000001


# --- every notification, from where it happens -----------------------------------------------------------


@pytest.fixture
async def core(make_settings: Callable[..., Settings]) -> AsyncIterator[Core]:
    opened = Core(make_settings())
    await opened.open()
    yield opened
    await opened.close()


async def picture(core: Core, tmp_path: Path, instance_id: int) -> PreparedMedia:
    """A picture prepared as an incoming status's file is (what the sandbox's contacts post)."""
    path = tmp_path / "pic.jpg"
    path.write_bytes(jpeg_bytes())
    ctx = core.ctx
    url = await media.store_file(ctx, path, path.name, instance_id=instance_id, keep_seconds=1000)
    prepared = await ctx.preparer.prepare(url, path.name, MediaKind.IMAGE)
    await ctx.prepared.record(prepared)
    return prepared


async def everything_happens(core: Core, instance_id: int, prepared: PreparedMedia) -> None:
    """What makes each type of notification, done by the code that does it: statuses move, recipients'
    receipts arrive, the instance's state changes, contacts post statuses."""
    db = core.ctx.db
    queued = [
        intake.NewStatus(instance_id, f"3EB0{n:016X}", TextPost(f"status {n}"), 10.0, 1e12) for n in range(4)
    ]
    await db.write(intake.enqueue_many, queued)
    seqs = [row.seq for row in await db.read(outbox.list_pending, instance_id, 10)]

    def moves(conn: sa.Connection) -> None:
        outbox.transition(conn, seqs[0], StatusState.READY, StatusState.SENDING, 100.5)  # not reported
        outbox.transition(conn, seqs[0], StatusState.SENDING, StatusState.SENT, 101.7)
        outbox.transition(conn, seqs[1], StatusState.READY, StatusState.FAILED, 102.0, description="refused")
        outbox.transition(conn, seqs[2], StatusState.READY, StatusState.CLEARED, 103.0)
        outbox.transition(conn, seqs[3], StatusState.READY, StatusState.EXPIRED, 104.0)
        recipients.record_sent(conn, seqs[0], [ANN], 101.7)
        recipients.apply_receipt(conn, seqs[0], ANN, ReceiptStatus.DELIVERED, 105.0)
        recipients.apply_receipt(conn, seqs[0], BOB, ReceiptStatus.READ, 106.0, create_missing=True)

    await db.write(moves)
    text = {"typeMessage": "extendedTextMessage", "text": "hi", "backgroundColor": "#112233", "font": "SERIF"}
    events: list[EngineEvent] = [
        StateEvent(instance_id, InstanceState.AUTHORIZED, 107.9),
        IncomingStatusEvent(
            instance_id, "IN1", BOB, 108.0, {"sender_name": LONG_NAME, "sender_contact_name": "Bob K", **text}
        ),
        IncomingStatusEvent(instance_id, "IN2", BOB, 109.0, {"sender_name": "Bob"}),
        IncomingStatusEvent(
            instance_id,
            "IN3",
            EVE,
            110.0,
            {
                "typeMessage": "imageMessage",
                "media_id": prepared.media_id,
                "fileName": "pic.jpg",
                "mimeType": "image/jpeg",
                "caption": "look",
            },
        ),
        # the whatsapp engine's incoming files are not downloaded
        IncomingStatusEvent(instance_id, "IN4", EVE, 111.0, {"typeMessage": "videoMessage", "seconds": 3}),
        IncomingStatusEvent(instance_id, "IN4", EVE, 111.0, {"typeMessage": "videoMessage"}),  # a repeat
        StateEvent(instance_id, InstanceState.NOT_AUTHORIZED, 112.2),
    ]
    await db.write(dispatcher._apply_events, events)


def green_bodies(instance_id: int, prepared: PreparedMedia) -> list[dict[str, Any]]:
    """What receivers got for :func:`everything_happens` before the facts were typed, key order included."""

    def envelope(type_webhook: str, timestamp: int) -> dict[str, Any]:
        return {
            "typeWebhook": type_webhook,
            "instanceData": {"idInstance": instance_id, "wid": WID, "typeInstance": "whatsapp"},
            "timestamp": timestamp,
        }

    def status(n: int, timestamp: int, description: str | None = None) -> dict[str, Any]:
        body = envelope("outgoingMessageStatus", timestamp) | {
            "chatId": "status@broadcast",
            "idMessage": f"3EB0{n:016X}",
            "status": "sent" if description is None else "failed",
        }
        if description is not None:
            body["description"] = description
        return body | {"sendByApi": True}

    def receipt(participant: str, status: str, timestamp: int) -> dict[str, Any]:
        return envelope("outgoingStatusReceipt", timestamp) | {
            "idMessage": f"3EB0{0:016X}",
            "participant": participant,
            "status": status,
        }

    def incoming(
        id_message: str, sender: str, name: str, contact_name: str, timestamp: int, message: dict[str, Any]
    ) -> dict[str, Any]:
        return envelope("incomingStatusReceived", timestamp) | {
            "idMessage": id_message,
            "senderData": {
                "chatId": sender,
                "sender": sender,
                "senderName": name,
                "senderContactName": contact_name,
            },
            "messageData": message,
        }

    def text(text: str, background: str, font: str) -> dict[str, Any]:
        return {
            "typeMessage": "extendedTextMessage",
            "extendedTextMessageData": {"text": text, "backgroundColor": background, "font": font},
        }

    return [
        status(0, 101),
        status(1, 102, "refused"),
        status(2, 103, "cleared"),
        status(3, 104, "expired"),
        receipt(ANN, "delivered", 105),
        receipt(BOB, "read", 106),
        envelope("stateInstanceChanged", 107) | {"stateInstance": "authorized"},
        incoming("IN1", BOB, LONG_NAME, "Bob K", 108, text("hi", "#112233", "SERIF")),
        incoming("IN2", BOB, "Bob", "", 109, text("", "#000000", "SANS_SERIF")),
        incoming(
            "IN3",
            EVE,
            "",
            "",
            110,
            {
                "typeMessage": "imageMessage",
                "fileMessageData": {
                    "caption": "look",
                    "downloadUrl": f"http://127.0.0.1:9/media/p/{prepared.media_id}/pic.jpg",
                    "fileName": "pic.jpg",
                    "mimeType": "image/jpeg",
                    "jpegThumbnail": prepared.jpeg_thumbnail,
                },
            },
        ),
        incoming(
            "IN4",
            EVE,
            "",
            "",
            111,
            {"typeMessage": "videoMessage", "fileMessageData": {"caption": "", "jpegThumbnail": ""}},
        ),
        envelope("stateInstanceChanged", 112) | {"stateInstance": "notAuthorized"},
    ]


async def handed_out(core: Core, instance_id: int) -> list[dict[str, Any]]:
    ctx = core.ctx
    instance = await ctx.db.read(instance_store.get, instance_id)
    assert instance is not None
    rows = await ctx.db.read(notifications.oldest_n, instance_id, 100)
    return [await notification_service.render(ctx, instance, row, wid=WID) for row in rows]


async def test_every_notification_is_journaled_by_one_function_and_keeps_its_body(
    core: Core, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journaled: list[Notification] = []
    journal_many = notifications.journal_many  # what journal() calls too

    def spy(conn: sa.Connection, facts: Sequence[Notification]) -> list[int | None]:
        journaled.extend(facts)
        return journal_many(conn, facts)

    monkeypatch.setattr(notifications, "journal_many", spy)
    instance_id = (await instances.create(core.ctx)).id_instance
    prepared = await picture(core, tmp_path, instance_id)
    await everything_happens(core, instance_id, prepared)

    rows = await core.ctx.db.read(notifications.oldest_n, instance_id, 100)
    # every row came through journal(), in the order it was called, and reads back as the fact it was given
    assert [row.fact for row in rows] == journaled
    assert {fact.type for fact in journaled} == set(NotificationType)
    assert [row.receipt_id for row in rows] == list(range(1, 13))
    # compared as JSON text: the same keys in the same order as before
    assert json.dumps(await handed_out(core, instance_id)) == json.dumps(green_bodies(instance_id, prepared))


def earlier_rows(instance_id: int, media_id: str) -> list[dict[str, Any]]:
    """:func:`everything_happens`'s journal as the release before typed facts wrote it."""
    payloads: list[tuple[str, dict[str, Any], float]] = [
        ("outgoingMessageStatus", {"idMessage": f"3EB0{0:016X}", "status": "sent"}, 101.7),
        (
            "outgoingMessageStatus",
            {"idMessage": f"3EB0{1:016X}", "status": "failed", "description": "refused"},
            102.0,
        ),
        (
            "outgoingMessageStatus",
            {"idMessage": f"3EB0{2:016X}", "status": "failed", "description": "cleared"},
            103.0,
        ),
        (
            "outgoingMessageStatus",
            {"idMessage": f"3EB0{3:016X}", "status": "failed", "description": "expired"},
            104.0,
        ),
        (
            "outgoingStatusReceipt",
            {"idMessage": f"3EB0{0:016X}", "participant": ANN, "status": "delivered"},
            105.0,
        ),
        (
            "outgoingStatusReceipt",
            {"idMessage": f"3EB0{0:016X}", "participant": BOB, "status": "read"},
            106.0,
        ),
        ("stateInstanceChanged", {"stateInstance": "authorized"}, 107.9),
        (
            "incomingStatusReceived",
            {
                "idMessage": "IN1",
                "sender": BOB,
                "senderName": LONG_NAME,
                "senderContactName": "Bob K",
                "typeMessage": "extendedTextMessage",
                "media_id": None,
                "text": "hi",
                "backgroundColor": "#112233",
                "font": "SERIF",
            },
            108.0,
        ),
        (
            "incomingStatusReceived",
            {
                "idMessage": "IN2",
                "sender": BOB,
                "senderName": "Bob",
                "senderContactName": "",
                "typeMessage": "extendedTextMessage",
                "media_id": None,
            },
            109.0,
        ),
        (
            "incomingStatusReceived",
            {
                "idMessage": "IN3",
                "sender": EVE,
                "senderName": "",
                "senderContactName": "",
                "typeMessage": "imageMessage",
                "media_id": media_id,
                "fileName": "pic.jpg",
                "mimeType": "image/jpeg",
                "caption": "look",
            },
            110.0,
        ),
        (
            "incomingStatusReceived",
            {
                "idMessage": "IN4",
                "sender": EVE,
                "senderName": "",
                "senderContactName": "",
                "typeMessage": "videoMessage",
                "media_id": None,
                "seconds": 3,
            },
            111.0,
        ),
        ("stateInstanceChanged", {"stateInstance": "notAuthorized"}, 112.2),
    ]
    return [
        {
            "instance_id": instance_id,
            "receipt_id": n,
            "type": type_,
            "payload": payload,
            "created_at": at,
            "attempts": 0,
            "next_attempt_at": at,
        }
        for n, (type_, payload, at) in enumerate(payloads, start=1)
    ]


async def test_notifications_journaled_by_the_release_before_are_handed_out_alike(
    core: Core, tmp_path: Path
) -> None:
    instance_id = (await instances.create(core.ctx)).id_instance
    prepared = await picture(core, tmp_path, instance_id)
    rows = earlier_rows(instance_id, prepared.media_id)

    def insert(conn: sa.Connection) -> None:
        conn.execute(notifications_table.insert(), rows)

    await core.ctx.db.write(insert)
    assert json.dumps(await handed_out(core, instance_id)) == json.dumps(green_bodies(instance_id, prepared))


# --- transactions ----------------------------------------------------------------------------------------


@pytest.fixture
async def database(make_settings: Callable[..., Settings]) -> AsyncIterator[Database]:
    """A migrated database with one instance (its settings the defaults: every type journaled)."""
    settings = make_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    instance = Instance(INSTANCE_ID, None, EngineName.SANDBOX, "0" * 64, True, InstanceSettings(), 0.0)
    try:
        await migrate.upgrade(db)
        await db.write(instance_store.insert, instance)
        yield db
    finally:
        await db.dispose()


def state_changed(state: InstanceState = InstanceState.STARTING) -> InstanceStateChanged:
    return InstanceStateChanged(INSTANCE_ID, state, 100.0)


class Abort(Exception):
    pass


async def test_a_rolled_back_transaction_journals_and_announces_nothing(database: Database) -> None:
    announced: list[frozenset[int]] = []
    database.on_announced = announced.append

    def journals_then_fails(conn: sa.Connection) -> None:
        assert notifications.journal(conn, state_changed()) == 1
        raise Abort

    with pytest.raises(Abort):
        await database.write(journals_then_fails)
    assert await database.read(notifications.count, INSTANCE_ID) == 0
    assert announced == []

    def journals_twice(conn: sa.Connection) -> list[int | None]:
        return [notifications.journal(conn, state_changed()) for _ in range(2)]

    # the rollback gave its receiptId back; a commit announces the instance once, however often it journaled
    assert await database.write(journals_twice) == [1, 2]
    assert announced == [frozenset({INSTANCE_ID})]


async def test_journaling_outside_a_write_transaction_is_refused(database: Database) -> None:
    """A notification the database could not announce would wait for the next poll: refused, not lost."""
    engine = sa.create_engine(database.url)
    try:
        with engine.begin() as conn, pytest.raises(RuntimeError, match="write transaction"):
            notifications.journal(conn, state_changed())
    finally:
        engine.dispose()
    assert await database.read(notifications.count, INSTANCE_ID) == 0


async def test_receipt_ids_follow_commit_order_when_two_transactions_journal_at_once(
    database: Database,
) -> None:
    # another Database on the same store: another process's writer (the api and the worker of a pair)
    other = Database(database.url.render_as_string(hide_password=False))
    holding, release = threading.Event(), threading.Event()

    def journals_and_holds(conn: sa.Connection) -> int | None:
        receipt_id = notifications.journal(conn, state_changed(InstanceState.STARTING))
        holding.set()
        release.wait(30)  # the transaction stays open, its notification journaled but not committed
        return receipt_id

    def journals(conn: sa.Connection) -> int | None:
        return notifications.journal(conn, state_changed(InstanceState.AUTHORIZED))

    first = asyncio.ensure_future(database.write(journals_and_holds))
    try:
        assert await asyncio.to_thread(holding.wait, 30)
        second = asyncio.ensure_future(other.write(journals))
        done, _ = await asyncio.wait([second], timeout=0.5)
        waited = not done
    finally:
        release.set()
    try:
        first_id, second_id = await first, await second
    finally:
        await other.dispose()
    # the second waited for the first's commit: it could neither take the next receiptId nor commit first
    assert waited, "the second transaction journaled while the first was still open"
    assert first_id is not None and second_id is not None
    assert first_id < second_id
    rows = await database.read(notifications.oldest_n, INSTANCE_ID, 10)
    assert [row.fact for row in rows] == [
        state_changed(InstanceState.STARTING),
        state_changed(InstanceState.AUTHORIZED),
    ]


# --- a group of moves ------------------------------------------------------------------------------------


async def test_a_group_of_moves_is_the_moves_one_by_one(database: Database) -> None:
    """outbox.transition_many (the preparer's group commits): the winners move, write their journal rows and
    notifications in order; a move whose status has moved on meanwhile loses and leaves no trace."""
    queued = [
        intake.NewStatus(INSTANCE_ID, f"3EB0{n:016X}", TextPost(f"status {n}"), 10.0, 1e12) for n in range(4)
    ]
    await database.write(intake.enqueue_many, queued)
    seqs = [row.seq for row in await database.read(outbox.list_pending, INSTANCE_ID, 10)]

    # the second one was sent meanwhile: its move from ready is lost
    def sent(conn: sa.Connection) -> None:
        outbox.transition(conn, seqs[1], StatusState.READY, StatusState.SENDING, 11.0)
        outbox.transition(conn, seqs[1], StatusState.SENDING, StatusState.SENT, 11.5)

    await database.write(sent)
    lease = (("lease_owner", None), ("lease_expires_at", None))
    moves = [
        outbox.Move(seqs[0], StatusState.READY, StatusState.FAILED, 12.0, "refused", lease),
        outbox.Move(seqs[1], StatusState.READY, StatusState.FAILED, 12.5, "refused", lease),
        outbox.Move(seqs[2], StatusState.READY, StatusState.CLEARED, 13.0),
        outbox.Move(seqs[3], StatusState.READY, StatusState.SENDING, 14.0, None, (("attempts", 1),)),
    ]
    answers = await database.write(outbox.transition_many, moves)
    assert [a is not None for a in answers] == [True, False, True, True]
    assert answers[0] == outbox.Moved(INSTANCE_ID, queued[0].id_message, False)

    rows = {row.seq: row for row in await database.read(lambda c: [outbox.get(c, s) for s in seqs]) if row}
    assert [rows[s].state for s in seqs] == [
        StatusState.FAILED,
        StatusState.SENT,
        StatusState.CLEARED,
        StatusState.SENDING,
    ]
    assert (rows[seqs[0]].description, rows[seqs[0]].updated_at) == ("refused", 12.0)
    assert rows[seqs[3]].attempts == 1 and rows[seqs[2]].updated_at == 13.0

    def journal_rows(conn: sa.Connection) -> list[tuple[int, str, float]]:
        query = sa.select(status_events.c.status_seq, status_events.c.state, status_events.c.at)
        return [(r.status_seq, r.state, r.at) for r in conn.execute(query.order_by(status_events.c.event_id))]

    moved_rows = [r for r in await database.read(journal_rows) if r[2] >= 12.0]
    assert moved_rows == [(seqs[0], "failed", 12.0), (seqs[2], "cleared", 13.0), (seqs[3], "sending", 14.0)]
    # reported moves, in the group's order, receiptIds counting on
    handed = await database.read(notifications.oldest_n, INSTANCE_ID, 10)
    assert [(n.receipt_id, n.fact.id_message, n.fact.description) for n in handed] == [  # type: ignore[union-attr]
        (1, queued[1].id_message, None),  # its send, before the group
        (2, queued[0].id_message, "refused"),
        (3, queued[2].id_message, "cleared"),
    ]

    # a status named twice in one group is a bug in the caller
    with pytest.raises(ValueError, match="at most once"):
        await database.write(outbox.transition_many, [moves[3], moves[3]])
