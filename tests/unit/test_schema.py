"""The migrations and the declared schema (store/schema.py) must describe the same database."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from statusgate.settings_doc import render
from statusgate.store import migrate
from statusgate.store.db import Database
from statusgate.store.schema import metadata

ROOT = Path(__file__).resolve().parents[2]


async def test_migrated_schema_equals_declared(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await migrate.upgrade(db)
    await migrate.upgrade(db)  # idempotent

    def diff(conn: sa.Connection) -> list[object]:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": False}
        )
        return list(compare_metadata(context, metadata))

    differences = await db.read(diff)
    await db.dispose()
    assert differences == []


async def test_sqlite_is_tuned(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")

    def pragmas(conn: sa.Connection) -> tuple[object, ...]:
        return tuple(
            conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        )

    assert await db.read(pragmas) == ("wal", 1, 10000, 1)  # synchronous=1 is NORMAL
    await db.dispose()


def test_settings_doc_is_current() -> None:
    assert (ROOT / "docs" / "settings.md").read_text() == render(), (
        "run: statusgate settings-doc > docs/settings.md"
    )
