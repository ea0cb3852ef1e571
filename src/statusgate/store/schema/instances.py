"""The instances, and what runs them: the worker processes, which worker owns which instance, the
commands to an account's live session, and the state and keys its engine keeps.
"""

from __future__ import annotations

import sqlalchemy as sa

from statusgate.store.schema.base import BigId, instance_ref, metadata

instances = sa.Table(
    "instances",
    metadata,
    sa.Column("id_instance", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=True, unique=True),
    sa.Column("engine", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("status_access", sa.Boolean, nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    # pacing survives restarts: the next send starts no earlier than the previous one's return + delay
    sa.Column("last_send_ended_at", sa.Float, nullable=True),
    # receiptId of the newest notification: they increase per instance and are never reused
    sa.Column("last_receipt_id", sa.BigInteger, nullable=False, server_default="0"),
)

workers = sa.Table(
    "workers",
    metadata,
    # one row per running worker process; a row whose heartbeat is older than the lease is a dead worker
    sa.Column("worker_id", sa.String(32), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
)

instance_owners = sa.Table(
    "instance_owners",
    metadata,
    # the worker that holds an instance (its live session, queue, commands, events), one at a time, until
    # expires_at (the database's clock); epoch grows with every change of hands and fences stale owners
    instance_ref(primary_key=True),
    sa.Column("worker_id", sa.String(32), nullable=True),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_instance_owners_worker_id", "worker_id"),
)

commands = sa.Table(
    "commands",
    metadata,
    # what the API asked of an account's live session; the worker carries it out and answers
    sa.Column("command_id", BigId, primary_key=True, autoincrement=True),
    instance_ref(),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    # never carried out after this
    sa.Column("deadline", sa.Float, nullable=False),
    sa.Column("taken_by", sa.String(32), nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Index("ix_commands_state_command_id", "state", "command_id"),
)

engine_states = sa.Table(
    "engine_states",
    metadata,
    # an account's state as its live session last reported it (engines whose state lives in a session)
    instance_ref(primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("wid", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    # the address book as the session last read it; None until it has been read once
    sa.Column("contacts", sa.JSON, nullable=True),
    sa.Column("contacts_at", sa.Float, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)

engine_keys = sa.Table(
    "engine_keys",
    metadata,
    # an account's session keys as its engine keeps them (the baileys child: Baileys' creds and signal keys),
    # so that any worker can take the account over; written only by the instance's owner (its lease's epoch
    # is checked in the same transaction), and only once the account is linked
    instance_ref(primary_key=True),
    # the engine's own names: "creds", "pre-key", "session", "app-state-sync-key", …
    sa.Column("category", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.Text, primary_key=True),
    # opaque to the server: the engine's own serialisation (Baileys' BufferJSON)
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
