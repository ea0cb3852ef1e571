"""console_sessions; when each recipient got and saw a status; what prepared media was made from (issue 14)

Revision ID: 0008
Create Date: 2026-12-03 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column(
            "id_instance",
            sa.BigInteger,
            sa.ForeignKey(
                "instances.id_instance",
                ondelete="CASCADE",
                name=op.f("fk_console_sessions_id_instance_instances"),
            ),
            nullable=True,
        ),
        sa.Column("credential_hash", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_seen_at", sa.Float, nullable=False),
    )
    op.create_index("ix_console_sessions_instance", "console_sessions", ["id_instance"])
    with op.batch_alter_table("status_recipients") as batch:
        batch.add_column(sa.Column("delivered_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("read_at", sa.Float, nullable=True))
    with op.batch_alter_table("media") as batch:
        batch.add_column(sa.Column("source_size", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("source_duration_seconds", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media") as batch:
        batch.drop_column("source_duration_seconds")
        batch.drop_column("source_size")
    with op.batch_alter_table("status_recipients") as batch:
        batch.drop_column("read_at")
        batch.drop_column("delivered_at")
    op.drop_index("ix_console_sessions_instance", "console_sessions")
    op.drop_table("console_sessions")
