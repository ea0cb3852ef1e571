"""status_chunks: the baileys engine's record of each chunk of a status, before it leaves and after its ack

Revision ID: 0010
Create Date: 2026-12-04 02:00:00.000000

A new table only: no engine sent in chunks before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_chunks",
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("id_message", sa.String(length=64), nullable=False),
        sa.Column("chunk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=32), nullable=True),
        sa.Column("dropped", sa.JSON(), nullable=True),
        sa.Column("sent_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id_instance"],
            name=op.f("fk_status_chunks_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", "id_message", "chunk", name=op.f("pk_status_chunks")),
    )


def downgrade() -> None:
    op.drop_table("status_chunks")
