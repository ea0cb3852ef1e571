"""The Partner API token's hash: one row, read by every API node."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.store.schema.access import partner_tokens

_ROW_ID = 1


def get_hash(conn: Connection) -> str | None:
    return conn.execute(sa.select(partner_tokens.c.token_hash).where(partner_tokens.c.id == _ROW_ID)).scalar()


def set_hash(conn: Connection, token_hash: str) -> None:
    now = time.time()
    if (
        conn.execute(
            partner_tokens.update()
            .where(partner_tokens.c.id == _ROW_ID)
            .values(token_hash=token_hash, updated_at=now)
        ).rowcount
        == 0
    ):
        conn.execute(partner_tokens.insert().values(id=_ROW_ID, token_hash=token_hash, updated_at=now))
