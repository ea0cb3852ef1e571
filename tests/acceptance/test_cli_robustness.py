"""The command line when things around it go wrong (issue 9): every failure is one line on stderr, exit 1.

- one server per SQLite *file*, however the URL names it (F12);
- a read-only data dir (a real read-only bind mount in a private mount namespace: as root, chmod proves
  nothing) (F13);
- a busy port, and ``demo`` printing its curl only once the port takes connections;
- ``--version``; database URLs are never shown with their password.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.support import base_env, cli, cli_json, free_port, wait_for

STATUSGATE = [sys.executable, "-m", "statusgate"]


def one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    """The contract of docs/cli.md for a failure: exit 1, exactly one ``statusgate: …`` line, no traceback."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("statusgate: "), done.stderr
    return lines[0]


# --- F12: the one-server lock keys on the real database file ---------------------------------------------------


@contextlib.contextmanager
def server_process(env: dict[str, str], cwd: Path, log: Path, command: str = "serve") -> Iterator[Any]:
    """``statusgate serve`` in ``cwd``; yields (process, port); killed at the end whatever it did."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*STATUSGATE, command, "--port", str(port), "--host", "127.0.0.1"],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=out,
        )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def settle(proc: subprocess.Popen[bytes], port: int) -> str:
    """Wait until the server either exits or answers /health: "exited" or "serving"."""

    def outcome() -> str | None:
        if proc.poll() is not None:
            return "exited"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return "serving"
        return None

    return wait_for(outcome, timeout=60, what="the server to exit or serve")


def make_layout(root: Path) -> dict[str, Path]:
    """root/data (the data dir) and root/link → root/data; commands run in root (relative URLs start there)."""
    data = root / "data"
    data.mkdir()
    (root / "link").symlink_to(data, target_is_directory=True)
    return {"root": root, "data": data, "link": root / "link"}


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    return make_layout(tmp_path)


@pytest.fixture(scope="module")
def first_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A server on the data dir of a layout, for every spelling to try a second one against."""
    where = make_layout(tmp_path_factory.mktemp("lock"))
    root = where["root"]
    with server_process(base_env(where["data"]), root, root / "first.log") as (first, port):
        assert settle(first, port) == "serving", (root / "first.log").read_text()
        yield where
        assert first.poll() is None, "the first server died"


SPELLINGS = {
    # the spellings of tmp/data/statusgate.db, run from tmp
    "file URI": "sqlite:///file:{data}/statusgate.db?uri=true",
    "file URI with an empty authority": "sqlite:///file://{data}/statusgate.db?uri=true",
    "relative file URI": "sqlite:///file:data/statusgate.db?uri=true",
    "file URI through a symlink, percent-encoded": "sqlite:///file:{link}/status%2567ate.db?uri=true&cache=private",
    "relative path": "sqlite:///data/statusgate.db",
    "sqlite:// rather than sqlite+aiosqlite://": "sqlite:///{data}/statusgate.db",
    "symlinked dir": "sqlite+aiosqlite:///{link}/statusgate.db",
}


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_a_second_server_on_the_same_file_refuses_however_the_url_names_it(
    first_server: dict[str, Path], spelling: str
) -> None:
    root, data = first_server["root"], first_server["data"]
    url = SPELLINGS[spelling].format(data=data, link=first_server["link"])
    env = base_env(data) | {"STATUSGATE_DATABASE_URL": url}
    log = root / f"second-{len(list(root.glob('second-*')))}.log"
    with server_process(env, root, log) as (second, port):
        assert settle(second, port) == "exited", f"a second server started on {url}"
        assert second.returncode == 1, log.read_text()
        assert "already running" in log.read_text(), log.read_text()
        assert str(data / "statusgate.db") in log.read_text(), log.read_text()
    assert not list(root.glob("file:*")), "a lock file landed relative to the working directory"


def test_the_lock_file_sits_next_to_the_real_database_file(layout: dict[str, Path]) -> None:
    root, data = layout["root"], layout["data"]
    url = "sqlite:///file:link/statusgate.db?uri=true"
    env = base_env(data) | {"STATUSGATE_DATABASE_URL": url}
    with server_process(env, root, root / "server.log") as (proc, port):
        assert settle(proc, port) == "serving", (root / "server.log").read_text()
        assert (data / "statusgate.db").is_file()
        assert (data / "statusgate.db.lock").is_file()
        assert int((data / "statusgate.db.lock").read_text()) == proc.pid
        assert not list(root.glob("file:*"))
        # and a default second server (the data dir) sees it
        second = subprocess.run(
            [*STATUSGATE, "serve", "--port", str(free_port())],
            env=base_env(data),
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "already running" in one_line_failure(second)


def test_sqlite_file_is_the_file_sqlalchemy_opens(layout: dict[str, Path], monkeypatch: Any) -> None:
    """The lock's key against what store/dialects.py really opens: each URL creates a database, found there."""
    from statusgate.sqlite_file import sqlite_file

    monkeypatch.chdir(layout["root"])
    data = layout["data"]
    for spelling, template in SPELLINGS.items():
        url = template.format(data=data, link=layout["link"])
        for existing in data.iterdir():
            existing.unlink()
        engine = sa.create_engine(url.replace("sqlite+aiosqlite", "sqlite+pysqlite"))
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x)")
        engine.dispose()
        assert [p.name for p in data.iterdir()] == ["statusgate.db"], spelling
        assert sqlite_file(url) == data / "statusgate.db", spelling
    for memory in (
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite+aiosqlite://",
        "sqlite:///file::memory:?uri=true",
        "sqlite:///file:x.db?uri=true&mode=memory",
    ):
        assert sqlite_file(memory) is None, memory
    assert sqlite_file("postgresql+psycopg://user:pw@localhost/statusgate") is None


# --- F13: a read-only data dir -----------------------------------------------------------------------------


def _unshare() -> list[str] | None:
    """The command that gives a child its own mount namespace (as root, or as a user with a mapped root)."""
    if shutil.which("unshare") is None:
        return None
    return ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--mount"]


READ_ONLY = (
    'target=$1; shift; mount --bind "$target" "$target" && mount -o remount,bind,ro "$target" && exec "$@"'
)


def read_only(target: Path, env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with ``target`` (a directory or a file) bind-mounted read-only, for it alone."""
    unshare = _unshare()
    assert unshare is not None
    return subprocess.run(
        [*unshare, "sh", "-c", READ_ONLY, "sh", str(target), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def mounts(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip unless a read-only bind mount really refuses writes here."""
    probe = tmp_path_factory.mktemp("probe")
    if _unshare() is None:
        pytest.skip("no unshare(1)")
    done = read_only(probe, dict(os.environ), "sh", "-c", f"! touch {probe}/x 2>/dev/null")
    if done.returncode != 0 or (probe / "x").exists():
        pytest.skip(f"read-only bind mounts are not available here: {done.stderr.strip()}")


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory, mounts: None) -> dict[str, Any]:
    """A data dir made while writable: the database, an authorized instance with contacts, a media dir."""
    root = tmp_path_factory.mktemp("readonly")
    data = root / "data"
    env = base_env(data)
    creds = cli_json(env, "instance", "create", "--authorized")
    book = root / "book.json"
    book.write_text('[{"id": "79990000001@c.us", "name": "A", "contactName": "A"}]')
    cli(env, "sandbox", "contacts", "import", str(creds["idInstance"]), str(book))
    (data / "media").mkdir(exist_ok=True)
    return {"root": root, "data": data, "env": env, "id": str(creds["idInstance"]), "book": str(book)}


COMMANDS = {
    "serve": ["serve", "--port", "{port}"],
    "demo": ["demo", "--port", "{port}"],
    "instance list": ["instance", "list"],
    "instance create": ["instance", "create"],
    "instance rotate-token": ["instance", "rotate-token", "{id}"],
    "instance set": ["instance", "set", "{id}", "--status-access", "off"],
    "instance delete": ["instance", "delete", "{id}"],
    "sandbox scan": ["sandbox", "scan", "{id}"],
    "sandbox logout": ["sandbox", "logout", "{id}"],
    "sandbox contacts import": ["sandbox", "contacts", "import", "{id}", "{book}"],
    "sandbox post": ["sandbox", "post", "{id}", "--from", "79990000001@c.us", "--text", "hi"],
    "sandbox fail": ["sandbox", "fail", "{id}", "--mode", "transient"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_on_a_read_only_data_dir_fails_in_one_line(stored: dict[str, Any], name: str) -> None:
    values = {"port": str(free_port()), "id": stored["id"], "book": stored["book"]}
    args = [part.format(**values) for part in COMMANDS[name]]
    done = read_only(stored["data"], stored["env"], *STATUSGATE, *args)
    line = one_line_failure(done)
    assert str(stored["data"]) in line, line
    assert "Read-only file system" in line, line
    assert done.stdout == "", done.stdout  # demo: no credentials, no curl


def test_a_data_dir_that_cannot_be_made_fails_in_one_line(stored: dict[str, Any]) -> None:
    fresh = stored["data"] / "fresh"
    done = read_only(stored["data"], stored["env"], *STATUSGATE, "instance", "list", "--data-dir", str(fresh))
    assert (
        one_line_failure(done) == f"statusgate: cannot write to the data dir {fresh}: Read-only file system"
    )


@pytest.mark.parametrize("what", ["database file", "media dir"])
def test_serve_refuses_storage_it_cannot_write(stored: dict[str, Any], what: str) -> None:
    """The lock file can be written, but not the database file (or the media dir): serve says so, in one
    line, before uvicorn starts (not as a lifespan traceback)."""
    target = stored["data"] / ("statusgate.db" if what == "database file" else "media")
    port = str(free_port())
    done = read_only(target, stored["env"], *STATUSGATE, "serve", "--port", port)
    line = one_line_failure(done)
    assert str(target) in line, line
    assert "Read-only file system" in line, line


# --- serve/demo: bind first, print after ------------------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on (127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        yield int(blocker.getsockname()[1])


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_busy_port_is_one_line_naming_the_setting(tmp_path: Path, busy_port: int, command: str) -> None:
    env = base_env(tmp_path / "data") | {"STATUSGATE_HOST": "127.0.0.1"}
    done = cli(env, command, "--port", str(busy_port), check=False, fresh=True)
    line = one_line_failure(done)
    assert "--port" in line, line
    assert "STATUSGATE_PORT" in line, line
    assert str(busy_port) in line, line
    assert done.stdout == "", (
        done.stdout
    )  # nothing printed: no credentials, no curl towards the other program
    assert "apiTokenInstance" not in done.stderr


def test_demo_prints_its_curl_once_the_port_takes_connections(tmp_path: Path) -> None:
    """The moment the curl line is out, the demo is frozen (SIGSTOP) and the port is tried: the kernel
    accepts the connection only if the socket already listens."""
    env = base_env(tmp_path / "data")
    port = free_port()
    log = tmp_path / "demo.log"
    with (
        log.open("wb") as stderr,
        subprocess.Popen(
            [*STATUSGATE, "demo", "--port", str(port), "--host", "127.0.0.1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as proc,
    ):
        watchdog = threading.Timer(120, proc.kill)  # a demo that never prints its curl fails, never hangs
        watchdog.start()
        try:
            assert proc.stdout is not None
            printed = []
            for line in proc.stdout:
                printed.append(line)
                if line.startswith("curl "):
                    proc.send_signal(signal.SIGSTOP)
                    break
            assert printed and printed[-1].startswith("curl "), ("".join(printed), log.read_text())
            assert f"http://127.0.0.1:{port}/" in printed[-1]
            with socket.create_connection(("127.0.0.1", port), timeout=30):
                pass  # refused (ConnectionRefusedError) if the curl came out before the port was bound
        finally:
            watchdog.cancel()
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            proc.wait(timeout=60)


# --- --version, and URLs without passwords -------------------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    done = cli(base_env(tmp_path / "data"), "--version", fresh=True)
    assert done.stdout == f"statusgate {metadata.version('statusgate')}\n"
    assert done.stderr == ""


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:s3cret@127.0.0.1:9/statusgate",  # a driver that may be missing, a closed port
        "postgresql+asyncpg://user:s3cret@127.0.0.1:9/statusgate",
        "postgresql://user:s3cret@127.0.0.1:notaport/statusgate",  # SQLAlchemy cannot read it
    ],
)
def test_a_database_url_is_never_shown_with_its_password(tmp_path: Path, url: str) -> None:
    done = cli(
        base_env(tmp_path / "data"), "instance", "list", "--database-url", url, check=False, fresh=True
    )
    line = one_line_failure(done)
    assert "s3cret" not in line, line
    assert "s3cret" not in done.stdout


def test_a_failed_startup_is_raised_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    """What the application's lifespan raises comes out of serving.run as itself (for the one-line report),
    while uvicorn logs no traceback and does not exit with its own code."""
    from starlette.applications import Starlette

    from statusgate import serving
    from statusgate.settings import Settings

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        raise OSError(30, "Read-only file system", "/nowhere")
        yield

    sockets = serving.listen("127.0.0.1", 0)
    with pytest.raises(OSError, match="Read-only file system"):
        serving.run(Starlette(lifespan=lifespan), Settings(), sockets, None)
    assert all(record.exc_info is None for record in caplog.records)
    assert not any("Traceback" in record.getMessage() for record in caplog.records)
    assert all(sock.fileno() == -1 for sock in sockets)  # closed
