"""statuses: at most one ``sending`` status per instance (a partial unique index)

Revision ID: 0006
Create Date: 2026-12-02 08:00:00.000000

The sender only ever takes an instance's head, and only its owner does; the index makes the database refuse
a second status on its way out for the same instance should anything else ever try.

A database of a release before instance ownership can hold more than one ``sending`` status of an instance
(left behind by a process that died mid-send). Of those, the oldest stays ``sending``; each later one goes back
to ``ready`` with its attempt counted, so its next attempt first asks the engine whether it reached the
network, exactly as a ``sending`` status left behind would be: nothing is resent blindly, nothing is lost.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SENDING_SQL = "state = 'sending'"
REASON = (
    "another status of this instance was on its way at the upgrade; its outcome is asked before it is sent"
)

statuses = sa.table(
    "statuses",
    sa.column("seq", sa.BigInteger()),
    sa.column("instance_id", sa.BigInteger()),
    sa.column("state", sa.String()),
    sa.column("attempts", sa.Integer()),
    sa.column("lease_owner", sa.String()),
    sa.column("lease_expires_at", sa.Float()),
    sa.column("description", sa.Text()),
    sa.column("updated_at", sa.Float()),
)
status_events = sa.table(
    "status_events",
    sa.column("status_seq", sa.BigInteger()),
    sa.column("state", sa.String()),
    sa.column("at", sa.Float()),
    sa.column("description", sa.Text()),
)


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(statuses.c.seq, statuses.c.instance_id)
        .where(statuses.c.state == "sending")
        .order_by(statuses.c.instance_id, statuses.c.seq)
    ).all()
    oldest: set[int] = set()
    later: list[int] = []
    for seq, instance_id in rows:
        if instance_id in oldest:
            later.append(seq)
        else:
            oldest.add(instance_id)
    now = time.time()
    for seq in later:
        conn.execute(
            statuses.update()
            .where(statuses.c.seq == seq)
            .values(
                state="ready",
                attempts=sa.case((statuses.c.attempts < 1, 1), else_=statuses.c.attempts),
                lease_owner=None,
                lease_expires_at=None,
                description=REASON,
                updated_at=now,
            )
        )
    if later:
        conn.execute(
            status_events.insert(),
            [{"status_seq": seq, "state": "ready", "at": now, "description": REASON} for seq in later],
        )
    op.create_index(
        "ux_statuses_one_sending_per_instance",
        "statuses",
        ["instance_id"],
        unique=True,
        sqlite_where=sa.text(SENDING_SQL),
        postgresql_where=sa.text(SENDING_SQL),
    )


def downgrade() -> None:
    op.drop_index("ux_statuses_one_sending_per_instance", table_name="statuses")
