"""From a status's urlFile to a stored, checked file: obtain → probe → convert → store."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from statusgate.domain.models import MediaKind, PreparedMedia
from statusgate.errors import MediaError
from statusgate.media.fetch import fetch_to_file, too_big_error
from statusgate.media.guard import UrlGuard
from statusgate.media.probe import ProbeResult, probe_file
from statusgate.media.store import MediaStore

LocalSource = Callable[[str], Awaitable[Path | None]]
"""Given a urlFile, the local file behind it if it is one of this server's own media links, else None."""


class MediaPreparer:
    def __init__(
        self,
        *,
        store: MediaStore,
        guard: UrlGuard,
        local_source: LocalSource,
        max_bytes: int,
        connect_timeout: float,
        read_timeout: float,
        total_timeout: float,
        max_redirects: int,
    ) -> None:
        self._store = store
        self._guard = guard
        self._local_source = local_source
        self._max_bytes = max_bytes
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._total_timeout = total_timeout
        self._max_redirects = max_redirects

    async def prepare(self, url: str, file_name: str, kind: MediaKind) -> PreparedMedia:
        """Fetch (or copy) ``url``, check it is ``kind`` (the kind ``file_name`` announces), and store it.

        The bytes decide the stored type: ``file_name`` is only the caller's claim, already reduced to
        ``kind``.

        Raises :class:`MediaError` with a user-facing text when the file cannot become a status. No temporary
        file outlives the call, whatever happens.
        """
        tmp = self._store.new_temp_path()
        converted: Path | None = None
        try:
            await self._obtain(url, tmp)
            probed = await asyncio.to_thread(probe_file, tmp, kind)
            output, probed = await asyncio.to_thread(self.convert, tmp, probed)
            converted = output
            media_id, size = await asyncio.to_thread(self._store.put_file, output)
        finally:
            tmp.unlink(missing_ok=True)
            if converted is not None:
                converted.unlink(missing_ok=True)
        return PreparedMedia(
            media_id=media_id,
            kind=probed.kind,
            mime_type=probed.mime_type,
            extension=probed.extension,
            size=size,
            path=self._store.blob_path(media_id),
        )

    def convert(self, path: Path, probed: ProbeResult) -> tuple[Path, ProbeResult]:
        """Make the probed file fit for a WhatsApp status: the identity for now; blocking, runs in a thread.

        This is the seam for format conversion (GIF → looping MP4, cutting audio/video to 60 s, HEIC/AVIF →
        JPEG …). A conversion writes its output to a new :meth:`MediaStore.new_temp_path` and returns that
        path with the ProbeResult describing the output; :meth:`prepare` stores whatever path comes back and
        deletes both the input and the output temp files afterwards. ``path`` must not be changed in place.
        """
        return path, probed

    async def _obtain(self, url: str, dest: Path) -> None:
        local = await self._local_source(url)
        if local is None:
            await fetch_to_file(
                url,
                dest,
                guard=self._guard,
                max_bytes=self._max_bytes,
                connect_timeout=self._connect_timeout,
                read_timeout=self._read_timeout,
                total_timeout=self._total_timeout,
                max_redirects=self._max_redirects,
            )
            return
        # Our own link: read the file directly instead of calling ourselves over HTTP (which the SSRF guard
        # would rightly refuse when the public URL is a loopback or private address).
        try:
            size = local.stat().st_size
            if size > self._max_bytes:
                raise too_big_error(size, self._max_bytes, url)
            await asyncio.to_thread(shutil.copyfile, local, dest)
        except FileNotFoundError:
            raise MediaError(f"urlFile points at this server, but its file is gone: {url}") from None
