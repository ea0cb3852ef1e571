"""engine_keys: an account's session keys in the database, so any worker can take the account over (issue 13)

Revision ID: 0009
Create Date: 2026-12-04 09:00:00.000000

A new table only: no engine kept its keys in the database before (the whatsapp engine's stay in its
session dir), so there is nothing to move.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engine_keys",
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id_instance"],
            name=op.f("fk_engine_keys_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", "category", "key_id", name=op.f("pk_engine_keys")),
    )


def downgrade() -> None:
    op.drop_table("engine_keys")
