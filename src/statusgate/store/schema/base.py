"""The one MetaData every table is declared in, its naming convention, and the columns tables share.

Only the table modules of this package add to it; ``statusgate.store.schema`` imports them all, so the
MetaData it hands out (to Alembic, to the schema test) is the whole schema.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def instance_ref(
    name: str = "instance_id", *, primary_key: bool = False, nullable: bool = False, index: bool = False
) -> sa.Column[int]:
    """A column naming an instance; its rows go when the instance is deleted."""
    return sa.Column(
        name,
        sa.BigInteger,
        sa.ForeignKey("instances.id_instance", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=nullable and not primary_key,
        index=index,
    )
