"""Prepared media in the database: rows of the content-addressed store, and the source → media cache."""

from __future__ import annotations

import time

from statusgate.domain.models import MediaKind, PreparedMedia
from statusgate.media.store import MediaStore
from statusgate.store import media as media_store
from statusgate.store.db import Database


def _to_row(media: PreparedMedia) -> media_store.MediaRow:
    return media_store.MediaRow(
        media_id=media.media_id,
        kind=media.kind.value,
        mime_type=media.mime_type,
        extension=media.extension,
        size=media.size,
        jpeg_thumbnail=media.jpeg_thumbnail,
        width=media.width,
        height=media.height,
        duration_seconds=media.duration_seconds,
        waveform=media.waveform,
        source_size=media.source_size,
        source_duration_seconds=media.source_duration_seconds,
    )


class PreparedMediaStore:
    """Implements :class:`statusgate.media.cache.SourceCache` and loads prepared media for sending."""

    def __init__(self, db: Database, files: MediaStore) -> None:
        self.db = db
        self.files = files

    def _from_row(self, row: media_store.MediaRow) -> PreparedMedia | None:
        path = self.files.blob_path(row.media_id)
        if not path.exists():
            return None
        return PreparedMedia(
            media_id=row.media_id,
            kind=MediaKind(row.kind),
            mime_type=row.mime_type,
            extension=row.extension,
            size=row.size,
            path=path,
            jpeg_thumbnail=row.jpeg_thumbnail,
            width=row.width,
            height=row.height,
            duration_seconds=row.duration_seconds,
            waveform=row.waveform,
            source_size=row.source_size,
            source_duration_seconds=row.source_duration_seconds,
        )

    async def get(self, source_key: str) -> PreparedMedia | None:
        row = await self.db.read(media_store.media_for_source, source_key)
        return self._from_row(row) if row is not None else None

    async def put(self, source_key: str, media: PreparedMedia) -> None:
        await self.db.write(media_store.remember_source, source_key, _to_row(media), time.time())

    async def record(self, media: PreparedMedia) -> None:
        await self.db.write(media_store.put_media, _to_row(media), now=time.time())

    async def load(self, media_id: str) -> PreparedMedia | None:
        row = await self.db.read(media_store.get_media, media_id)
        return self._from_row(row) if row is not None else None
