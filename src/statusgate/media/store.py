"""Content-addressed files: ``<root>/blobs/<sha[:2]>/<sha256>``, renamed atomically from ``<root>/tmp``.

A filesystem without room (or quota) left makes these writes raise :class:`StorageFullError`: a temporary
condition, unlike the other OSErrors.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

from statusgate.errors import StorageFullError

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

#: errno values that say the filesystem (or the user's quota) is full
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def no_space_cause(exc: BaseException) -> BaseException | None:
    """The error in ``exc``'s chain that says a disk is full, or None.

    Converters re-raise a failed write as a user-facing :class:`MediaError` (``from None`` hides the cause
    in tracebacks but keeps it as ``__context__``), so the chain is followed.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, StorageFullError):
            return current
        if isinstance(current, OSError) and current.errno in NO_SPACE_ERRNOS:
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


@contextlib.contextmanager
def translating_no_space() -> Iterator[None]:
    """Raise a full disk inside the block as :class:`StorageFullError`; other errors pass unchanged."""
    try:
        yield
    except OSError as exc:
        if exc.errno in NO_SPACE_ERRNOS:
            raise StorageFullError() from exc
        raise


class MediaStore:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._blobs = root / "blobs"
        self._tmp = root / "tmp"

    @property
    def root(self) -> Path:
        return self._root

    def blob_path(self, sha256: str) -> Path:
        # Media ids arrive in URLs; anything but a lower-case digest could walk out of the store.
        if not _SHA256_HEX.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self._blobs / sha256[:2] / sha256

    def new_temp_path(self, suffix: str = "") -> Path:
        """A fresh path (the file is not created) on the blobs' filesystem, so put_file can rename it."""
        with translating_no_space():
            self._tmp.mkdir(parents=True, exist_ok=True)
        return self._tmp / f"{secrets.token_hex(16)}{suffix}"

    def put_file(self, tmp: Path) -> tuple[str, int]:
        """Move ``tmp`` into the store under its SHA-256; returns (sha256, size). ``tmp`` is gone afterwards.

        ``tmp`` should come from :meth:`new_temp_path`: a file on another filesystem cannot be renamed.
        """
        with tmp.open("rb") as file:
            sha256 = hashlib.file_digest(file, "sha256").hexdigest()
            size = file.tell()
        blob = self.blob_path(sha256)
        if blob.exists():
            # Same bytes already stored; keeping the existing file leaves open readers undisturbed.
            tmp.unlink()
        else:
            with translating_no_space():
                blob.parent.mkdir(parents=True, exist_ok=True)
                # Atomic: a reader sees no file or the whole file. A racing writer of the same bytes is
                # harmless.
                os.replace(tmp, blob)
        return sha256, size

    def open_blob(self, sha256: str) -> Path:
        """The path of a stored blob; FileNotFoundError if there is none (malformed ids included)."""
        try:
            blob = self.blob_path(sha256)
        except ValueError:
            raise FileNotFoundError(sha256) from None
        if not blob.is_file():
            raise FileNotFoundError(str(blob))
        return blob

    def remove_unreferenced(self, needed: set[str], older_than: float) -> int:
        """Delete stored files not in ``needed`` (and leftover temp files), if last changed before
        ``older_than`` (epoch seconds); returns how many went. Blocking: run it in a thread."""
        removed = 0
        candidates = list(self._blobs.glob("*/*")) if self._blobs.exists() else []
        candidates += list(self._tmp.glob("*")) if self._tmp.exists() else []
        for path in candidates:
            if path.parent != self._tmp and path.name in needed:
                continue
            try:
                if path.stat().st_mtime < older_than:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
