"""Rows of the media store: prepared files (content-addressed) and uploadFile links."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from statusgate.store.schema.media import media, media_sources, uploads


@dataclass(frozen=True)
class MediaRow:
    media_id: str
    kind: str
    mime_type: str
    extension: str
    size: int
    jpeg_thumbnail: str | None = None
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    waveform: bytes | None = None
    source_size: int | None = None
    source_duration_seconds: float | None = None


def _media(row: sa.Row[Any]) -> MediaRow:
    return MediaRow(
        row.media_id,
        row.kind,
        row.mime_type,
        row.extension,
        row.size,
        row.jpeg_thumbnail,
        row.width,
        row.height,
        row.duration_seconds,
        row.waveform,
        row.source_size,
        row.source_duration_seconds,
    )


@dataclass(frozen=True)
class UploadRow:
    upload_id: str
    instance_id: int | None
    file_name: str
    mime_type: str
    sha256: str
    size: int
    expires_at: float | None


# read for every status prepared and every status sent: built once
_GET_MEDIA = sa.select(media).where(media.c.media_id == sa.bindparam("media_id"))
_GET_UPLOAD = sa.select(uploads).where(uploads.c.upload_id == sa.bindparam("upload_id"))


def get_media(conn: Connection, media_id: str) -> MediaRow | None:
    row = conn.execute(_GET_MEDIA, {"media_id": media_id}).first()
    return _media(row) if row is not None else None


def put_media(conn: Connection, row: MediaRow, now: float) -> None:
    """Store a prepared file's row, unless it is there already (the same bytes prepared by two workers at
    once, for two statuses: the second insert is not needed, and must not fail its preparation)."""
    _insert_once(conn, media, {**dataclasses.asdict(row), "created_at": now})


def _insert_once(conn: Connection, table: sa.Table, values: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: a row another transaction inserted first is simply kept."""
    dialect = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    conn.execute(dialect(table).values(**values).on_conflict_do_nothing())


def media_for_source(conn: Connection, source_key: str) -> MediaRow | None:
    row = conn.execute(
        sa.select(media).join(media_sources).where(media_sources.c.source_key == source_key)
    ).first()
    return _media(row) if row is not None else None


def remember_source(conn: Connection, source_key: str, row: MediaRow, now: float) -> None:
    put_media(conn, row, now)
    _insert_once(conn, media_sources, {"source_key": source_key, "media_id": row.media_id, "created_at": now})


def _upload(row: sa.Row[Any]) -> UploadRow:
    return UploadRow(
        row.upload_id, row.instance_id, row.file_name, row.mime_type, row.sha256, row.size, row.expires_at
    )


def put_upload(conn: Connection, row: UploadRow, now: float) -> None:
    conn.execute(
        uploads.insert().values(
            upload_id=row.upload_id,
            instance_id=row.instance_id,
            file_name=row.file_name,
            mime_type=row.mime_type,
            sha256=row.sha256,
            size=row.size,
            created_at=now,
            expires_at=row.expires_at,
        )
    )


def get_upload(conn: Connection, upload_id: str) -> UploadRow | None:
    row = conn.execute(_GET_UPLOAD, {"upload_id": upload_id}).first()
    return _upload(row) if row else None


def find_upload_by_name(conn: Connection, instance_id: int, file_name: str) -> UploadRow | None:
    row = (
        conn.execute(
            sa.select(uploads)
            .where(uploads.c.instance_id == instance_id, uploads.c.file_name == file_name)
            .order_by(uploads.c.created_at.desc())
            .limit(1)
        )
    ).first()
    return _upload(row) if row else None
