"""Alembic environment: statusgate always hands in an open connection (see ``store/migrate.py``)."""

from __future__ import annotations

from alembic import context

from statusgate.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by running the alembic CLI by hand
    raise SystemExit("run migrations through `statusgate migrate` (or any statusgate command)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
