"""instance_owners: which worker holds each instance, for a lease, with an epoch

Revision ID: 0005
Create Date: 2026-12-02 03:30:00.000000

A new table only; its rows appear as workers claim instances, so existing instances need none here. The
workers' heartbeats move to the database's clock: a row written on a machine's clock by the previous release
at most looks stale for one lease, and its worker heartbeats again within a third of one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_owners",
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("worker_id", sa.String(length=32), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id_instance"],
            name=op.f("fk_instance_owners_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_instance_owners")),
    )
    op.create_index("ix_instance_owners_worker_id", "instance_owners", ["worker_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_instance_owners_worker_id", table_name="instance_owners")
    op.drop_table("instance_owners")
