"""Apply Alembic migrations: every command does this at start (a fresh data dir just works), and
``statusgate migrate`` does only this.

One upgrade at a time. An upgrade is one transaction (SQLite and PostgreSQL both have transactional DDL):
on SQLite it begins with ``BEGIN IMMEDIATE``, the file's one write lock; on PostgreSQL its first statement
takes a transaction-level advisory lock (:data:`UPGRADE_LOCK`). Two processes started together therefore
never run the same migration twice: the second waits, then finds the database at head.

A database at a revision this release does not know was migrated by a newer release. It is refused with
:class:`UnknownRevisionError` before anything is changed, rather than run by code written for another schema.

A database already at :data:`NEWEST` is found so with one query, without Alembic: importing it is a good part
of a CLI command's start, and almost every start finds nothing to do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from statusgate.store.db import Database

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: the newest revision, read from the scripts' names (``NNNN_what.py`` is revision ``"NNNN"``) rather than
#: from Alembic; tests/unit/test_schema.py holds it equal to Alembic's head
NEWEST = max(path.name[:4] for path in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))

#: the key of the PostgreSQL advisory lock held while a process upgrades (any fixed 64-bit number will do:
#: this one is "sg-mig" in ASCII)
UPGRADE_LOCK = 0x73_67_2D_6D_69_67


class UnknownRevisionError(Exception):
    """The database is at a revision this release does not know (a newer release migrated it)."""

    def __init__(self, revision: str, head: str) -> None:
        super().__init__(
            f"at revision {revision}, which this statusgate does not know (its newest is {head}): "
            "a newer release migrated it; run that release or a later one"
        )
        self.revision = revision


@dataclass(frozen=True)
class Upgraded:
    """What an upgrade did: the revision before (None: an empty database) and after."""

    before: str | None
    after: str

    def __str__(self) -> str:
        if self.before == self.after:
            return f"database at revision {self.after} (head)"
        return f"database upgraded from {self.before or 'empty'} to revision {self.after} (head)"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this release knows."""
    found = _scripts().get_current_head()
    assert found is not None
    return found


def current(conn: sa.Connection) -> str | None:
    """The revision the database is at (None: no statusgate schema yet)."""
    from alembic.migration import MigrationContext

    heads = MigrationContext.configure(conn).get_current_heads()
    return heads[0] if heads else None


def upgrade_in(conn: sa.Connection) -> Upgraded:
    """Bring the database of ``conn`` (a connection in a transaction) to head, one process at a time."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK})
    if _at_newest(conn):
        return Upgraded(NEWEST, NEWEST)
    from alembic import command

    before = current(conn)
    newest = head()
    if before is not None and before not in {script.revision for script in _scripts().walk_revisions()}:
        raise UnknownRevisionError(before, newest)
    if before != newest:
        command.upgrade(alembic_config(conn), newest)
    return Upgraded(before, newest)


def _at_newest(conn: sa.Connection) -> bool:
    """Whether the database is at :data:`NEWEST`, as :func:`current` would find it."""
    if not sa.inspect(conn).has_table("alembic_version"):  # Alembic's table (its default name)
        return False
    found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return found == [NEWEST]


async def upgrade(db: Database) -> Upgraded:
    return await db.write(upgrade_in)


def upgrade_database(url: str) -> Upgraded:
    """Open the database at ``url``, upgrade it, close it (``statusgate migrate``)."""
    db = Database(url)
    try:
        return db.write_now(upgrade_in)
    finally:
        db.dispose_now()
