"""Instances: credentials (token hashes only), engine choice, Green settings, pacing clock."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.instance_settings import (
    DELAY_KEY,
    ON_BY_DEFAULT,
    WEBHOOK_URL_KEY,
    WEBHOOK_URL_TOKEN_KEY,
    InstanceSettings,
    Switch,
)
from statusgate.domain.models import EngineName, Instance
from statusgate.store.schema.instances import instances


def settings_from_stored(stored: Mapping[str, Any] | None) -> InstanceSettings:
    """An instance's settings from their JSON (release 0.1's form: Green's key names and "yes"/"no").

    Earlier releases accepted ``null`` for any key, and a null delay stopped the instance's sender for good,
    so what is read back is checked, not trusted: a value that cannot be used is its default. An unusable
    ``webhookUrlToken`` is kept as it is, because dropping it would send webhooks without the receiver's
    credentials; the webhook sender refuses it with a logged reason instead.
    """
    raw = dict(stored or {})
    delay = raw.get(DELAY_KEY)
    switches = set()
    for switch in Switch:
        value = raw.get(switch.value)
        if value == "yes" or (value != "no" and switch in ON_BY_DEFAULT):
            switches.add(switch)
    url, token = raw.get(WEBHOOK_URL_KEY), raw.get(WEBHOOK_URL_TOKEN_KEY)
    return InstanceSettings(
        webhook_url=url if isinstance(url, str) else "",
        webhook_url_token=token if isinstance(token, str) else "",
        delay_ms=delay if isinstance(delay, int) and not isinstance(delay, bool) and delay >= 0 else None,
        switches_on=frozenset(switches),
    )


#: how many distinct stored forms ``settings_from_text`` keeps parsed; most instances share a few
SETTINGS_PARSED_KEPT = 4096


@functools.lru_cache(maxsize=SETTINGS_PARSED_KEPT)
def settings_from_text(text: str | None) -> InstanceSettings:
    """``settings_from_stored`` of the column's JSON text. The sender reads an instance's settings before
    every send and the journal before every notification; the value is immutable, so one parse per distinct
    text serves them all (decoding and checking the JSON was ~5 % of a dispatch run)."""
    return settings_from_stored(json.loads(text) if text else None)


#: the settings column as the database holds it (text), for ``settings_from_text``
SETTINGS_TEXT = sa.cast(instances.c.settings, sa.Text).label("settings")


def settings_to_stored(settings: InstanceSettings) -> dict[str, Any]:
    stored: dict[str, Any] = {
        WEBHOOK_URL_KEY: settings.webhook_url,
        WEBHOOK_URL_TOKEN_KEY: settings.webhook_url_token,
    }
    if settings.delay_ms is not None:
        stored[DELAY_KEY] = settings.delay_ms
    for switch in Switch:
        stored[switch.value] = "yes" if settings.on(switch) else "no"
    return stored


def _row_to_instance(row: sa.Row[Any]) -> Instance:
    return Instance(
        id_instance=row.id_instance,
        name=row.name,
        engine=EngineName(row.engine),
        token_hash=row.token_hash,
        status_access=row.status_access,
        settings=settings_from_text(row.settings),
        created_at=row.created_at,
        last_send_ended_at=row.last_send_ended_at,
    )


def insert(conn: Connection, instance: Instance) -> None:
    conn.execute(
        instances.insert().values(
            id_instance=instance.id_instance,
            name=instance.name,
            engine=instance.engine.value,
            token_hash=instance.token_hash,
            status_access=instance.status_access,
            settings=settings_to_stored(instance.settings),
            created_at=instance.created_at,
        )
    )


def exists(conn: Connection, id_instance: int) -> bool:
    found = conn.scalar(sa.select(instances.c.id_instance).where(instances.c.id_instance == id_instance))
    return found is not None


#: every column, the settings as text (``_row_to_instance``)
_ROW = (*(column for column in instances.c if column.name != "settings"), SETTINGS_TEXT)
_GET = sa.select(*_ROW).where(instances.c.id_instance == sa.bindparam("id_instance"))
_SET_LAST_SEND = (
    instances.update()
    .where(instances.c.id_instance == sa.bindparam("w_id"))
    .values(last_send_ended_at=sa.bindparam("v_at"))
)


def get(conn: Connection, id_instance: int) -> Instance | None:
    row = conn.execute(_GET, {"id_instance": id_instance}).first()
    return _row_to_instance(row) if row else None


def get_by_name(conn: Connection, name: str) -> Instance | None:
    row = (conn.execute(sa.select(*_ROW).where(instances.c.name == name))).first()
    return _row_to_instance(row) if row else None


def list_all(conn: Connection) -> list[Instance]:
    rows = conn.execute(sa.select(*_ROW).order_by(instances.c.created_at, instances.c.id_instance))
    return [_row_to_instance(r) for r in rows]


def delete(conn: Connection, id_instance: int) -> bool:
    result = conn.execute(instances.delete().where(instances.c.id_instance == id_instance))
    return result.rowcount > 0


def set_token_hash(conn: Connection, id_instance: int, token_hash: str) -> bool:
    result = conn.execute(
        instances.update().where(instances.c.id_instance == id_instance).values(token_hash=token_hash)
    )
    return result.rowcount > 0


def set_status_access(conn: Connection, id_instance: int, allowed: bool) -> bool:
    result = conn.execute(
        instances.update().where(instances.c.id_instance == id_instance).values(status_access=allowed)
    )
    return result.rowcount > 0


def set_settings(conn: Connection, id_instance: int, settings: InstanceSettings) -> None:
    stored = settings_to_stored(settings)
    conn.execute(instances.update().where(instances.c.id_instance == id_instance).values(settings=stored))


def set_last_send_ended(conn: Connection, id_instance: int, at: float) -> None:
    """The pacing clock: the instance's previous send call returned (or its outcome was settled) at ``at``."""
    conn.execute(_SET_LAST_SEND, {"w_id": id_instance, "v_at": at})


def set_last_sends_ended(conn: Connection, ends: Sequence[tuple[int, float]]) -> None:
    """:func:`set_last_send_ended` for (instance, at) pairs, in one statement."""
    if ends:
        conn.execute(_SET_LAST_SEND, [{"w_id": id_instance, "v_at": at} for id_instance, at in ends])
