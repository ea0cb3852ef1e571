"""The notification journal, read by webhooks and receiveNotification (``store.notifications`` only)."""

from __future__ import annotations

import sqlalchemy as sa

from statusgate.store.schema.base import instance_ref, metadata

notifications = sa.Table(
    "notifications",
    metadata,
    # the journal of what happened, in order, until delivered (webhook) or deleted (receiveNotification)
    instance_ref(primary_key=True),
    sa.Column("receipt_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("type", sa.String(32), nullable=False),
    # the facts; the Green body is rendered when it is handed out
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index("ix_notifications_created", "created_at"),
)
