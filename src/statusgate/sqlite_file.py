"""Which file SQLite really opens for a database URL: the key of the one-server lock and of error messages.

The same database can be written many ways (``sqlite://`` or ``sqlite+aiosqlite://``, a relative or an absolute
path, a path through a symlink, a ``file:`` URI with ``?uri=true``). SQLAlchemy's SQLite dialect turns the URL
into the name handed to ``sqlite3.connect`` (``create_connect_args``: a plain path is made absolute against the
working directory, a URI is passed on with its query); this module asks the dialect for that name, reads it as
SQLite does (RFC 3986 ``file:`` URIs, percent-decoded, query dropped) and resolves it to the real path.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

_MEMORY = ":memory:"


def sqlite_file(url: str | sa.URL) -> Path | None:
    """The real path of the SQLite file ``url`` opens; None for another backend or an in-memory database.

    Raises :class:`sqlalchemy.exc.ArgumentError` for a URL SQLAlchemy would refuse as well.
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    # every SQLite driver statusgate uses (pysqlite, aiosqlite) builds its connect name this way
    args, kwargs = SQLiteDialect_pysqlite().create_connect_args(parsed)
    name = str(args[0])
    if kwargs.get("uri") and name.startswith("file:"):
        path = _uri_path(name)
        if path is None:
            return None
    elif name in ("", _MEMORY):
        return None
    else:
        path = name
    return Path(os.path.realpath(os.path.abspath(path)))


def _uri_path(uri: str) -> str | None:
    """The file of a SQLite URI (https://sqlite.org/uri.html); None when it names an in-memory database."""
    rest = uri[len("file:") :].split("#", 1)[0]
    rest, _, query = rest.partition("?")
    if parse_qs(query).get("mode") == ["memory"]:
        return None
    if rest.startswith("//"):  # file://authority/path: the authority is empty or localhost
        _authority, slash, path = rest[2:].partition("/")
        rest = slash + path
    path = unquote(rest)
    if path in ("", _MEMORY):  # "file:" is a private temporary database
        return None
    return path


def lock_path(database: Path, part: str = "api") -> Path:
    """Where a SQLite file's lock for one part of the server lives: next to it. The API's is
    ``<file>.lock`` (the name every release used), the worker's ``<file>.worker.lock``."""
    suffix = ".lock" if part == "api" else f".{part}.lock"
    return database.with_name(database.name + suffix)
