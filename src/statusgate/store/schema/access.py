"""The credentials beyond an instance's own token: the Partner API token, the console's sessions."""

from __future__ import annotations

import sqlalchemy as sa

from statusgate.store.schema.base import instance_ref, metadata

partner_tokens = sa.Table(
    "partner_tokens",
    metadata,
    # one row (id 1): the Partner API token's hash, so every API node sees a rotation (the plaintext is
    # only in the data dir's file or the setting)
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

console_sessions = sa.Table(
    "console_sessions",
    metadata,
    # sha256 of the cookie's random id: a leaked database opens no session
    sa.Column("id_hash", sa.String(64), primary_key=True),
    # partner (every instance) or instance (that instance only)
    sa.Column("scope", sa.String(16), nullable=False),
    instance_ref("id_instance", nullable=True),
    # the token's hash at sign-in: a rotation of that token ends the session on every node
    sa.Column("credential_hash", sa.String(64), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_seen_at", sa.Float, nullable=False),
    sa.Index("ix_console_sessions_instance", "id_instance"),
)
