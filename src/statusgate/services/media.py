"""Files this server hosts under ``<public-url>/media/``: uploadFile links and the demo picture."""

from __future__ import annotations

import asyncio
import mimetypes
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from statusgate.errors import MediaError, PayloadTooLargeError, ValidationError
from statusgate.media.kinds import extension_of, mime_for_extension
from statusgate.media.links import MediaLinks
from statusgate.media.store import MediaStore, translating_no_space
from statusgate.services.context import ServiceContext
from statusgate.services.prepared_media import PreparedMediaStore
from statusgate.store import media as store
from statusgate.store.db import Database

#: uploads are written to disk in pieces of about this size
FLUSH_BYTES = 1 << 20
MAX_NAME = 200


async def store_file(
    ctx: ServiceContext,
    source: Path,
    file_name: str,
    *,
    instance_id: int | None,
    mime_type: str | None = None,
    keep_seconds: float | None,
) -> str:
    """Copy ``source`` into the media store and return its public link."""
    tmp = ctx.media.new_temp_path()
    await asyncio.to_thread(shutil.copyfile, source, tmp)
    return await adopt_file(
        ctx, tmp, file_name, instance_id=instance_id, mime_type=mime_type, keep_seconds=keep_seconds
    )


async def adopt_file(
    ctx: ServiceContext,
    tmp: Path,
    file_name: str,
    *,
    instance_id: int | None,
    mime_type: str | None = None,
    keep_seconds: float | None,
) -> str:
    """Move ``tmp`` (a media-store temp file) into the store as an upload; its public link."""
    sha256, size = await asyncio.to_thread(ctx.media.put_file, tmp)
    upload_id = secrets.token_urlsafe(18)
    now = time.time()
    await ctx.db.write(
        store.put_upload,
        store.UploadRow(
            upload_id=upload_id,
            instance_id=instance_id,
            file_name=file_name,
            mime_type=mime_type or mime_for_extension(extension_of(file_name)),
            sha256=sha256,
            size=size,
            expires_at=None if keep_seconds is None else now + keep_seconds,
        ),
        now,
    )
    return ctx.links.upload_url(upload_id, file_name)


@dataclass(frozen=True)
class OwnMedia:
    """This deployment's own media links, read from the store.

    An urlFile on our own media host is read from disk instead of being fetched over HTTP, which the SSRF
    guard would rightly refuse when the public URL is a loopback or private address.
    """

    links: MediaLinks
    db: Database
    files: MediaStore
    prepared: PreparedMediaStore

    async def local_path(self, url: str) -> Path | None:
        """The file behind ``url`` if it is one of our links, else None (it is to be fetched)."""
        own = self.links.own_file(url)
        if own is None:
            return None
        if own.prepared:  # a downloadUrl this server handed out
            prepared = await self.prepared.load(own.id)
            if prepared is None:
                raise MediaError(f"urlFile points at this server, but {url} does not exist any more")
            return prepared.path
        upload = await self.db.read(store.get_upload, own.id)
        if upload is None:
            raise MediaError(f"urlFile points at this server, but {url} does not exist (expired upload?)")
        return self.files.blob_path(upload.sha256)


async def find_upload(ctx: ServiceContext, upload_id: str) -> tuple[Path, str, str] | None:
    upload = await ctx.db.read(store.get_upload, upload_id)
    if upload is None or (upload.expires_at is not None and upload.expires_at < time.time()):
        return None
    path = ctx.media.blob_path(upload.sha256)
    if not path.exists():
        return None
    return path, upload.mime_type, upload.file_name


def safe_file_name(raw: str | None, mime_type: str | None) -> str:
    """A file name that is safe in a URL path and on disk: the base name, or one made up from the type."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip().strip(".")
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')[:MAX_NAME]
    if not name:
        extension = mimetypes.guess_extension(mime_type or "") or ".bin"
        name = f"{secrets.token_hex(8)}{extension}"
    return name


class IncomingFile(Protocol):
    """An uploaded file being received: its bytes, then what the client said it is."""

    def chunks(self) -> AsyncIterator[bytes]: ...

    #: read once chunks() is exhausted (a multipart body names its file in the part's headers)
    file_name: str | None
    mime_type: str | None


async def upload(ctx: ServiceContext, instance_id: int, incoming: IncomingFile) -> str:
    """uploadFile: the request body, streamed to disk and capped, becomes a public link (a full disk is
    :class:`StorageFullError`: Green's client gets a 507 and may try again)."""
    with translating_no_space():
        return await _upload(ctx, instance_id, incoming)


async def _upload(ctx: ServiceContext, instance_id: int, incoming: IncomingFile) -> str:
    limit = ctx.settings.max_upload_bytes
    tmp = ctx.media.new_temp_path()
    size = 0
    try:
        with await asyncio.to_thread(tmp.open, "wb") as out:
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in incoming.chunks():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError()
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= FLUSH_BYTES:
                    await asyncio.to_thread(out.write, b"".join(pending))
                    pending, pending_size = [], 0
            await asyncio.to_thread(out.write, b"".join(pending))
        if size == 0:
            # an empty file can be no status: refused now rather than as a failed status later
            raise ValidationError("'file' is required: the body is empty")
        mime_type = incoming.mime_type
        name = safe_file_name(incoming.file_name, mime_type)
        mime = mime_type if mime_type and mime_type != "application/octet-stream" else None
        return await adopt_file(
            ctx,
            tmp,
            name,
            instance_id=instance_id,
            mime_type=mime,
            keep_seconds=ctx.settings.upload_retention_seconds,
        )
    finally:
        tmp.unlink(missing_ok=True)
