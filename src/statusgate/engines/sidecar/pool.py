"""Child processes that each hold several accounts: a pool of them, and each account's share of one.

An engine whose child can hold several accounts (frames addressed ``"a": <instance id>``, docs/engines.md)
saves a runtime per account this way (a Node process with Baileys loaded is most of an account's memory).
Each account still sees a child of its own (:class:`AccountChannel`, a :class:`~.process.Child`): started by
its own hello, its requests and events its own, its own requests answered by its own handler (the baileys
engine's: under its own account's fence). A process is started when no process has a free slot, and asked
to exit when its last account leaves; when it dies, every account on it sees its child exit, as it would
its own process', and restarts as it always does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from statusgate.engines.sidecar.framing import TRANSIENT, Envelope, Reply, Response, Welcome
from statusgate.engines.sidecar.process import (
    ChildKind,
    ChildProcess,
    ChildStartError,
)
from statusgate.engines.sidecar.serving import (
    CHILD_REQUEST_BACKLOG,
    CHILD_REQUEST_CONCURRENCY,
    ChildRequests,
    RequestHandler,
)


class SharedProcess(ChildProcess):
    """One child process and the accounts on it, its frames routed by their address."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        kind: ChildKind,
        *,
        log: logging.Logger,
        on_gone: Callable[[SharedProcess], None],
        request_concurrency: int,
        request_backlog: int,
    ) -> None:
        super().__init__(
            name,
            command,
            kind,
            log=log,
            on_event=self._process_event,
            on_exit=self._process_exit,
            request_concurrency=request_concurrency,
            request_backlog=request_backlog,
        )
        self.channels: dict[int, AccountChannel] = {}
        #: asked to exit (its last account left): takes no new account
        self.closing = False
        self._on_gone = on_gone

    async def launch(self) -> None:
        """Start the process; it waits for its accounts' hellos."""
        await self._spawn()
        self._read_frames()

    def _received(self, envelope: Envelope) -> None:
        if envelope.account is None or isinstance(envelope.frame, Response):
            # answers are matched by id, which is the process' whatever the address
            super()._received(envelope)
            return
        frame = envelope.frame
        channel = self.channels.get(envelope.account)
        if channel is not None:
            channel.received(envelope)
        elif self.kind.is_request(frame) and envelope.id is not None:
            gone = Reply(ok=False, error=f"no account {envelope.account} here", error_kind=TRANSIENT)
            self._write_nowait(self.kind.codec.encode(gone, envelope.id, envelope.account))
        # else: an event of an account that has left (its socket closing): nobody's to hear

    def _process_event(self, frame: object) -> None:
        self.log.warning("an event from the engine process for no account: %r", frame)

    def _process_exit(self, code: int) -> None:
        self.closing = True
        self._on_gone(self)
        channels, self.channels = list(self.channels.values()), {}
        for channel in channels:
            channel.process_exited(code)

    def write_nowait(self, data: bytes) -> None:
        self._write_nowait(data)

    async def write(self, data: bytes) -> None:
        await self._write(data)


class ProcessPool:
    """The processes of one engine, each holding up to ``capacity`` accounts."""

    def __init__(
        self,
        name: str,
        command: Callable[[], Sequence[str]],
        kind: ChildKind,
        capacity: int,
        *,
        log: logging.Logger,
        request_concurrency: int = CHILD_REQUEST_CONCURRENCY,
        request_backlog: int = CHILD_REQUEST_BACKLOG,
    ) -> None:
        self.name = name
        self.command = command
        self.kind = kind
        self.capacity = capacity
        self.log = log
        self.request_concurrency = request_concurrency
        self.request_backlog = request_backlog
        self.processes: list[SharedProcess] = []
        # one placement at a time: two accounts starting at once must not start two half-empty processes
        self._placing = asyncio.Lock()

    def channel(
        self,
        account: int,
        on_event: Callable[[Any], None],
        on_exit: Callable[[int], None],
        on_request: RequestHandler | None = None,
    ) -> AccountChannel:
        return AccountChannel(self, account, on_event, on_exit, on_request)

    async def place(self, channel: AccountChannel) -> SharedProcess:
        """A running process with a free slot, now holding ``channel`` (a new process if none has one)."""
        async with self._placing:
            for process in self.processes:
                if process.alive and not process.closing and len(process.channels) < self.capacity:
                    break
            else:
                process = SharedProcess(
                    f"{self.name}[shared]",
                    self.command(),
                    self.kind,
                    log=self.log,
                    on_gone=self._gone,
                    request_concurrency=self.request_concurrency,
                    request_backlog=self.request_backlog,
                )
                await process.launch()
                self.processes.append(process)
            if channel.account in process.channels:
                raise ChildStartError(f"account {channel.account} is already in engine process {process.pid}")
            process.channels[channel.account] = channel
            return process

    async def leave(self, channel: AccountChannel, process: SharedProcess, timeout: float) -> None:
        """``channel`` is off ``process``; a process with no account left is stopped."""
        if process.channels.get(channel.account) is channel:
            del process.channels[channel.account]
        if not process.channels and not process.closing:
            process.closing = True
            await process.stop(timeout)

    def _gone(self, process: SharedProcess) -> None:
        with contextlib.suppress(ValueError):
            self.processes.remove(process)


class AccountChannel:
    """One account's share of a :class:`SharedProcess`: what the account sees as its child."""

    def __init__(
        self,
        pool: ProcessPool,
        account: int,
        on_event: Callable[[Any], None],
        on_exit: Callable[[int], None],
        on_request: RequestHandler | None,
    ) -> None:
        self.pool = pool
        self.account = account
        self.on_event = on_event
        self.on_exit = on_exit
        self.on_request = on_request
        self.process: SharedProcess | None = None
        self.returncode: int | None = None
        self._welcome: asyncio.Future[Welcome] | None = None
        self._requests: ChildRequests | None = None
        self._started = False

    @property
    def alive(self) -> bool:
        return self._started and self.returncode is None and self.process is not None and self.process.alive

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    async def start(self, hello: Any, timeout: float) -> Welcome:
        process = await self.pool.place(self)
        self.process = process
        self._requests = ChildRequests(
            process.kind.codec,
            self.on_request,
            write=process.write,
            write_nowait=process.write_nowait,
            log=process.log,
            concurrency=self.pool.request_concurrency,
            backlog=self.pool.request_backlog,
            name=f"{self.pool.name}[{self.account}]",
            account=self.account,
        )
        welcome: asyncio.Future[Welcome] = asyncio.get_running_loop().create_future()
        self._welcome = welcome
        try:
            async with asyncio.timeout(timeout):
                await process.write(process.kind.codec.encode(hello, None, self.account))
                first = await welcome
        except TimeoutError:
            # a late Welcome would leave the account running in the process with nobody to hear it
            with contextlib.suppress(ConnectionError):
                await process.write(process.kind.codec.encode(process.kind.shutdown, 0, self.account))
            await self._leave(timeout)
            raise ChildStartError(
                f"the engine process did not take the account within {timeout:g} s"
            ) from None
        except ConnectionError as exc:
            await self._leave(timeout)
            raise ChildStartError(f"the engine process failed to take the account: {exc}") from None
        except ChildStartError:
            await self._leave(timeout)
            raise
        finally:
            self._welcome = None
        self._started = True
        return first

    def received(self, envelope: Envelope) -> None:
        """A frame of this account's, from its process (answers excepted: those go by id)."""
        frame = envelope.frame
        kind = self.pool.kind
        welcome = self._welcome
        if welcome is not None and not welcome.done():
            reason = kind.fatal_reason(frame)
            if isinstance(frame, Welcome):
                welcome.set_result(frame)
            elif reason is not None:
                welcome.set_exception(ChildStartError(reason))
            else:
                welcome.set_exception(ChildStartError(f"unexpected {frame!r}"))
            return
        if kind.is_request(frame) and envelope.id is not None and self._requests is not None:
            self._requests.serve(envelope.id, frame)
        elif kind.is_event(frame):
            self.on_event(frame)
        else:
            self.pool.log.warning("unexpected frame from the engine process for %s: %r", self.account, frame)

    async def request(
        self, request: Any, timeout: float, *, on_response: Callable[[Response], None] | None = None
    ) -> Response:
        future = await self.submit(request, on_response=on_response)
        return await self.wait(future, timeout)

    async def submit(
        self, request: Any, *, on_response: Callable[[Response], None] | None = None
    ) -> asyncio.Future[Response]:
        if self.process is None or not self.alive:
            future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
            future.set_result(
                Response(ok=False, error="the engine process is not running", error_kind=TRANSIENT)
            )
            return future
        return await self.process.submit(request, on_response=on_response, account=self.account)

    async def wait(self, future: asyncio.Future[Response], timeout: float) -> Response:
        async with asyncio.timeout(timeout):
            return await asyncio.shield(future)

    def in_flight(self, match: Callable[[Any], bool]) -> asyncio.Future[Response] | None:
        return None if self.process is None else self.process.in_flight(match, self.account)

    async def stop(self, timeout: float) -> None:
        """End the account's session in its process (the process stops with its last account)."""
        welcome = self._welcome
        if welcome is not None and not welcome.done():
            # stopped while its hello is out (as a process of its own would be killed while starting):
            # the start fails, and a Welcome that comes anyway finds the account gone
            welcome.set_exception(ChildStartError("the account was stopped while starting"))
            if self.process is not None:
                with contextlib.suppress(ConnectionError):
                    await self.process.write(
                        self.pool.kind.codec.encode(self.pool.kind.shutdown, 0, self.account)
                    )
            return
        if not self.alive:
            return
        assert self.process is not None
        answer = await self.process.submit(self.pool.kind.shutdown, account=self.account)
        try:
            await self.wait(answer, timeout)
        except TimeoutError:
            # the others on the process are fine: this account is dropped from it all the same
            self.pool.log.warning(
                "account %s did not leave engine process %s within %g s", self.account, self.pid, timeout
            )
        if self.returncode is None:
            self._ended(0)
            await self._leave(timeout)
            self.on_exit(0)

    def process_exited(self, code: int) -> None:
        """The process died (or exited): so did this account's child."""
        welcome = self._welcome
        if welcome is not None and not welcome.done():
            welcome.set_exception(ChildStartError(f"the engine process exited ({code}) before answering"))
        if self.returncode is None:
            self._ended(code)
            if self._started:
                self.on_exit(code)

    def _ended(self, code: int) -> None:
        self.returncode = code
        if self._requests is not None:
            self._requests.cancel()

    async def _leave(self, timeout: float) -> None:
        if self.process is not None:
            await self.pool.leave(self, self.process, timeout)
