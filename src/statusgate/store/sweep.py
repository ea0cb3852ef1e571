"""Deleting what nobody needs any more: old journals, expired uploads, media no row refers to."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from statusgate.domain.states import FINAL_STATES
from statusgate.store.schema.media import media, uploads
from statusgate.store.schema.statuses import incoming_statuses, statuses


def old_journals(conn: Connection, before: float) -> int:
    """Statuses that are done (sent, failed, …) with no action since ``before``, and old incoming ones."""
    done = conn.execute(
        statuses.delete().where(
            statuses.c.state.in_([s.value for s in FINAL_STATES]), statuses.c.last_action_at < before
        )
    ).rowcount
    received = conn.execute(
        incoming_statuses.delete().where(incoming_statuses.c.received_at < before)
    ).rowcount
    return done + received


def expired_uploads(conn: Connection, now: float) -> int:
    return conn.execute(
        uploads.delete().where(uploads.c.expires_at.is_not(None), uploads.c.expires_at < now)
    ).rowcount


def unused_media(conn: Connection, created_before: float) -> int:
    """Prepared media no status or incoming status refers to (and older than ``created_before``, so a
    preparation that has stored its file but not yet its status is left alone)."""
    used = sa.union(
        sa.select(statuses.c.media_id).where(statuses.c.media_id.is_not(None)),
        sa.select(incoming_statuses.c.media_id).where(incoming_statuses.c.media_id.is_not(None)),
    ).subquery()
    return conn.execute(
        media.delete().where(
            media.c.created_at < created_before, media.c.media_id.not_in(sa.select(used.c[0]))
        )
    ).rowcount


def referenced_blobs(conn: Connection) -> set[str]:
    """Every file name (sha256) of the media store that a row still needs."""
    names = set(conn.scalars(sa.select(media.c.media_id)).all())
    names.update(conn.scalars(sa.select(uploads.c.sha256)).all())
    return names
