"""workers, commands and engine_states: what the api and worker roles share

Revision ID: 0004
Create Date: 2026-12-01 23:00:00.000000

Workers register and heartbeat; API nodes write commands for the live sessions and the owning worker
answers them; engines whose state lives in a session write it to engine_states for every process to read.
New tables only: nothing existing is touched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("worker_id", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_workers")),
    )
    op.create_table(
        "commands",
        sa.Column("command_id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("deadline", sa.Float(), nullable=False),
        sa.Column("taken_by", sa.String(length=32), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id_instance"],
            name=op.f("fk_commands_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("command_id", name=op.f("pk_commands")),
    )
    op.create_index("ix_commands_state_command_id", "commands", ["state", "command_id"], unique=False)
    op.create_table(
        "engine_states",
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("wid", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("contacts", sa.JSON(), nullable=True),
        sa.Column("contacts_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id_instance"],
            name=op.f("fk_engine_states_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_engine_states")),
    )


def downgrade() -> None:
    op.drop_table("engine_states")
    op.drop_index("ix_commands_state_command_id", table_name="commands")
    op.drop_table("commands")
    op.drop_table("workers")
