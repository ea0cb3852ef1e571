"""Media: prepared files by content, what each source file became, and uploaded files."""

from __future__ import annotations

import sqlalchemy as sa

from statusgate.store.schema.base import instance_ref, metadata

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
