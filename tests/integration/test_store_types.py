"""What the store keeps comes back the same on SQLite and PostgreSQL, and reads run where db.py says.

Ids up to 19 digits (the 64-bit range), float timestamps to the microsecond, booleans with their server
defaults, JSON with non-ASCII text and nesting, keys and upload names longer than 0001 declared (0002
widened them: PostgreSQL enforces lengths, SQLite never did), and queue order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from statusgate.ids import INT64_MAX
from statusgate.settings import Settings
from statusgate.store import migrate
from statusgate.store.db import Database
from statusgate.store.schema.instances import instances
from statusgate.store.schema.media import media, media_sources, uploads
from statusgate.store.schema.sandbox import sandbox_events
from statusgate.store.schema.statuses import statuses

AT = 1_796_162_396.123456  # a unix time with microseconds
#: an upload's name and type as a client may send them: longer than 0001 declared
LONG = {"file_name": "p" * 400 + ".jpg", "mime_type": "image/jpeg; comment=" + "a" * 200}


def _database(settings: Settings) -> Database:
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # SQLite's directory, as every command makes it
    return Database(settings.effective_database_url)


def _instance(id_instance: int) -> dict[str, object]:
    return {
        "id_instance": id_instance,
        "engine": "sandbox",
        "token_hash": "0" * 64,
        "status_access": False,
        "settings": {"webhookUrl": "https://example.test/hook", "nested": {"list": [1, 2.5, None, True]}},
        "created_at": AT,
    }


def _status(instance_id: int, n: int) -> dict[str, object]:
    return {
        "instance_id": instance_id,
        "id_message": f"3EB0{n:016X}",
        "type": "sendTextStatus",
        "body": {"message": "Привет, 世界 👋", "backgroundColor": "#228B22"},
        "state": "ready",
        "created_at": AT + n,
        "updated_at": AT + n,
        "expires_at": AT + 86_400,
        "last_action_at": AT + n,
    }


async def test_values_come_back_as_they_were_stored(make_settings: Callable[..., Settings]) -> None:
    db = _database(make_settings())
    await migrate.upgrade(db)
    largest = INT64_MAX  # 9223372036854775807: 19 digits

    def write(conn: sa.Connection) -> list[int]:
        conn.execute(instances.insert(), [_instance(largest), _instance(1_000_000_001)])
        conn.execute(statuses.insert(), [_status(largest, n) for n in range(3)])
        conn.execute(
            sandbox_events.insert(), {"instance_id": largest, "kind": "state", "payload": {}, "at": AT}
        )
        conn.execute(
            media.insert(),
            {"media_id": "a" * 64, "kind": "image", "mime_type": "image/jpeg", "extension": "jpg"}
            | {"size": 2**40, "created_at": AT},
        )
        conn.execute(
            media_sources.insert(), {"source_key": "k" * 300, "media_id": "a" * 64, "created_at": AT}
        )
        conn.execute(
            uploads.insert(), {"upload_id": "u", "sha256": "a" * 64, "size": 1, "created_at": AT} | LONG
        )
        return list(conn.scalars(sa.select(statuses.c.seq).order_by(statuses.c.seq)))

    seqs = await db.write(write)

    def read(conn: sa.Connection) -> tuple[Any, ...]:
        instance = conn.execute(sa.select(instances).where(instances.c.id_instance == largest)).one()
        status = conn.execute(sa.select(statuses).where(statuses.c.seq == seqs[0])).one()
        event = conn.execute(sa.select(sandbox_events)).one()
        size = conn.execute(sa.select(media.c.size, media_sources.c.source_key).join(media_sources)).one()
        upload = conn.execute(sa.select(uploads.c.file_name, uploads.c.mime_type)).one()
        return instance, status, event, size, upload

    instance, status, event, size, upload = await db.read(read)
    await db.dispose()
    assert instance.id_instance == largest and type(instance.id_instance) is int
    assert instance.status_access is False
    assert instance.settings == _instance(largest)["settings"]
    assert instance.created_at == AT
    assert instance.last_receipt_id == 0  # server default
    assert status.instance_id == largest
    assert status.body == _status(largest, 0)["body"]
    assert status.delete_requested is False and status.attempts == 0  # server defaults
    assert event.consumed is False
    assert size == (2**40, "k" * 300)
    assert upload._asdict() == LONG
    assert len(seqs) == 3 and seqs == sorted(seqs)  # the queue's order is the insert order


async def test_reads_never_block_the_event_loop_on_a_database_server(
    make_settings: Callable[..., Settings],
) -> None:
    db = _database(make_settings())
    thread = await db.read(lambda _conn: threading.current_thread())
    is_sqlite = db.is_sqlite
    await db.dispose()
    if is_sqlite:  # an indexed read takes microseconds and never waits for a lock (WAL): run it in place
        assert thread is threading.main_thread()
    else:  # a network round trip: in the reader threads
        assert thread.name.startswith("statusgate-db-read")
