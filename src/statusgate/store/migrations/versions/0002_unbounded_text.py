"""media_sources.source_key and the uploads' file name and type hold text of any length

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 09:00:00.000000

0001 declared lengths that nothing enforces: SQLite never checks them, PostgreSQL refuses the row. A
conversion's key (the source's sha256, the kind and the converter settings' signature) is longer than 128
characters; an upload's type is whatever Content-Type the client sent, its name as long as the
max_file_name_chars setting allows. On SQLite both tables are rebuilt (batch mode): no table refers to either,
so their rows are copied and nothing else is touched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: (table, column, the type 0001 gave it)
WIDENED = (
    ("media_sources", "source_key", sa.String(length=128)),
    ("uploads", "file_name", sa.String(length=255)),
    ("uploads", "mime_type", sa.String(length=100)),
)


def upgrade() -> None:
    for table, column, bounded in WIDENED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=bounded, type_=sa.Text(), existing_nullable=False)


def downgrade() -> None:
    for table, column, bounded in reversed(WIDENED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.Text(), type_=bounded, existing_nullable=False)
