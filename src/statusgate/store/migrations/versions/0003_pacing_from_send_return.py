"""pacing counts from the previous send's return: instances.last_send_ended_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:00:00.000000

Until 0002 an instance's next send started no earlier than the delay after the previous send *started*
(``last_send_started_at``); from 0003 it is after the previous send call *returned*, so the network receives
an instance's statuses at least the delay apart. When the previous send returned is not on record: it was
before this upgrade (every process migrates when it starts, before it sends), so an instance that had sent
counts from the upgrade itself — its next send waits one delay, never less. Downgrading keeps the return as
the start: later than the real start, so the older rule still never sends early.

On SQLite the columns are added and dropped in place (batch mode, never recreating the table, which needs
SQLite 3.35 for DROP COLUMN): instances is the parent of most tables, and rebuilding it would run their
ON DELETE CASCADE when the old table is dropped. PostgreSQL runs the same ALTER TABLE statements.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _move(old: str, new: str, *, copy: bool) -> None:
    """Replace column ``old`` with ``new``: its value where ``copy``, else the time of the upgrade."""
    with op.batch_alter_table("instances", recreate="never") as batch_op:
        batch_op.add_column(sa.Column(new, sa.Float(), nullable=True))
    instances = sa.table("instances", sa.column(old, sa.Float()), sa.column(new, sa.Float()))
    value = instances.c[old] if copy else sa.literal(time.time(), sa.Float())
    op.execute(instances.update().where(instances.c[old].is_not(None)).values({new: value}))
    with op.batch_alter_table("instances", recreate="never") as batch_op:
        batch_op.drop_column(old)


def upgrade() -> None:
    _move("last_send_started_at", "last_send_ended_at", copy=False)


def downgrade() -> None:
    _move("last_send_ended_at", "last_send_started_at", copy=True)
