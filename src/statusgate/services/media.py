"""Files this server hosts under ``<public-url>/media/``: uploadFile links and the demo picture."""

from __future__ import annotations

import asyncio
import mimetypes
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from statusgate.errors import PayloadTooLargeError
from statusgate.media.kinds import extension_of, mime_for_extension
from statusgate.media.store import translating_no_space
from statusgate.services.runtime import Runtime
from statusgate.store import media as store

#: uploads are written to disk in pieces of about this size
FLUSH_BYTES = 1 << 20
MAX_NAME = 200


async def store_file(
    rt: Runtime,
    source: Path,
    file_name: str,
    *,
    instance_id: int | None,
    mime_type: str | None = None,
    keep_seconds: float | None,
) -> str:
    """Copy ``source`` into the media store and return its public link."""
    tmp = rt.media.new_temp_path()
    await asyncio.to_thread(shutil.copyfile, source, tmp)
    return await adopt_file(
        rt, tmp, file_name, instance_id=instance_id, mime_type=mime_type, keep_seconds=keep_seconds
    )


async def adopt_file(
    rt: Runtime,
    tmp: Path,
    file_name: str,
    *,
    instance_id: int | None,
    mime_type: str | None = None,
    keep_seconds: float | None,
) -> str:
    """Move ``tmp`` (a media-store temp file) into the store as an upload; its public link."""
    sha256, size = await asyncio.to_thread(rt.media.put_file, tmp)
    upload_id = secrets.token_urlsafe(18)
    now = time.time()
    await rt.db.write(
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
    return rt.media_url(upload_id, file_name)


async def find_upload(rt: Runtime, upload_id: str) -> tuple[Path, str, str] | None:
    upload = await rt.db.read(store.get_upload, upload_id)
    if upload is None or (upload.expires_at is not None and upload.expires_at < time.time()):
        return None
    path = rt.media.blob_path(upload.sha256)
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


async def upload(rt: Runtime, instance_id: int, incoming: IncomingFile) -> str:
    """uploadFile: the request body, streamed to disk and capped, becomes a public link (a full disk is
    :class:`StorageFullError`: Green's client gets a 507 and may try again)."""
    with translating_no_space():
        return await _upload(rt, instance_id, incoming)


async def _upload(rt: Runtime, instance_id: int, incoming: IncomingFile) -> str:
    limit = rt.settings.max_upload_bytes
    tmp = rt.media.new_temp_path()
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
        mime_type = incoming.mime_type
        name = safe_file_name(incoming.file_name, mime_type)
        mime = mime_type if mime_type and mime_type != "application/octet-stream" else None
        return await adopt_file(
            rt,
            tmp,
            name,
            instance_id=instance_id,
            mime_type=mime,
            keep_seconds=rt.settings.upload_retention_seconds,
        )
    finally:
        tmp.unlink(missing_ok=True)
