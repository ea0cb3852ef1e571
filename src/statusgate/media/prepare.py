"""From a status's urlFile to a stored, checked file: obtain → probe → (cache) → convert → store."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import time
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

log = logging.getLogger("statusgate.media")

#: a source this much longer than what was kept was cut (container durations are rounded)
_TRIM_NOTICED_SECONDS = 0.5

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
        #: the conversions running now: what each is for, and since when (time.monotonic())
        self._converting: dict[str, float] = {}
        # Pillow's decompression-bomb check (which the probe relies on) reads this process-wide value; the
        # server has one preparer, whose setting it becomes.
        Image.MAX_IMAGE_PIXELS = self._conversion.max_image_pixels

    async def prepare(self, url: str, file_name: str, kind: MediaKind, *, status: str = "") -> PreparedMedia:
        """Fetch (or copy) ``url``, check it is ``kind`` (the kind ``file_name`` announces), and store it.

        The bytes decide the stored type: ``file_name`` is only the caller's claim, already reduced to
        ``kind``. ``status`` names what the file is for in the log lines (a status's idMessage).

        Raises :class:`MediaError` with a user-facing text when the file cannot become a status. No temporary
        file outlives the call, whatever happens.
        """
        tmp = self._store.new_temp_path()
        output: Path | None = None  # made only when there is something to convert
        try:
            started = time.monotonic()
            how = await self._obtain(url, tmp)
            size = tmp.stat().st_size
            log.info(
                "status %s: %s %d bytes in %.0f ms",
                status,
                how,
                size,
                _ms(started),
                extra={"idMessage": status, "sourceBytes": size, "fetchMs": round(_ms(started), 1)},
            )
            # from here on the work runs in threads that cannot be cut short (probe, hash, convert): a
            # stopping server names the status it waits for from the moment the bytes are in
            self._converting[status] = time.monotonic()
            try:
                probed = await asyncio.to_thread(
                    probe_file, tmp, kind, decode_max_bytes=self._conversion.image_decode_max_bytes
                )
                source_key = await asyncio.to_thread(self._source_key, tmp, probed.kind)
                if self._cache is not None:
                    cached = await self._cache.get(source_key)
                    if cached is not None:
                        log.info(
                            "status %s: the same %s was converted before; that conversion is used",
                            status,
                            probed.mime_type,
                            extra={"idMessage": status, "cached": True},
                        )
                        return cached
                output = self._store.new_temp_path()
                started = time.monotonic()
                converted = await asyncio.to_thread(self.convert, tmp, probed, output)
            finally:
                self._converting.pop(status, None)
            _log_converted(status, probed, converted, _ms(started))
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
            source_size=size,
            source_duration_seconds=converted.source_duration_seconds,
        )
        if self._cache is not None:
            await self._cache.put(source_key, media)
        return media

    def converting(self) -> dict[str, float]:
        """The conversions running now (probing and hashing the fetched bytes included): for which status,
        and for how many seconds so far. A conversion runs in threads, which a stopping server waits for
        (within ``conversion_timeout_seconds``)."""
        now = time.monotonic()
        return {status: now - since for status, since in self._converting.items()}

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

    async def _obtain(self, url: str, dest: Path) -> str:
        """Put ``url``'s bytes in ``dest``; how they were got, for the log ("fetched", "read")."""
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
            return "fetched"
        # Our own link: read the file directly instead of calling ourselves over HTTP (which the SSRF guard
        # would rightly refuse when the public URL is a loopback or private address).
        try:
            size = local.stat().st_size
            if size > self._max_bytes:
                raise too_big_error(size, self._max_bytes, url)
            await asyncio.to_thread(shutil.copyfile, local, dest)
        except FileNotFoundError:
            raise MediaError(f"urlFile points at this server, but its file is gone: {url}") from None
        return "read this server's own file of"


def _ms(since: float) -> float:
    return (time.monotonic() - since) * 1000


def _log_converted(status: str, probed: ProbeResult, converted: Converted, ms: float) -> None:
    fields: dict[str, object] = {
        "idMessage": status,
        "from": probed.mime_type,
        "to": converted.mime_type,
        "convertMs": round(ms, 1),
    }
    trimmed = ""
    source, kept = converted.source_duration_seconds, converted.duration_seconds
    if source is not None and kept is not None and source > kept + _TRIM_NOTICED_SECONDS:
        trimmed = f"; trimmed {source:.0f} s → {kept:.0f} s"
        fields |= {"sourceSeconds": round(source, 2), "keptSeconds": round(kept, 2)}
    log.info(
        "status %s: converted %s → %s in %.0f ms%s",
        status,
        probed.mime_type,
        converted.mime_type,
        ms,
        trimmed,
        extra=fields,
    )
