"""A fork server for the command line: ``python -m statusgate ARGS`` without paying for its imports each time.

Starting a fresh interpreter and importing statusgate (SQLAlchemy, alembic, PyAV, pyvips …) takes about a
second; the acceptance tests run the CLI well over a hundred times. This process imports ``statusgate.cli``
and the modules its commands import (:data:`PRELOADED`) once, and does nothing else (no thread, no event
loop, no database connection exists before a fork), then forks a new process per command. Each command
still runs in a process of its own, with its own environment, working directory, stdin (``/dev/null``),
stdout and stderr, and exits with what ``python -m statusgate`` would exit with: the CLI's code is the real
one, run as ``__main__``.

Protocol (``tests.support.cli`` is the client): one connection per command on the Unix socket named on the
command line; the client sends a JSON line ``{"argv", "env", "cwd"}`` with its stdout and stderr files as two
file descriptors (SCM_RIGHTS); a runner process (forked per connection) forks the command, answers
``pid N`` at once and ``exit CODE`` (a negative code: the signal that ended it) when it is over.
The server exits when the process that started it is gone.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import runpy
import signal
import socket
import sys
import threading
import traceback
from typing import Any

import statusgate.cli

#: what the commands import when they run: ``statusgate.cli`` imports only what its parser needs, to start
#: quickly, which would leave every forked command to import the storage, the services, the media pipeline
#: and the web stack again (and Alembic, which migrates each test's new data dir)
PRELOADED = (
    "alembic.command",
    "alembic.config",
    "alembic.migration",
    "alembic.script",
    "statusgate.cli_storage",
    "statusgate.logs",
    "statusgate.media.prepare",
    "statusgate.serving",
    "statusgate.services.demo",
    "statusgate.settings_doc",
    "statusgate.wiring.server",
)


def _run_command(request: dict[str, Any], out_fd: int, err_fd: int) -> int:
    """In the forked command process: become ``python -m statusgate ARGV`` and return its exit code."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    for fd in (null, out_fd, err_fd):
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    main = os.path.join(os.path.dirname(statusgate.cli.__file__), "__main__.py")
    sys.argv = [main, *request["argv"]]
    try:
        runpy.run_module("statusgate", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        # as the interpreter does: None is 0, an int is itself, anything else is printed and is 1
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    return code


def _exit(code: int) -> None:
    """What the interpreter does at exit (non-daemon threads joined, atexit handlers, logging shut down,
    stdio flushed), then exit: without tearing down every module, which in a copy of this big process
    would take a quarter of a second."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _runner(conn: socket.socket) -> None:
    """In the process forked per connection: fork the command, report its pid and then its exit code."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    message, fds, _flags, _address = socket.recv_fds(conn, 1 << 20, 2)
    request = json.loads(message)
    out_fd, err_fd = fds
    pid = os.fork()
    if pid == 0:  # the command
        conn.close()
        code = _run_command(request, out_fd, err_fd)
        _exit(code)
    for fd in fds:
        os.close(fd)
    conn.sendall(f"pid {pid}\n".encode())
    _, status = os.waitpid(pid, 0)
    conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
    conn.close()


def serve(path: str) -> None:
    for name in PRELOADED:
        importlib.import_module(name)
    parent = os.getppid()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # runners are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # bound under another name and renamed once listening: the client waits for ``path`` to exist, and a
    # connect between bind() and listen() would be refused
    listener.bind(path + ".binding")
    listener.listen(64)
    os.rename(path + ".binding", path)
    listener.settimeout(1.0)
    gc.freeze()  # the imported modules' objects stay out of the collector: fewer pages copied per fork
    while os.getppid() == parent:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        conn.settimeout(None)
        if os.fork() == 0:  # the runner
            listener.close()
            try:
                _runner(conn)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        conn.close()
    listener.close()


if __name__ == "__main__":
    serve(sys.argv[1])
