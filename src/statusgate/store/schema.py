"""Every table, in one MetaData: the single source of the schema (Alembic migrations must match it)."""

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

#: the states of a status not yet sent, as SQL: the partial index below and the queries using it must say
#: exactly this (with literals, not parameters) for the database to see the index applies
PENDING_SQL = "state IN ('queued', 'preparing', 'ready', 'sending')"
SENDING_SQL = "state = 'sending'"

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

media = sa.Table(
    "media",
    metadata,
    # sha256 of the prepared bytes: the same file posted twice is stored once
    sa.Column("media_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("mime_type", sa.String(100), nullable=False),
    sa.Column("extension", sa.String(16), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("jpeg_thumbnail", sa.Text, nullable=True),
    sa.Column("width", sa.Integer, nullable=True),
    sa.Column("height", sa.Integer, nullable=True),
    sa.Column("duration_seconds", sa.Float, nullable=True),
    sa.Column("waveform", sa.LargeBinary, nullable=True),
    # what the file was made from (the first source that became these bytes): the console shows the cut
    sa.Column("source_size", sa.BigInteger, nullable=True),
    sa.Column("source_duration_seconds", sa.Float, nullable=True),
)

media_sources = sa.Table(
    "media_sources",
    metadata,
    # what a source file (by content, the kind asked for and the converter settings) became: the same file
    # is converted once; the key has no fixed length
    sa.Column("source_key", sa.Text, primary_key=True),
    sa.Column("media_id", sa.String(64), sa.ForeignKey("media.media_id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("upload_id", sa.String(64), primary_key=True),
    instance_ref(nullable=True, index=True),
    # as the client sent them: the name as long as the max_file_name_chars setting allows, any Content-Type
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("mime_type", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
)

statuses = sa.Table(
    "statuses",
    metadata,
    # the queue order: first in, first out per instance
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    instance_ref(),
    sa.Column("id_message", sa.String(32), nullable=False, unique=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("kind", sa.String(8), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("media_id", sa.String(64), sa.ForeignKey("media.media_id"), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("not_before", sa.Float, nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", sa.Float, nullable=True),
    # fixed when sending starts, so a retry after a crash goes to the very same people
    sa.Column("recipients", sa.JSON, nullable=True),
    sa.Column("skipped_participants", sa.JSON, nullable=True),
    sa.Column("sent_at", sa.Float, nullable=True),
    # deleteStatus arrived while the status was being sent: revoke it once the send ends
    sa.Column("delete_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    # the newest transition or receipt: getOutgoingStatuses' timestamp and window
    sa.Column("last_action_at", sa.Float, nullable=False),
    sa.Index("ix_statuses_instance_state_seq", "instance_id", "state", "seq"),
    # the head of an instance's queue is the first row of this index: read before every send
    sa.Index(
        "ix_statuses_pending_head",
        "instance_id",
        "seq",
        sqlite_where=sa.text(PENDING_SQL),
        postgresql_where=sa.text(PENDING_SQL),
    ),
    # one status of an instance on its way to the network at a time, whatever a worker believes it owns
    sa.Index(
        "ux_statuses_one_sending_per_instance",
        "instance_id",
        unique=True,
        sqlite_where=sa.text(SENDING_SQL),
        postgresql_where=sa.text(SENDING_SQL),
    ),
    sa.Index("ix_statuses_instance_last_action", "instance_id", "last_action_at"),
    sa.Index("ix_statuses_state_seq", "state", "seq"),
    sa.Index("ix_statuses_state_expires", "state", "expires_at"),
)

status_events = sa.Table(
    "status_events",
    metadata,
    sa.Column("event_id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "status_seq",
        BigId,
        sa.ForeignKey("statuses.seq", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
)

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

incoming_statuses = sa.Table(
    "incoming_statuses",
    metadata,
    sa.Column("row_id", BigId, primary_key=True, autoincrement=True),
    instance_ref(),
    sa.Column("id_message", sa.String(64), nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("type_message", sa.String(32), nullable=False),
    sa.Column("sender", sa.String(64), nullable=False),
    sa.Column("sender_name", sa.String(200), nullable=False),
    sa.Column("sender_contact_name", sa.String(200), nullable=False),
    # text: text/backgroundColor/font; media: caption/fileName/mimeType/jpegThumbnail
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("media_id", sa.String(64), sa.ForeignKey("media.media_id"), nullable=True),
    sa.UniqueConstraint("instance_id", "id_message"),
    sa.Index("ix_incoming_statuses_instance_received", "instance_id", "received_at"),
)

status_recipients = sa.Table(
    "status_recipients",
    metadata,
    sa.Column("status_seq", BigId, sa.ForeignKey("statuses.seq", ondelete="CASCADE"), primary_key=True),
    sa.Column("participant", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # when the recipient's phone first had it (a read receipt implies it) and first showed it: the views chart
    sa.Column("delivered_at", sa.Float, nullable=True),
    sa.Column("read_at", sa.Float, nullable=True),
)

# --- the sandbox: a simulated WhatsApp network that lives in the same database ------------------------------

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

# --- the roles: workers, their commands, the engines' state ---------------------------------------------------

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

status_chunks = sa.Table(
    "status_chunks",
    metadata,
    # the baileys engine posts a status to its audience in chunks under one message id: each chunk is
    # recorded before it leaves and its server ack after, so after a crash the acked chunks stand and an
    # unacked one (it may have reached WhatsApp) is never sent again; written only by the instance's owner
    instance_ref(primary_key=True),
    sa.Column("id_message", sa.String(64), primary_key=True),
    sa.Column("chunk", sa.Integer, primary_key=True, autoincrement=False),
    # chat ids (digits@c.us), our account's own excepted
    sa.Column("recipients", sa.JSON, nullable=False),
    # sending (no ack yet), acked, rejected (the ack carried an error)
    sa.Column("state", sa.String(16), nullable=False),
    # the ack's error code (rejected)
    sa.Column("error", sa.String(32), nullable=True),
    # devices Baileys could not encrypt for, left out of the stanza
    sa.Column("dropped", sa.JSON, nullable=True),
    sa.Column("sent_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float, nullable=True),
)
