"""What ``serve`` and ``demo`` do before and around uvicorn: the one-server lock, the listening sockets, the run.

Order matters, and each step fails with one line (a :class:`CliError`):
1. the lock: one server per SQLite file, keyed on the file's real path (:mod:`statusgate.sqlite_file`);
2. the sockets: bound and listening here, so a busy port is an error before anything is printed, and what
   ``demo`` prints (a ready curl) only appears once the port takes connections;
3. uvicorn runs on those sockets; a failure in the application's startup (its lifespan) is raised here as the
   exception itself, for the command line to report, instead of uvicorn's traceback and exit code 3.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statusgate.cli_errors import CliError
from statusgate.cli_storage import database_file
from statusgate.settings import Settings
from statusgate.sqlite_file import lock_path

#: uvicorn's default listen backlog
BACKLOG = 2048
PORT_FLAGS = "--port or STATUSGATE_PORT"
HOST_FLAGS = "--host or STATUSGATE_HOST"


#: the parts of a server each role runs; on SQLite one process per part and database
_PARTS = {"all": ("api", "worker"), "api": ("api",), "worker": ("worker",)}


def hold_server_lock(settings: Settings) -> list[int]:
    """On SQLite, one API and one worker per database: a second of either refuses to start.

    ``all`` holds both locks, ``api`` and ``worker`` one each, so one ``api`` and one ``worker`` can share a
    file. The lock files sit next to the database's real file, whatever way the URL names it; the returned
    descriptors stay open (and locked) for the life of the process.
    """
    database = database_file(settings)
    if database is None:
        return []
    held: list[int] = []
    try:
        for part in _PARTS[settings.role]:
            held.append(_lock(lock_path(database, part), database, part))
    except BaseException:
        for fd in held:
            os.close(fd)
        raise
    return held


def _lock(path: Path, database: Path, part: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise CliError(
            f"another statusgate server with an {part} is already running on {database}; SQLite allows "
            "one api and one worker per database (--role all is both; use PostgreSQL to run more)"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address ``host`` names (as asyncio's ``create_server`` would bind them).

    With port 0 the first socket picks a free port and the others take the same one.
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CliError(f"cannot listen on host {host!r}: {exc.strerror}; set {HOST_FLAGS}") from None
    sockets: list[socket.socket] = []
    seen: set[tuple[int, str]] = set()
    try:
        for family, type_, proto, _name, address in infos:
            ip = str(address[0])
            if family not in (socket.AF_INET, socket.AF_INET6) or (family, ip) in seen:
                continue
            seen.add((family, ip))
            sock = socket.socket(family, type_, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            chosen = bound_port(sockets) if len(sockets) > 1 and port == 0 else port
            try:
                sock.bind((ip, chosen, *address[2:]))
            except OSError as exc:
                raise CliError(_bind_failure(exc, ip, chosen)) from None
            sock.listen(BACKLOG)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind_failure(exc: OSError, host: str, port: int) -> str:
    where = _where(host, port)
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use on {host}: choose another with {PORT_FLAGS}"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: {exc.strerror}: choose another port with {PORT_FLAGS}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"cannot listen on {where}: {exc.strerror}: choose an address of this machine with {HOST_FLAGS}"
        )
    return f"cannot listen on {where}: {exc.strerror}: check {HOST_FLAGS} and {PORT_FLAGS}"


def bound_port(sockets: list[socket.socket]) -> int:
    return int(sockets[0].getsockname()[1])


class StartupGuard:
    """Wraps the application so a failure of its lifespan reaches our caller as the exception itself.

    Starlette reports a failed startup with the whole traceback as the message, which uvicorn logs; the guard
    keeps the report (uvicorn still sees the failure and stops) without the traceback, and remembers the
    exception for :func:`run`.
    """

    def __init__(self, app: ASGIApp, started: str) -> None:
        self.app = app
        #: logged once the application has started (uvicorn says where it listens only for sockets it binds)
        self.started = started
        self.failure: BaseException | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def quiet_send(message: Message) -> None:
            if message["type"] in ("lifespan.startup.failed", "lifespan.shutdown.failed"):
                message = {"type": message["type"], "message": ""}
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                logging.getLogger("uvicorn.error").info("%s", self.started)

        try:
            await self.app(scope, receive, quiet_send)
        except Exception as exc:
            self.failure = exc
            raise


def run(
    app: ASGIApp,
    settings: Settings,
    sockets: list[socket.socket],
    log_config: dict[str, Any] | None,
    on_exit: Callable[[], None] | None = None,
) -> None:
    """Serve ``app`` with uvicorn on ``sockets`` until SIGTERM/SIGINT; a failed startup raises its error.

    ``on_exit`` is called (in the event loop) as soon as the signal arrives, before uvicorn waits for the
    requests in flight: long-polls can then answer at once instead of holding the shutdown.
    """
    import asyncio

    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if on_exit is not None:
                with contextlib.suppress(RuntimeError):  # no loop running yet: nothing waits
                    asyncio.get_running_loop().call_soon_threadsafe(on_exit)
            super().handle_exit(sig, frame)

    urls = ", ".join(f"http://{_where(*sock.getsockname()[:2])}" for sock in sockets)
    guard = StartupGuard(app, f"Uvicorn running on {urls} (Press CTRL+C to quit)")
    config = uvicorn.Config(
        guard,
        host=settings.host,
        port=bound_port(sockets),
        log_config=log_config,
        backlog=BACKLOG,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) or None,
        server_header=False,
    )
    try:
        Server(config).run(sockets=sockets)
    except SystemExit:
        if guard.failure is None:
            raise
    finally:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
    if guard.failure is not None:
        raise guard.failure
