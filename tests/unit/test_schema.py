"""The migrations and the declared schema (store/schema/) must describe the same database, on SQLite and
on PostgreSQL; and revision 0001 must go on making on SQLite exactly what the released version made."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from statusgate.settings_doc import render
from statusgate.store import migrate
from statusgate.store.db import Database
from statusgate.store.schema import metadata
from tests.postgres import Cluster, postgres  # noqa: F401 - ``postgres`` is the session's cluster (a fixture)

ROOT = Path(__file__).resolve().parents[2]
#: sqlite_master of a database at revision 0001 as statusgate 0.1 made it
RELEASED_0001 = Path(__file__).with_name("schema_0001_sqlite.sql")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    cluster: Cluster = request.getfixturevalue("postgres")
    return cluster.url(cluster.new_database(migrated=False))


def test_the_newest_revision_is_alembics_head() -> None:
    """A database at ``migrate.NEWEST`` is taken to be up to date without asking Alembic: they must agree."""
    assert migrate.head() == migrate.NEWEST


async def test_migrated_schema_equals_declared(empty_database: str) -> None:
    db = Database(empty_database)
    assert (await migrate.upgrade(db)).before is None
    again = await migrate.upgrade(db)  # idempotent
    assert again.before == again.after == migrate.head()

    def diff(conn: sa.Connection) -> list[object]:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))

    differences = await db.read(diff)
    await db.dispose()
    assert differences == []


def _sqlite_schema(path: Path) -> list[str]:
    """sqlite_master as comparable lines: each entry's kind and name, then its SQL with whitespace collapsed."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    lines = []
    for kind, name, table, sql in rows:
        lines.append(f"-- {kind} {name} on {table}")
        if sql is not None:
            lines.append(" ".join(f"{sql};".split()))
    return lines


def _released_0001() -> list[str]:
    """The same lines from the file: a header, then one block per entry (its head line, then its SQL)."""
    _header, *blocks = RELEASED_0001.read_text().strip().split("\n\n")
    lines = []
    for block in blocks:
        head, _, sql = block.partition("\n")
        lines.append(head)
        if sql:
            lines.append(" ".join(sql.split()))
    return lines


def test_revision_0001_makes_the_released_sqlite_schema(tmp_path: Path) -> None:
    path = tmp_path / "0001.db"
    db = Database(f"sqlite:///{path}")
    db.write_now(lambda conn: command.upgrade(migrate.alembic_config(conn), "0001"))
    db.dispose_now()
    assert _sqlite_schema(path) == _released_0001()


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
