"""From a status's urlFile to a stored, checked file: obtain → probe → (cache) → convert → store."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from PIL import Image

from statusgate.domain.models import MediaKind, PreparedMedia
from statusgate.errors import MediaError
from statusgate.media.cache import SourceCache
from statusgate.media.convert import ConversionSettings, Converted, convert_media
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
        conversion: ConversionSettings | None = None,
        cache: SourceCache | None = None,
    ) -> None:
        self._store = store
        self._guard = guard
        self._local_source = local_source
        self._max_bytes = max_bytes
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._total_timeout = total_timeout
        self._max_redirects = max_redirects
        self._conversion = conversion or ConversionSettings()
        self._cache = cache
        # Pillow's decompression-bomb check (which the probe relies on) reads this process-wide value; the
        # server has one preparer, whose setting it becomes.
        Image.MAX_IMAGE_PIXELS = self._conversion.max_image_pixels

    async def prepare(self, url: str, file_name: str, kind: MediaKind) -> PreparedMedia:
        """Fetch (or copy) ``url``, check it is ``kind`` (the kind ``file_name`` announces), and store it.

        The bytes decide the stored type: ``file_name`` is only the caller's claim, already reduced to
        ``kind``.

        Raises :class:`MediaError` with a user-facing text when the file cannot become a status. No temporary
        file outlives the call, whatever happens.
        """
        tmp = self._store.new_temp_path()
        output: Path | None = None  # made only when there is something to convert
        try:
            await self._obtain(url, tmp)
            probed = await asyncio.to_thread(
                probe_file, tmp, kind, decode_max_bytes=self._conversion.image_decode_max_bytes
            )
            source_key = await asyncio.to_thread(self._source_key, tmp, probed.kind)
            if self._cache is not None:
                cached = await self._cache.get(source_key)
                if cached is not None:
                    return cached
            output = self._store.new_temp_path()
            converted = await asyncio.to_thread(self.convert, tmp, probed, output)
            media_id, size = await asyncio.to_thread(self._store.put_file, converted.path)
        finally:
            tmp.unlink(missing_ok=True)
            if output is not None:
                output.unlink(missing_ok=True)
        media = PreparedMedia(
            media_id=media_id,
            kind=converted.kind,
            mime_type=converted.mime_type,
            extension=converted.extension,
            size=size,
            path=self._store.blob_path(media_id),
            jpeg_thumbnail=converted.jpeg_thumbnail,
            width=converted.width,
            height=converted.height,
            duration_seconds=converted.duration_seconds,
            waveform=converted.waveform,
        )
        if self._cache is not None:
            await self._cache.put(source_key, media)
        return media

    def convert(self, path: Path, probed: ProbeResult, dest: Path) -> Converted:
        """Make the probed file fit for a WhatsApp status, written to ``dest``; blocking, runs in a thread.

        ``path`` is not changed. :meth:`prepare` stores ``Converted.path`` (normally ``dest``) and deletes
        the input and ``dest`` afterwards. The seam tests (and a future engine with other needs) override.
        """
        return convert_media(path, probed, dest, self._conversion)

    def _source_key(self, path: Path, kind: MediaKind) -> str:
        """What identifies a conversion: the source bytes, what they are converted as, and how."""
        with path.open("rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
        return f"{digest}:{kind.value}:{self._conversion.version}"

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
