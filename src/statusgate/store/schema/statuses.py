"""The statuses: the outgoing queue with its history, its recipients and its chunks on the way out, and
the statuses received.
"""

from __future__ import annotations

import sqlalchemy as sa

from statusgate.store.schema.base import BigId, instance_ref, metadata

#: the states of a status not yet sent, as SQL: the partial index below and the queries using it must say
#: exactly this (with literals, not parameters) for the database to see the index applies
PENDING_SQL = "state IN ('queued', 'preparing', 'ready', 'sending')"
SENDING_SQL = "state = 'sending'"

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
