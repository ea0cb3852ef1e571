"""A WhatsApp engine child process: ``python -m statusgate.engines.whatsapp.child``.

One child runs one account. Requests arrive on stdin; answers and events leave on the child's original
stdout, which is moved to a private descriptor first: Go and neonize print to fd 1 ("Press Ctrl+C to exit",
login status codes), and that noise must land on stderr (the server relays it to its log), never in the
protocol. neonize is imported only here, after that, and its import-time changes (a root logging handler, a
log-pump thread, ``uname -a``) stay in this process.

The child ends with ``os._exit``: neonize's connect runs Go on a non-daemon thread that only a ``stop()``
ends, and ``stop()`` can hang or panic while pairing. whatsmeow commits its SQLite store atomically, so
ending the process is the safe way out.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from statusgate.engines.whatsapp.protocol import (
    PERMANENT,
    PROTOCOL_VERSION,
    Event,
    Fatal,
    Hello,
    ProtocolError,
    Response,
    Shutdown,
    Welcome,
    decode,
    encode,
    is_request,
)

#: neonize calls, each blocking a thread: a slow upload must not hold up a contacts request
REQUEST_THREADS = 4
#: whatsmeow's SQLite store, inside the instance's session dir
STORE_FILE = "whatsmeow.db"
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


class Writer:
    """Frames to the server, one whole line at a time, from any thread (Go callbacks included)."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def write(self, frame: Any, id: int | None = None) -> None:
        data = encode(frame, id)
        with self._lock:
            try:
                self._out.write(data)
                self._out.flush()
            except (BrokenPipeError, ValueError):
                os._exit(0)  # the server is gone: nobody to work for

    def event(self, event: Event) -> None:
        self.write(event)


def make_client(hello: Hello) -> Any:
    """neonize's client for the instance's store (or the test factory named in Hello)."""
    store = str(Path(hello.session_dir) / STORE_FILE)
    if hello.client_factory:
        module_name, _, attribute = hello.client_factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        return factory(store, uuid=str(hello.instance_id))
    from neonize.client import NewClient

    return NewClient(store, uuid=str(hello.instance_id))


def _contain_stdout() -> IO[bytes]:
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "wb", buffering=0)


def _configure_logging(level: str) -> None:
    # force=True: neonize's import called logging.basicConfig on the root logger with its own handler
    logging.basicConfig(level=level, stream=sys.stderr, format=LOG_FORMAT, force=True)


def main() -> int:
    writer = Writer(_contain_stdout())
    stdin = sys.stdin.buffer
    try:
        hello = decode(stdin.readline()).frame
    except ProtocolError as exc:
        writer.write(Fatal(f"bad hello: {exc}"))
        return 2
    if not isinstance(hello, Hello) or hello.version != PROTOCOL_VERSION:
        writer.write(Fatal(f"this child speaks protocol version {PROTOCOL_VERSION} only"))
        return 2
    _configure_logging(hello.log_level)
    try:
        from statusgate.engines.whatsapp.session import Session

        client = make_client(hello)
    except Exception as exc:
        writer.write(
            Fatal(
                f"neonize cannot be loaded ({type(exc).__name__}: {exc}); install the extra with "
                "pip install 'statusgate[whatsapp]' (it also needs the system libmagic, e.g. apt-get "
                "install libmagic1)"
            )
        )
        return 3
    _configure_logging(hello.log_level)
    session = Session(client, hello, writer.event)
    writer.write(Welcome(PROTOCOL_VERSION, os.getpid()))
    threading.Thread(target=session.run, name="neonize-connect", daemon=True).start()
    pool = ThreadPoolExecutor(max_workers=REQUEST_THREADS, thread_name_prefix="request")

    def serve(request: Any, request_id: int | None) -> None:
        writer.write(session.handle(request), request_id)

    for line in stdin:  # ends when the server closes the pipe (or dies)
        try:
            envelope = decode(line)
        except ProtocolError as exc:
            writer.write(Fatal(f"bad request: {exc}"))
            break
        if isinstance(envelope.frame, Shutdown):
            writer.write(Response(ok=True), envelope.id)
            break
        if not is_request(envelope.frame):
            writer.write(Response(ok=False, error="not a request", error_kind=PERMANENT), envelope.id)
            continue
        pool.submit(serve, envelope.frame, envelope.id)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)
