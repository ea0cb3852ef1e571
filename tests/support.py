"""Test helpers shared by every tier: media files, a loopback file server, polling, the CLI, a server process."""

from __future__ import annotations

import atexit
import contextlib
import http.server
import io
import json
import locale
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Self, TypeVar

import httpx
from PIL import Image

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def jpeg_bytes(width: int = 90, height: int = 160, color: tuple[int, int, int] = (200, 30, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="JPEG")
    return out.getvalue()


def wav_bytes(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A 440 Hz mono tone, written with the standard library's wave module."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        samples = (int(8000 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(int(seconds * rate)))
        wav.writeframes(b"".join(struct.pack("<h", sample) for sample in samples))
    return out.getvalue()


def wait_for(
    check: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll until ``check`` returns something truthy; generous deadlines, never a timing assertion."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or check!r}; last value: {last!r}")


#: the ports :func:`free_port` hands out: a block of its own for each pytest-xdist worker, below the
#: kernel's ephemeral range, so that neither another worker nor any outgoing connection (whose local port
#: the kernel takes from that range) can be given a port between the probe and the server's own bind
PORT_BLOCK = 2000
PORTS_FROM = 20000
_port_lock = threading.Lock()
_next_port: list[int] = []


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1 … under xdist
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def free_port() -> int:
    """A loopback port nothing listens on now, for a server the test starts next."""
    low = PORTS_FROM + _worker_index() * PORT_BLOCK
    if low + PORT_BLOCK > _ephemeral_low():  # no room below the ephemeral range: let the kernel choose
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    with _port_lock:
        if not _next_port:  # where in the block this process starts: a process started later goes on
            _next_port.append(int(time.monotonic() * 1000) % PORT_BLOCK)
        for _ in range(PORT_BLOCK):
            # one port after the other: a port is not handed out again before the whole block was
            port = low + _next_port[0] % PORT_BLOCK
            _next_port[0] += 1
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError(f"no free port in {low}..{low + PORT_BLOCK - 1}")


class FileServer:
    """A tiny HTTP server on 127.0.0.1 serving in-memory files: ``server.files["/a.jpg"] = (bytes, type)``."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str, dict[str, str]]] = {}
        #: HTTP status per path (200 when absent), e.g. 302 with a Location header for a redirect
        self.statuses: dict[str, int] = {}
        self.requests: list[str] = []
        files, requests, statuses = self.files, self.requests, self.statuses

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                found = files.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                body, content_type, headers = found
                self.send_response(statuses.get(self.path, 200))
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                # the client may hang up before the end (a fetch that stops at its size limit)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes, content_type: str = "image/jpeg", **headers: str) -> str:
        self.files[path] = (body, content_type, headers)
        return self.url(path)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


#: an address book for sandbox instances (``statusgate sandbox contacts import``): two named contacts
TWO_CONTACTS = [
    {"id": "79990000001@c.us", "name": "Ann", "contactName": "Ann", "inAddressBook": True},
    {"id": "79990000002@c.us", "name": "Ben", "contactName": "Ben", "inAddressBook": True},
]


def base_env(data_dir: Path, **settings: Any) -> dict[str, str]:
    """The environment of a statusgate subprocess: fast polling, loopback media allowed, the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGATE_")}
    defaults: dict[str, Any] = {
        "data_dir": data_dir,
        "allow_private_urls": "true",
        "poll_interval_seconds": 0.1,
        "delay_default_ms": 500,
        "sandbox_reboot_seconds": 0.5,
        # tests and benches poll as fast as they like; the limits' own tests switch them on
        "rate_limits": "off",
    }
    for key, value in (defaults | settings).items():
        env[f"STATUSGATE_{key.upper()}"] = str(value)
    return env


class _ForkServer:
    """The client of tests/cli_forkserver.py: one per test process, started at the first command."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None

    def _socket(self) -> str:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._dir = tempfile.mkdtemp(prefix="statusgate-cli-")
                path = os.path.join(self._dir, "socket")
                env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGATE_")}
                log = open(os.path.join(self._dir, "log"), "ab")  # noqa: SIM115 - the child keeps it
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "tests.cli_forkserver", path],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
                log.close()
                proc = self._proc

                def listening() -> bool:
                    if proc.poll() is not None:
                        raise AssertionError(f"the CLI fork server exited with {proc.returncode}")
                    return os.path.exists(path)

                wait_for(listening, timeout=60, interval=0.01, what="the CLI fork server")
                atexit.register(self.stop)
            assert self._dir is not None
            return os.path.join(self._dir, "socket")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def run(self, args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
        """Run ``python -m statusgate ARGS`` as a process forked from the server; as ``subprocess.run``."""
        path = self._socket()
        with (
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn,
        ):
            conn.settimeout(timeout)
            conn.connect(path)
            request = {"argv": args, "env": env, "cwd": os.getcwd()}
            socket.send_fds(conn, [json.dumps(request).encode()], [out.fileno(), err.fileno()])
            reader = conn.makefile("rb")
            pid: int | None = None
            try:
                pid = int(reader.readline().split()[1])
                line = reader.readline()
                if not line.startswith(b"exit "):
                    raise AssertionError(f"the CLI fork server broke off statusgate {' '.join(args)}")
                code = int(line.split()[1])
            except TimeoutError:
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(["statusgate", *args], timeout) from None
            finally:
                reader.close()

            def text(file: IO[bytes]) -> str:  # as subprocess.run(text=True) decodes
                file.seek(0)
                decoded = file.read().decode(locale.getpreferredencoding(False))
                return decoded.replace("\r\n", "\n").replace("\r", "\n")

            return subprocess.CompletedProcess(["statusgate", *args], code, text(out), text(err))


_fork_server = _ForkServer()


def cli(
    env: dict[str, str], *args: str, check: bool = True, fresh: bool = False
) -> subprocess.CompletedProcess[str]:
    """``python -m statusgate ARGS``: a process of its own, forked from a server that has the imports done
    (about a second saved per command); ``fresh``: a new interpreter, for tests of the process itself."""
    if fresh:
        result = subprocess.run(
            [sys.executable, "-m", "statusgate", *args], env=env, capture_output=True, text=True, timeout=60
        )
    else:
        result = _fork_server.run(list(args), env, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"statusgate {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def cli_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(cli(env, *args, "--json").stdout)


class ServerProcess:
    """``statusgate serve`` as a real subprocess on loopback; its whole output goes to ``log_path``."""

    def __init__(self, env: dict[str, str], log_path: Path, command: str = "serve") -> None:
        self.port = free_port()
        self.env = env | {"STATUSGATE_PORT": str(self.port), "STATUSGATE_HOST": "127.0.0.1"}
        self.log_path = log_path
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        """The server's command line (a subclass may run it inside something: a namespace, say)."""
        return [sys.executable, "-m", "statusgate", self.command]

    def start(self, timeout: float = 60.0) -> Self:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.argv(), env=self.env, stdout=log, stderr=log)
        log.close()

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}: {self.output()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
            return False

        wait_for(healthy, timeout=timeout, what="server health")
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        with contextlib.suppress(Exception):
            self.terminate(timeout=20)
        self.kill()


class ServerPair:
    """``serve --role worker`` and ``serve --role api`` on one SQLite data dir: the same face as
    :class:`ServerProcess` (``url``, ``env``, ``output()``, ``terminate()``, ``kill()``), its two processes
    as ``api`` and ``worker``."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.api = ServerProcess(env | {"STATUSGATE_ROLE": "api"}, log_path.with_suffix(".api.log"))
        worker_port = free_port()
        self.worker = ServerProcess(
            env
            | {
                "STATUSGATE_ROLE": "worker",
                "STATUSGATE_WORKER_PORT": str(worker_port),
                # links are recognised by the public URL, which the API's port names
                "STATUSGATE_PUBLIC_URL": env.get("STATUSGATE_PUBLIC_URL", self.api.url),
            },
            log_path.with_suffix(".worker.log"),
        )
        self.worker.port, self.worker.url = worker_port, f"http://127.0.0.1:{worker_port}"
        self.worker.env["STATUSGATE_PORT"] = str(self.api.port)
        self.api.env.setdefault("STATUSGATE_PUBLIC_URL", self.api.url)
        self.env = self.api.env
        self.url = self.api.url
        self.port = self.api.port

    def start(self, timeout: float = 60.0) -> ServerPair:
        self.worker.start(timeout)
        self.api.start(timeout)

        def worker_seen() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return bool(httpx.get(f"{self.api.url}/health", timeout=1).json().get("worker"))
            return False

        wait_for(worker_seen, timeout=timeout, what="the api seeing the worker")
        return self

    def output(self) -> str:
        return self.api.output() + self.worker.output()

    def kill(self) -> None:
        self.api.kill()
        self.worker.kill()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM to both; the worst exit code (0 or -SIGTERM when both stopped cleanly)."""
        codes = [self.api.terminate(timeout), self.worker.terminate(timeout)]
        return next((code for code in codes if code not in (0, -signal.SIGTERM)), codes[0])

    def __enter__(self) -> ServerPair:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        with contextlib.suppress(Exception):
            self.terminate(timeout=20)
        self.kill()


@contextlib.contextmanager
def running_server(env: dict[str, str], log_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(env, log_path) as server:
        yield server


class WebhookReceiver:
    """A webhook receiver on 127.0.0.1 that records every POST and answers as scripted.

    ``script`` is consumed one entry per POST: an HTTP status code, or ``"slow"`` (hold the request
    ``slow_seconds``, longer than the server's webhook timeout, then answer 200). Once it is empty every POST
    gets ``default``. ``attempts`` lists ``(body, headers, outcome)`` of every POST; ``delivered`` only the
    bodies answered 2xx in time. ``stop()`` closes the port (connections are refused); ``start()`` opens it
    again on the same port.
    """

    def __init__(self, slow_seconds: float = 2.5) -> None:
        self.slow_seconds = slow_seconds
        self.script: list[int | str] = []
        self.default: int = 200
        self.attempts: list[tuple[dict[str, Any], dict[str, str], int | str]] = []
        self.delivered: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.port = 0
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _answer(self, body: dict[str, Any], headers: dict[str, str]) -> int | str:
        with self.lock:
            outcome = self.script.pop(0) if self.script else self.default
            self.attempts.append((body, headers, outcome))
            if isinstance(outcome, int) and 200 <= outcome < 300:
                self.delivered.append(body)
            return outcome

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                outcome = receiver._answer(body, dict(self.headers))
                if outcome == "slow":
                    time.sleep(receiver.slow_seconds)
                    outcome = 200
                with contextlib.suppress(OSError):  # the sender may have given up on a slow answer
                    self.send_response(int(outcome))
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def snapshot(self) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, str], int | str]]]:
        with self.lock:
            return list(self.delivered), list(self.attempts)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
