"""A throwaway PostgreSQL cluster for the tests: Debian's binaries, started once per session, then removed.

The cluster lives in a fresh directory under the system temp dir (reachable by the ``postgres`` user, unlike
pytest's own temp dirs), listens on 127.0.0.1 only, on a free port, with its unix socket in that directory,
no system service, and ``fsync`` off: a crash of the test machine loses nothing anybody needs. initdb refuses
to run as root, so as root the cluster runs as Debian's ``postgres`` user; otherwise as the current user.

Each test gets a database of its own, copied from a template that already holds the migrated schema
(``CREATE DATABASE … TEMPLATE``, a few milliseconds). The databases of a test are dropped when the next test
starts (:func:`between_tests`, called by a conftest's ``pytest_runtest_setup``), once everything that used
them has been torn down; the whole cluster goes at the end of the session.

Nothing here skips: when PostgreSQL cannot be installed or started, the tests that need it fail and say why
(``make test`` installs it first: ``make postgres``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support import free_port

#: where Debian's packages put the server binaries (one directory per major version)
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
#: the database role every test connects as (a superuser: tests create and drop databases)
USER = "statusgate"
#: the database whose copies the tests get: the schema migrated to head
TEMPLATE = "statusgate_template"
START_TIMEOUT = 60.0


class PostgresUnavailable(Exception):
    """PostgreSQL could not be found or started; the message says why and what to do."""


@dataclass
class Cluster:
    directory: Path
    port: int
    password: str
    process: subprocess.Popen[bytes]
    log_path: Path
    #: how CREATE DATABASE copies a template: from PostgreSQL 15 on, a file copy of the (small) template
    #: takes half the time of the WAL-logged default
    _copy: str = ""
    #: databases made for tests and not yet dropped
    _made: list[str] = field(default_factory=list)
    _count: int = 0
    _template_ready: bool = False

    def url(self, database: str, *, scheme: str = "postgresql+psycopg") -> str:
        """A URL for ``database`` over TCP on loopback, with the password (tests must never see it printed)."""
        return f"{scheme}://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def execute(self, *statements: str) -> None:
        """Run statements outside a transaction in the ``postgres`` database (CREATE/DROP DATABASE)."""
        engine = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def new_database(self, *, migrated: bool = True) -> str:
        """A fresh, empty database (``migrated``: with the schema at head, copied from the template)."""
        if migrated:
            self._ensure_template()
        self._count += 1
        name = f"statusgate_test_{self._count}"
        template = TEMPLATE if migrated else "template0"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{self._copy}')
        self._made.append(name)
        return name

    def drop_database(self, name: str) -> None:
        """Drop one database :meth:`new_database` made, now (its connections are closed by force)."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._made:
            self._made.remove(name)

    def drop_databases(self) -> None:
        """Drop every database :meth:`new_database` made (their connections are closed by force)."""
        stale, self._made = self._made, []
        if stale:
            self.execute(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in stale))

    def _ensure_template(self) -> None:
        if self._template_ready:
            return
        from statusgate.store import migrate

        self.execute(f'CREATE DATABASE "{TEMPLATE}" TEMPLATE template0')
        engine = sa.create_engine(self.url(TEMPLATE), poolclass=sa.NullPool)
        try:
            with engine.begin() as conn:
                migrate.upgrade_in(conn)
        finally:
            engine.dispose()
        self._template_ready = True

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory; safe to call twice."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown: a client left connected does not hold it
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        shutil.rmtree(self.directory, ignore_errors=True)


def _binaries() -> Path:
    found = sorted(
        DEBIAN_BINARIES.glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name.split(".")[0])
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    if on_path is not None:
        return Path(on_path).parent
    raise PostgresUnavailable(
        f"PostgreSQL is not installed (no initdb under {DEBIAN_BINARIES}/*/bin or on PATH): "
        "run `make postgres` (as root it runs apt-get install postgresql)"
    )


def _owner() -> dict[str, Any]:
    """``subprocess`` arguments that run the server as a user initdb accepts: not root."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "running as root, but there is no `postgres` user to run PostgreSQL as "
            "(Debian's postgresql package creates it: apt-get install postgresql)"
        ) from None
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _run(command: list[str], cwd: Path, owner: dict[str, Any], what: str) -> None:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False, **owner
    )
    if result.returncode != 0:
        raise PostgresUnavailable(f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


def start() -> Cluster:
    """initdb a new cluster in a new directory and start it; :class:`PostgresUnavailable` if that fails."""
    try:
        import psycopg  # noqa: F401 - the driver statusgate[postgres] installs
    except ImportError:
        raise PostgresUnavailable(
            "the PostgreSQL driver is missing: pip install -e '.[test]' (it pulls statusgate[postgres])"
        ) from None
    binaries = _binaries()
    owner = _owner()
    directory = Path(tempfile.mkdtemp(prefix="statusgate-pg-"))
    try:
        return _start_in(directory, binaries, owner)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _start_in(directory: Path, binaries: Path, owner: dict[str, Any]) -> Cluster:
    password = secrets.token_hex(16)
    password_file = directory / "password"
    password_file.write_text(password)
    password_file.chmod(0o600)
    if owner:
        for path in (directory, password_file):
            os.chown(path, owner["user"], owner["group"])
    data = directory / "data"
    _run(
        [
            str(binaries / "initdb"),
            "--pgdata",
            str(data),
            "--username",
            USER,
            f"--pwfile={password_file}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",  # over TCP the password is needed: URLs carry one, as in production
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ],
        directory,  # the server's user may not reach the caller's directory (/root/…)
        owner,
        "initdb",
    )
    password_file.unlink()
    log_path = directory / "postgres.log"
    for _attempt in range(3):  # the free port may be taken between the probe and the bind
        port = free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    str(binaries / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={directory}",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=directory,
                **owner,
            )
        cluster = Cluster(directory, port, password, process, log_path)
        version = _wait_ready(cluster)
        if version is not None:
            cluster._copy = " STRATEGY FILE_COPY" if version >= 150000 else ""
            return cluster
        cluster.process.kill()
        cluster.process.wait(timeout=30)
    raise PostgresUnavailable(f"PostgreSQL did not start: {log_path.read_text(errors='replace')[-2000:]}")


def _wait_ready(cluster: Cluster) -> int | None:
    """The server's version number once it answers; None if it exited or never answered."""
    engine = sa.create_engine(cluster.url("postgres"), poolclass=sa.NullPool)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if cluster.process.poll() is not None:
                return None
            with contextlib.suppress(sa.exc.OperationalError), engine.connect() as conn:
                return int(conn.exec_driver_sql("SHOW server_version_num").scalar_one())
            time.sleep(0.05)
    finally:
        engine.dispose()
    return None


_session: Cluster | None = None


def cluster() -> Cluster:
    """The session's cluster, started at the first call, stopped when the interpreter exits at the latest."""
    global _session
    if _session is None:
        why = None
        try:
            _session = start()
        except PostgresUnavailable as exc:
            why = str(exc)
        if why is not None or _session is None:
            pytest.fail(why or "PostgreSQL did not start", pytrace=False)  # fail, never skip
        atexit.register(_session.stop)
    return _session


def between_tests() -> None:
    """Drop the databases the tests before made, if the session's cluster runs (from pytest_runtest_setup)."""
    if _session is not None and _session.process.poll() is None:
        _session.drop_databases()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """The session's PostgreSQL cluster (one however many modules import this fixture)."""
    global _session
    running = cluster()
    yield running
    running.stop()
    _session = None
