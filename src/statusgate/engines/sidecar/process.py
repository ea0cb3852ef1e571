"""One engine child process seen from the server: spawn, handshake, requests with ids, events, death.

Engine-neutral: an engine gives the child's command, its codec (``framing.Codec``), which frames are events,
which are the child's own requests (and, per child, what answers them), which first frame means the child
cannot work, and the frame that asks it to exit.

A dying child never raises into its callers: every request still waiting gets a ``Response`` of kind
:data:`DIED` (with the exit code), so the caller decides what the death means for its request.

A child's own requests (the baileys child reads and writes its keys this way) are answered by the child's
``on_request``, each in a task of its own, so they never hold up the reader (``sidecar/serving.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from statusgate.engines.sidecar.framing import (
    MAX_LINE_BYTES,
    TRANSIENT,
    Codec,
    Envelope,
    ProtocolError,
    Response,
    Welcome,
)
from statusgate.engines.sidecar.serving import (
    CHILD_REQUEST_BACKLOG,
    CHILD_REQUEST_CONCURRENCY,
    ChildRequests,
    RequestHandler,
)

#: server-side error kind: the child exited before answering
DIED = "died"
#: longest child stderr line relayed to the log
MAX_LOG_LINE = 2000

#: what a child inherits of the server's environment, whatever its engine: enough to run a program and find
#: its libraries, locale and certificates; never the server's own settings (the database URL and its
#: password, tokens): a child runs third-party code and needs none of them, its Hello tells it what it needs
CHILD_ENV_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "LD_LIBRARY_PATH",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "VIRTUAL_ENV",
        "GOMAXPROCS",
        "GOMEMLIMIT",
    }
)
CHILD_ENV_PREFIXES = ("LC_", "PYTHON")


def child_environment(extra: frozenset[str] = frozenset()) -> dict[str, str]:
    """The environment a child starts with: :data:`CHILD_ENV_NAMES`, the locale and Python variables, and the
    engine's ``extra`` names; a ``STATUSGATE_`` variable never, even if named."""
    allowed = CHILD_ENV_NAMES | extra
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("STATUSGATE_") and (name in allowed or name.startswith(CHILD_ENV_PREFIXES))
    }


class Child(Protocol):
    """What an account needs of its child: a :class:`ChildProcess` of its own, or its share of a process that
    holds several accounts (``sidecar/pool.py``)."""

    @property
    def alive(self) -> bool: ...

    @property
    def pid(self) -> int | None: ...

    async def start(self, hello: Any, timeout: float) -> Welcome: ...

    async def request(
        self, request: Any, timeout: float, *, on_response: Callable[[Response], None] | None = None
    ) -> Response: ...

    async def submit(
        self, request: Any, *, on_response: Callable[[Response], None] | None = None
    ) -> asyncio.Future[Response]: ...

    async def wait(self, future: asyncio.Future[Response], timeout: float) -> Response: ...

    def in_flight(self, match: Callable[[Any], bool]) -> asyncio.Future[Response] | None: ...

    async def stop(self, timeout: float) -> None: ...


class ChildStartError(Exception):
    """The child could not be started or refused the hello."""


@dataclass
class _Pending:
    request: Any
    future: asyncio.Future[Response]
    #: called with the response (or the DIED response) even when the caller stopped waiting
    on_response: Callable[[Response], None] | None
    #: the account the request is about, in a process of several (None: the process')
    account: int | None = None


def _no_requests(_frame: object) -> bool:
    return False


@dataclass(frozen=True)
class ChildKind:
    """What the supervision needs to know of one engine's children."""

    #: the frames of the engine's protocol
    codec: Codec
    #: whether a frame from the child is an event (anything else but a Response is unexpected)
    is_event: Callable[[object], bool]
    #: the reason a first frame gives for refusing to work (None: the frame is no such refusal)
    fatal_reason: Callable[[object], str | None]
    #: the request that asks the child to exit
    shutdown: Any
    #: environment variables this engine's children need beyond :data:`CHILD_ENV_NAMES`
    env_names: frozenset[str] = frozenset()
    #: whether a frame from the child is a request of its own (answered by the child's ``on_request``)
    is_request: Callable[[object], bool] = _no_requests


class ChildProcess:
    def __init__(
        self,
        name: str,
        command: Sequence[str],
        kind: ChildKind,
        *,
        log: logging.Logger,
        on_event: Callable[[Any], None],
        on_exit: Callable[[int], None],
        on_request: RequestHandler | None = None,
        request_concurrency: int = CHILD_REQUEST_CONCURRENCY,
        request_backlog: int = CHILD_REQUEST_BACKLOG,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.kind = kind
        self.on_event = on_event
        self.on_exit = on_exit
        self.log = log
        self.returncode: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._pending: dict[int, _Pending] = {}
        self._next_id = 1
        self._tasks: list[asyncio.Task[None]] = []
        self._exited = asyncio.Event()
        #: the child's own requests being answered
        self._requests = ChildRequests(
            kind.codec,
            on_request,
            write=self._write,
            write_nowait=self._write_nowait,
            log=log,
            concurrency=request_concurrency,
            backlog=request_backlog,
            name=name,
        )

    @property
    def alive(self) -> bool:
        return self._proc is not None and self.returncode is None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    async def start(self, hello: Any, timeout: float) -> Welcome:
        await self._spawn()
        try:
            async with asyncio.timeout(timeout):
                await self._write(self.kind.codec.encode(hello))
                envelope = await self._read_envelope()
        except TimeoutError:
            self.kill()
            await self._reap()
            raise ChildStartError(f"the engine process did not start within {timeout:g} s") from None
        except (ProtocolError, ConnectionError) as exc:
            self.kill()
            await self._reap()
            raise ChildStartError(f"the engine process failed to start: {exc}") from None
        first = None if envelope is None else envelope.frame
        if isinstance(first, Welcome):
            self._read_frames()
            return first
        self.kill()
        await self._reap()
        reason = None if first is None else self.kind.fatal_reason(first)
        if reason is not None:
            raise ChildStartError(reason)
        code = self.returncode
        raise ChildStartError(
            f"the engine process exited ({code}) before answering"
            if first is None
            else f"unexpected {first!r}"
        )

    async def _spawn(self) -> None:
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=MAX_LINE_BYTES + 1,
                env=child_environment(self.kind.env_names),
                # its own session: a Ctrl+C meant for the server does not kill it mid-send; the server
                # stops it, and it exits by itself when the server's end of the pipe closes
                start_new_session=True,
            )
        except OSError as exc:
            raise ChildStartError(f"cannot start the engine process: {exc}") from exc
        self._tasks.append(asyncio.create_task(self._relay_stderr(), name=f"{self.name}.stderr"))

    def _read_frames(self) -> None:
        self._tasks.append(asyncio.create_task(self._read_loop(), name=f"{self.name}.reader"))

    async def request(
        self, request: Any, timeout: float, *, on_response: Callable[[Response], None] | None = None
    ) -> Response:
        """Send a request and wait for its answer; on timeout a request with ``on_response`` stays in
        flight (see :meth:`in_flight`), the others are forgotten."""
        future = await self.submit(request, on_response=on_response)
        return await self.wait(future, timeout)

    async def submit(
        self,
        request: Any,
        *,
        on_response: Callable[[Response], None] | None = None,
        account: int | None = None,
    ) -> asyncio.Future[Response]:
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        if not self.alive:
            future.set_result(
                Response(ok=False, error="the engine process is not running", error_kind=TRANSIENT)
            )
            return future
        request_id = self._next_id
        self._next_id += 1
        pending = _Pending(request, future, on_response, account)
        self._pending[request_id] = pending
        try:
            await self._write(self.kind.codec.encode(request, request_id, account))
        except ConnectionError:
            # the child is dying: the reader resolves the request as DIED when it sees the exit
            self.log.debug("request %s not written: the engine process is gone", request_id)
        if on_response is None:
            future.add_done_callback(lambda _f: self._pending.pop(request_id, None))
        return future

    async def wait(self, future: asyncio.Future[Response], timeout: float) -> Response:
        # shielded: a caller giving up (its own timeout, cancellation) leaves the request to finish
        async with asyncio.timeout(timeout):
            return await asyncio.shield(future)

    def in_flight(
        self, match: Callable[[Any], bool], account: int | None = None
    ) -> asyncio.Future[Response] | None:
        """The unanswered request (about ``account``) that ``match`` picks, if any."""
        for pending in self._pending.values():
            if pending.account == account and match(pending.request) and not pending.future.done():
                return pending.future
        return None

    async def stop(self, timeout: float) -> None:
        """Ask the child to exit; kill it if it has not within ``timeout``."""
        if self.alive:
            with contextlib.suppress(ConnectionError):
                await self._write(self.kind.codec.encode(self.kind.shutdown, 0))
            try:
                async with asyncio.timeout(timeout):
                    await self._exited.wait()
            except TimeoutError:
                self.log.warning("engine process %s did not exit within %g s: killed", self.pid, timeout)
                self.kill()
        await self._reap()

    def kill(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    # --- plumbing --------------------------------------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        if self._proc.stdin.is_closing():
            raise ConnectionResetError("the engine process' stdin is closed")
        self._proc.stdin.write(data)
        await self._proc.stdin.drain()

    def _write_nowait(self, data: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        if not self._proc.stdin.is_closing():
            self._proc.stdin.write(data)

    async def _read_envelope(self) -> Envelope | None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            line = await self._proc.stdout.readline()
        except ValueError as exc:  # asyncio's "separator not found, chunk exceed the limit"
            raise ProtocolError(str(exc)) from exc
        return self.kind.codec.decode(line) if line else None

    async def _read_loop(self) -> None:
        try:
            while (envelope := await self._read_envelope()) is not None:
                self._received(envelope)
        except ProtocolError as exc:
            self.log.error("engine process broke the protocol (%s): killed", exc)
            self.kill()
        except Exception:
            self.log.exception("reading from the engine process failed: killed")
            self.kill()
        code = await self._wait_exit()
        self._requests.cancel()
        for request_id in list(self._pending):
            self._answer(
                request_id,
                Response(ok=False, error=f"the engine process exited ({code})", error_kind=DIED),
            )
        self.on_exit(code)

    def _received(self, envelope: Envelope) -> None:
        frame = envelope.frame
        if isinstance(frame, Response):
            self._answer(envelope.id, frame)
        elif self.kind.is_request(frame):
            if envelope.id is None:
                raise ProtocolError(f"a request from the engine process without an id: {frame!r}")
            self._requests.serve(envelope.id, frame)
        elif self.kind.is_event(frame):
            self.on_event(frame)
        else:
            self.log.warning("unexpected frame from the engine process: %r", frame)

    def _answer(self, request_id: int | None, response: Response) -> None:
        pending = self._pending.pop(request_id, None) if request_id is not None else None
        if pending is None:
            return  # an answer nobody waits for (Shutdown, or a forgotten request)
        if pending.on_response is not None:
            try:
                pending.on_response(response)
            except Exception:
                self.log.exception("response hook failed")
        if not pending.future.done():
            pending.future.set_result(response)

    async def _wait_exit(self) -> int:
        assert self._proc is not None
        code = await self._proc.wait()
        self.returncode = code
        self._exited.set()
        return code

    async def _relay_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while True:
            try:
                line = await self._proc.stderr.readline()
            except ValueError:
                continue  # an overlong line: skip it
            if not line:
                return
            text = line.decode(errors="replace").rstrip()
            if text:
                self.log.info("%s", text[:MAX_LOG_LINE])

    async def _reap(self) -> None:
        if self._proc is not None and self.returncode is None:
            await self._wait_exit()
        for task in [*self._tasks, *self._requests.tasks]:
            if task is asyncio.current_task():
                continue
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), 5)
