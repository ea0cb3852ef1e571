"""Files this server hosts under ``<public-url>/media/``: uploadFile links and the demo picture."""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path

from statusgate.media.kinds import extension_of, mime_for_extension
from statusgate.services.runtime import Runtime
from statusgate.store import media as store


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
    shutil.copyfile(source, tmp)
    sha256, size = rt.media.put_file(tmp)
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
