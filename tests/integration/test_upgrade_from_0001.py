"""A database made by the released version (revision 0001) is upgraded and drained: every status once.

The database is built as statusgate 0.1 left it when its process died: migrated to 0001 by the migration
itself, then rows written as 0.1 wrote them (its column values and JSON shapes, spelled out here so that a
change of today's store code cannot change the test): an authorized sandbox account with two named contacts,
two media statuses ``queued``, a text status ``ready``, and two text statuses ``sending`` whose lease lapsed —
one of them already received by the network before the crash, one not. Then a real ``statusgate serve``
starts on it (which migrates it to head) and the simulated network's own records, one row per delivery,
repeats included, say whether each status reached each of its audience exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from statusgate.ids import hash_token
from statusgate.store import migrate
from statusgate.store.dialects import database_url
from tests.postgres import Cluster
from tests.support import FileServer, ServerProcess, base_env, jpeg_bytes, wait_for

INSTANCE = 1_100_000_001
TOKEN = "ab" * 25
ACCOUNT = "79990000100@c.us"
UPLOAD = "sLEBbx0SMB95F9K0cn_7fAYV"
AUDIENCE = ["79990000001@c.us", "79990000002@c.us"]
#: a conversion key as 0.1 made them on SQLite: longer than the 128 characters 0001 declared, which
#: PostgreSQL enforces (0002 widens the column)
LONG_SOURCE_KEY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855:image:" + "c2;s60;" * 12


def _settings_0_1() -> dict[str, Any]:
    """An instance's settings as 0.1's ``default_settings(500)`` stored them."""
    on = {
        "outgoingWebhook",
        "outgoingAPIMessageWebhook",
        "outgoingMessageWebhook",
        "incomingWebhook",
        "stateWebhook",
    }
    yes_no = [
        "markIncomingMessagesReaded",
        "markIncomingMessagesReadedOnReply",
        "outgoingWebhook",
        "outgoingMessageWebhook",
        "outgoingAPIMessageWebhook",
        "incomingWebhook",
        "deviceWebhook",
        "statusInstanceWebhook",
        "stateWebhook",
        "enableMessagesHistory",
        "keepOnlineStatus",
        "pollMessageWebhook",
        "incomingBlockWebhook",
        "incomingCallWebhook",
        "editedMessageWebhook",
        "deletedMessageWebhook",
        "incomingMessageStatusWebhook",
    ]
    settings: dict[str, Any] = {"webhookUrl": "", "webhookUrlToken": "", "delaySendMessagesMilliseconds": 500}
    settings.update({key: "yes" if key in on else "no" for key in yes_no})
    return settings


def _write_0_1_rows(conn: sa.Connection, picture_url: str, source_key: str) -> dict[str, str]:
    """The rows 0.1 left behind; the statuses by message id, with the state each was in."""
    tables = sa.MetaData()
    tables.reflect(conn)  # the tables as revision 0001 made them, not as today's schema declares them
    t = tables.tables
    now = time.time()
    conn.execute(
        t["instances"].insert(),
        {
            "id_instance": INSTANCE,
            "name": None,
            "engine": "sandbox",
            "token_hash": hash_token(TOKEN),
            "status_access": True,
            "settings": _settings_0_1(),
            "created_at": now - 600,
            "last_send_started_at": now - 70,
            "last_receipt_id": 0,
        },
    )
    conn.execute(
        t["sandbox_accounts"].insert(),
        {
            "instance_id": INSTANCE,
            "wid": ACCOUNT,
            "state": "authorized",
            "pairing_ref": "0" * 32,
            "starting_until": None,
            "state_changed_at": now - 600,
        },
    )
    conn.execute(
        t["sandbox_users"].insert(),
        [{"wid": ACCOUNT, "push_name": "statusgate sandbox"}]
        + [{"wid": wid, "push_name": f"Contact {i}"} for i, wid in enumerate(AUDIENCE)],
    )
    conn.execute(
        t["sandbox_contacts"].insert(),
        [
            {
                "instance_id": INSTANCE,
                "wid": wid,
                "position": i,
                "name": f"Contact {i}",
                "contact_name": f"Contact {i}",
                "in_address_book": True,
            }
            for i, wid in enumerate(AUDIENCE)
        ],
    )
    # a conversion of an earlier status, kept by the media cache
    conn.execute(
        t["media"].insert(),
        {
            "media_id": "f" * 64,
            "kind": "image",
            "mime_type": "image/jpeg",
            "extension": "jpg",
            "size": 1000,
            "created_at": now - 500,
            "jpeg_thumbnail": None,
            "width": 90,
            "height": 160,
            "duration_seconds": None,
            "waveform": None,
        },
    )
    conn.execute(
        t["media_sources"].insert(), {"source_key": source_key, "media_id": "f" * 64, "created_at": now - 500}
    )
    conn.execute(
        t["uploads"].insert(),
        {
            "upload_id": UPLOAD,
            "instance_id": INSTANCE,
            "file_name": "holiday photo.jpg",
            "mime_type": "image/jpeg",
            "sha256": "e" * 64,
            "size": 1000,
            "created_at": now - 400,
            "expires_at": now + 86_400,
        },
    )
    picture = {"urlFile": picture_url, "fileName": "status.jpg", "caption": "from 0.1"}
    left: dict[str, str] = {}
    for n, (state, type_, body, kind) in enumerate(
        [
            ("sending", "sendTextStatus", {"message": "sent before the crash"}, None),
            ("sending", "sendTextStatus", {"message": "never reached the network"}, None),
            ("ready", "sendTextStatus", {"message": "waiting", "backgroundColor": "#228B22"}, None),
            ("queued", "sendMediaStatus", picture, "image"),
            ("queued", "sendMediaStatus", picture | {"caption": "second"}, "image"),
        ]
    ):
        id_message = f"3EB0{n:016X}"
        sending = state == "sending"
        created = now - 300 + n
        seq = conn.execute(
            t["statuses"]
            .insert()
            .values(
                instance_id=INSTANCE,
                id_message=id_message,
                type=type_,
                body=body,
                kind=kind,
                state=state,
                description=None,
                media_id=None,
                created_at=created,
                updated_at=now - 70 if sending else created,
                expires_at=created + 86_400,
                attempts=1 if sending else 0,
                not_before=None,
                # the dead process's lease, lapsed (0.1's default lease was 30 s)
                lease_owner="0.1-process" if sending else None,
                lease_expires_at=now - 40 if sending else None,
                recipients=AUDIENCE if sending else None,
                skipped_participants=[] if sending else None,
                sent_at=None,
                delete_requested=False,
                last_action_at=now - 70 if sending else created,
            )
            .returning(t["statuses"].c.seq)
        ).scalar_one()
        events = ["queued"] + (["ready"] if kind is None else []) + (["sending"] if sending else [])
        conn.execute(
            t["status_events"].insert(),
            [{"status_seq": seq, "state": e, "at": created, "description": None} for e in events],
        )
        left[id_message] = state
    # the network got the first sending status before the process died (the commit of "sent" never came)
    delivered_id = "3EB0" + f"{0:016X}"
    row = conn.execute(
        t["sandbox_messages"]
        .insert()
        .values(
            instance_id=INSTANCE,
            message_id=delivered_id,
            kind="sendTextStatus",
            payload={"type": "sendTextStatus", "body": {"message": "sent before the crash"}},
            at=now - 69,
            revoked_at=None,
        )
        .returning(t["sandbox_messages"].c.row_id)
    ).scalar_one()
    conn.execute(
        t["sandbox_deliveries"].insert(),
        [{"message_row": row, "recipient": wid, "at": now - 69} for wid in AUDIENCE],
    )
    conn.execute(
        t["sandbox_events"].insert(),
        [
            {
                "instance_id": INSTANCE,
                "kind": "receipt",
                "payload": {"message_id": delivered_id, "participant": wid, "status": "delivered"},
                "at": now - 69,
                "consumed": False,
            }
            for wid in AUDIENCE
        ],
    )
    return left


def _database_at_0001(url: str, picture_url: str, source_key: str) -> dict[str, str]:
    engine = sa.create_engine(database_url(url), poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            command.upgrade(migrate.alembic_config(conn), "0001")
            assert migrate.current(conn) == "0001"
            return _write_0_1_rows(conn, picture_url, source_key)
    finally:
        engine.dispose()


def _store(url: str) -> tuple[str | None, dict[str, str], list[tuple[str, str]], list[str], list[str]]:
    """The revision, each status's state, the network's deliveries, the cached conversion keys, the uploads."""
    engine = sa.create_engine(database_url(url), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            revision = migrate.current(conn)
            states = {
                r.id_message: r.state for r in conn.execute(sa.text("SELECT id_message, state FROM statuses"))
            }
            deliveries = conn.execute(
                sa.text(
                    "SELECT m.message_id, d.recipient FROM sandbox_deliveries d "
                    "JOIN sandbox_messages m ON m.row_id = d.message_row ORDER BY d.row_id"
                )
            )
            keys = list(conn.scalars(sa.text("SELECT source_key FROM media_sources")))
            uploads = [f"{r.upload_id} {r.file_name}" for r in conn.execute(sa.text("SELECT * FROM uploads"))]
            return revision, states, [(r.message_id, r.recipient) for r in deliveries], keys, uploads
    finally:
        engine.dispose()


def test_a_0001_database_with_queued_and_sending_statuses_drains_exactly_once(
    store_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data_dir = tmp_path / "data"
    if store_backend == "sqlite":
        data_dir.mkdir()
        url = f"sqlite:///{data_dir / 'statusgate.db'}"
    else:
        cluster: Cluster = request.getfixturevalue("postgres")
        url = cluster.url(cluster.new_database(migrated=False), scheme="postgresql")
    source_key = LONG_SOURCE_KEY if store_backend == "sqlite" else LONG_SOURCE_KEY[:128]
    with FileServer() as files:
        left = _database_at_0001(url, files.add("/status.jpg", jpeg_bytes()), source_key)
        assert sorted(left.values()) == ["queued", "queued", "ready", "sending", "sending"]
        env = base_env(data_dir, database_url=url, delay_default_ms=20)
        with ServerProcess(env, tmp_path / "server.log") as server:

            def drained() -> bool:
                return set(_store(url)[1].values()) == {"sent"}

            wait_for(drained, timeout=60, what="every status of the 0.1 database sent")
    password = sa.make_url(url).password
    assert password is None or password not in server.output()
    revision, states, deliveries, keys, uploads = _store(url)
    assert revision == migrate.head()
    assert states == dict.fromkeys(left, "sent")
    received: dict[tuple[str, str], int] = {}
    for id_message, recipient in deliveries:
        received[id_message, recipient] = received.get((id_message, recipient), 0) + 1
    assert received == {(id_message, wid): 1 for id_message in left for wid in AUDIENCE}
    assert uploads == [f"{UPLOAD} holiday photo.jpg"]  # came through 0002 as well
    # the cache of conversions came through 0002, and takes today's keys (longer than 128 characters)
    assert source_key in keys and len(keys) == 2 and all(len(k) > 128 for k in keys if k != source_key), keys


def test_the_upgrade_leaves_one_sending_status_per_instance_and_the_next_asks_first(
    store_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """0.1 could leave two ``sending`` statuses of an instance; 0006 allows one: the oldest stays, the later
    one goes back to ``ready`` with its attempt counted (its next attempt asks the engine before sending)."""
    if store_backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'statusgate.db'}"
    else:
        cluster: Cluster = request.getfixturevalue("postgres")
        url = cluster.url(cluster.new_database(migrated=False), scheme="postgresql")
    _database_at_0001(url, "http://127.0.0.1:9/status.jpg", LONG_SOURCE_KEY[:128])
    migrate.upgrade_database(url)
    engine = sa.create_engine(database_url(url), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT id_message, state, attempts, lease_owner FROM statuses ORDER BY seq")
            ).all()
            later_events = conn.scalars(
                sa.text(
                    "SELECT e.state FROM status_events e JOIN statuses s ON s.seq = e.status_seq "
                    "WHERE s.id_message = :id ORDER BY e.event_id"
                ),
                {"id": "3EB0" + f"{1:016X}"},
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows[:2]] == [
        ("3EB0" + f"{0:016X}", "sending", 1, "0.1-process"),
        ("3EB0" + f"{1:016X}", "ready", 1, None),
    ]
    assert later_events == ["queued", "ready", "sending", "ready"]
