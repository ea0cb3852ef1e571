"""An incoming status is stored once: a repeat of its event is ignored (one statement, on SQLite and
PostgreSQL), and only the first one is journaled as a notification."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa

from statusgate.services import instances
from statusgate.settings import Settings
from statusgate.store import incoming
from statusgate.store.schema.statuses import incoming_statuses
from statusgate.wiring.core import Core


@pytest.fixture
async def core(make_settings: Callable[..., Settings]) -> AsyncIterator[Core]:
    opened = Core(make_settings())
    await opened.open()
    yield opened
    await opened.close()


async def test_a_repeated_incoming_status_is_stored_once(core: Core) -> None:
    instance_id = (await instances.create(core.ctx)).id_instance
    payload = {
        "typeMessage": "extendedTextMessage",
        "text": "hi",
        "backgroundColor": "#000000",
        "font": "SERIF",
    }
    row = incoming.IncomingRow(
        instance_id,
        "3EB0INCOMING1",
        100.0,
        "extendedTextMessage",
        "79001112233@c.us",
        "Ann",
        "",
        payload,
        None,
    )
    assert await core.ctx.db.write(incoming.record, row) is True
    assert await core.ctx.db.write(incoming.record, row) is False

    def count(conn: sa.Connection) -> int:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(incoming_statuses)) or 0)

    assert await core.ctx.db.read(count) == 1
    (stored,) = await core.ctx.db.read(incoming.since, instance_id, 0.0)
    assert (stored.id_message, stored.sender_name, stored.payload) == ("3EB0INCOMING1", "Ann", payload)
