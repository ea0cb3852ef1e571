"""The sandbox: a simulated WhatsApp network that lives in the same database."""

from __future__ import annotations

import sqlalchemy as sa

from statusgate.store.schema.base import BigId, instance_ref, metadata

sandbox_accounts = sa.Table(
    "sandbox_accounts",
    metadata,
    instance_ref(primary_key=True),
    sa.Column("wid", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("pairing_ref", sa.String(64), nullable=False),
    sa.Column("starting_until", sa.Float, nullable=True),
    sa.Column("state_changed_at", sa.Float, nullable=False),
)

sandbox_users = sa.Table(
    "sandbox_users",
    metadata,
    # every number registered on the simulated network
    sa.Column("wid", sa.String(64), primary_key=True),
    sa.Column("push_name", sa.String(200), nullable=False),
)

sandbox_contacts = sa.Table(
    "sandbox_contacts",
    metadata,
    instance_ref(primary_key=True),
    sa.Column("wid", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("contact_name", sa.String(200), nullable=False),
    sa.Column("in_address_book", sa.Boolean, nullable=False),
    sa.Index("ix_sandbox_contacts_instance_position", "instance_id", "position"),
)

sandbox_messages = sa.Table(
    "sandbox_messages",
    metadata,
    sa.Column("row_id", BigId, primary_key=True, autoincrement=True),
    instance_ref(),
    # deliberately not unique: a repeat of an id is a second arrival, which the network records (and counts)
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
    sa.Index("ix_sandbox_messages_instance_message", "instance_id", "message_id"),
)

sandbox_deliveries = sa.Table(
    "sandbox_deliveries",
    metadata,
    sa.Column("row_id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "message_row",
        BigId,
        sa.ForeignKey("sandbox_messages.row_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("recipient", sa.String(64), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)

sandbox_events = sa.Table(
    "sandbox_events",
    metadata,
    # what the simulated network tells the account: receipts, state changes, incoming statuses
    sa.Column("event_id", BigId, primary_key=True, autoincrement=True),
    instance_ref(),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("consumed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_sandbox_events_pending", "consumed", "event_id"),
)

sandbox_faults = sa.Table(
    "sandbox_faults",
    metadata,
    instance_ref(primary_key=True),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("remaining", sa.Integer, nullable=False),
)
