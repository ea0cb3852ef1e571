"""Apply Alembic migrations; every command does this at start, so a fresh data dir just works."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from statusgate.store.db import Database

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade(conn: sa.Connection) -> None:
    command.upgrade(alembic_config(conn), "head")


async def upgrade(db: Database) -> None:
    await db.write(_upgrade)
