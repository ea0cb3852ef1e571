"""The storage's failures as the command line's one line each (docs/cli.md: "a one-line message on stderr,
exit code 1").

:func:`storage_message` is the one place that turns what the storage raises (an ``OSError`` of the data dir, a
SQLite or other database ``OperationalError``, a missing database driver, a database a newer release migrated)
into a sentence naming the directory, file or database and the reason. A database URL is only ever shown
without its password (:func:`shown_url`).

Kept apart from :mod:`statusgate.cli_errors`, which every command imports: this module imports SQLAlchemy
and Alembic, which ``statusgate --help`` has no use for.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
from pathlib import Path

import sqlalchemy as sa

from statusgate.cli_errors import CliError, first_line
from statusgate.settings import Settings
from statusgate.sqlite_file import sqlite_file
from statusgate.store.dialects import MissingDriverError
from statusgate.store.migrate import UnknownRevisionError

#: errors that say a place cannot be written (rather than that a program is wrong)
WRITE_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EIO})
URL_FLAGS = "--database-url / STATUSGATE_DATABASE_URL"


def shown_url(url: str | sa.URL) -> str:
    """A database URL as it may be shown: the password masked."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "(an unreadable URL)"


def database_file(settings: Settings) -> Path | None:
    """The real SQLite file of these settings (None for another backend); a bad URL is a :class:`CliError`."""
    try:
        return sqlite_file(settings.effective_database_url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise CliError(f"invalid database URL ({URL_FLAGS}): {first_line(exc)}") from None


def _database_or_none(settings: Settings) -> Path | None:
    try:
        return sqlite_file(settings.effective_database_url)
    except (sa.exc.ArgumentError, ValueError):
        return None


def storage_message(exc: BaseException, settings: Settings | None) -> str | None:
    """One line for a storage failure, or None when ``exc`` is not one (a bug keeps its traceback)."""
    if isinstance(exc, UnknownRevisionError):
        return f"the database {_database_name(settings)} is {exc}"
    if isinstance(exc, MissingDriverError | sa.exc.NoSuchModuleError):
        return f"cannot open the database {_database_name(settings)}: {first_line(exc)}"
    if isinstance(exc, OSError):
        return _os_message(exc, settings)
    # OperationalError: the database could not be opened, written, reached; a bare DatabaseError is SQLite's
    # "file is not a database" (an IntegrityError, a ProgrammingError… are bugs)
    if (
        isinstance(exc, sa.exc.OperationalError | sqlite3.OperationalError)
        or type(exc) is sa.exc.DatabaseError
    ):
        return _database_message(exc, settings)
    return None


def _os_message(exc: OSError, settings: Settings | None) -> str | None:
    reason = exc.strerror or first_line(exc)
    writing = exc.errno in WRITE_ERRNOS
    verb = "cannot write to" if writing else "cannot use"
    if exc.filename is None:
        if not writing:
            return None  # no place to name: not a storage failure we can explain
        if settings is None:
            return f"storage failure: {reason}"
        return f"{verb} the data dir {_absolute(settings.data_dir)}: {reason}"
    return f"{verb} {_place(Path(os.fsdecode(exc.filename)), settings)}: {reason}"


def _place(path: Path, settings: Settings | None) -> str:
    path = _absolute(path)
    if settings is None:
        return str(path)
    data_dir = _absolute(settings.data_dir)
    database = _database_or_none(settings)
    if path == data_dir:
        return f"the data dir {data_dir}"
    if database is not None and _real(path) == database:
        return f"the database {database}"
    if path.is_relative_to(data_dir):
        return f"{path} in the data dir {data_dir}"
    return str(path)


def _database_name(settings: Settings | None) -> str:
    """How a message names the database: its SQLite file, or its URL without the password."""
    if settings is None:
        return "(unknown)"
    return str(_database_or_none(settings) or shown_url(settings.effective_database_url))


def _database_message(exc: BaseException, settings: Settings | None) -> str:
    reason = first_line(getattr(exc, "orig", None) or exc)
    if settings is None:
        return f"database error: {reason}"
    database = _database_or_none(settings)
    if database is None:
        return f"database {shown_url(settings.effective_database_url)}: {reason}"
    # SQLite only says "unable to open database file" or "attempt to write a readonly database": find out
    # what the operating system says about the file and its directory (the journal files live there)
    denied = _write_refusal(database)
    if denied is not None:
        message = _os_message(denied, settings)
        if message is not None:
            return message
    return f"database {database}: {reason}"


def unwritable(settings: Settings) -> str | None:
    """Why the server could never write its storage (the data dir, the media dir, the SQLite file), or None.

    A full disk is no reason: it is a passing state the server rides out (statuses wait for room).
    """
    database = database_file(settings)
    refusals = [  # the media dir is made at the first upload
        _directory_refusal(directory)
        for directory in (settings.data_dir, settings.media_dir)
        if directory.is_dir()
    ]
    if database is not None:
        refusals.append(_write_refusal(database))
    for refusal in refusals:
        if refusal is not None and refusal.errno not in (errno.ENOSPC, errno.EDQUOT):
            return _os_message(refusal, settings)
    return None


def _write_refusal(database: Path) -> OSError | None:
    directory = database.parent
    if not directory.is_dir():
        return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(directory))
    if database.exists():
        try:
            os.close(os.open(database, os.O_RDWR))
        except OSError as exc:
            return exc
    return _directory_refusal(directory)


def _directory_refusal(directory: Path) -> OSError | None:
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=".statusgate-probe-"):
            pass
    except OSError as exc:
        return OSError(exc.errno, exc.strerror, str(directory))
    return None


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))
