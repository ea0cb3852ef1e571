"""The server's side of a child's own requests: each answered by a ``Reply`` with the child's id.

A child asks the server for what only the server has (the baileys child: its account's keys, which live in
the database the child must never be given). Each request runs in a task of its own, so the reader goes on
with the frames behind it (the answers to the server's own requests among them); at most ``concurrency``
run at once and ``backlog`` more wait for a turn, past which a request is refused at once (transient), so a
runaway child cannot make the server hold an ever longer queue. A handler's exception becomes the answer
(:func:`refusal`), never the reader's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from statusgate.engines.sidecar.framing import FENCED, PERMANENT, TRANSIENT, Codec, Reply
from statusgate.errors import EnginePermanentError, GatewayError, LeaseLostError

#: a child's requests the server works on at once (each may be a database transaction), and those that may
#: wait for a turn beyond them: the defaults of the settings child_request_concurrency and _backlog, for a
#: caller with no settings at hand (a test's child)
CHILD_REQUEST_CONCURRENCY = 4
CHILD_REQUEST_BACKLOG = 64

#: what answers a child's request: given the request frame, the fields of the reply's ``result``; raising
#: answers an error (see :func:`refusal`)
RequestHandler = Callable[[Any], Awaitable[Mapping[str, Any]]]


def refusal(frame: object, exc: Exception, log: logging.Logger) -> Reply:
    """The reply to a request whose handler raised ``exc``. Our own errors say what happened (their text is
    ours to show); anything else is logged here, and the child learns only that the server failed, never
    the server's internals (a driver's message may hold a statement, a host, a path)."""
    name = type(frame).__name__
    if isinstance(exc, LeaseLostError):
        return Reply(ok=False, error=exc.message, error_kind=FENCED)
    if isinstance(exc, EnginePermanentError):
        return Reply(ok=False, error=exc.message, error_kind=PERMANENT)
    if isinstance(exc, GatewayError):
        return Reply(ok=False, error=exc.message, error_kind=TRANSIENT)
    log.error("answering the engine process' %s failed", name, exc_info=exc)
    return Reply(ok=False, error=f"the server failed to answer {name}", error_kind=TRANSIENT)


class ChildRequests:
    """The requests of one child being answered, or waiting for a turn."""

    def __init__(
        self,
        codec: Codec,
        handler: RequestHandler | None,
        *,
        write: Callable[[bytes], Awaitable[None]],
        write_nowait: Callable[[bytes], None],
        log: logging.Logger,
        concurrency: int = CHILD_REQUEST_CONCURRENCY,
        backlog: int = CHILD_REQUEST_BACKLOG,
        name: str = "child",
        account: int | None = None,
    ) -> None:
        self.codec = codec
        self.handler = handler
        self.log = log
        self.name = name
        #: the address the replies carry (the requests' account, in a process of several)
        self.account = account
        self._write = write
        self._write_nowait = write_nowait
        self._turns = asyncio.Semaphore(concurrency)
        self._most = concurrency + backlog
        self.tasks: set[asyncio.Task[None]] = set()

    def serve(self, request_id: int, frame: object) -> None:
        """Answer ``frame`` in a task of its own; returns at once."""
        if len(self.tasks) >= self._most:
            busy = Reply(ok=False, error="too many requests at once", error_kind=TRANSIENT)
            # written without waiting for the pipe: the reader must not wait on anything
            self._write_nowait(self.codec.encode(busy, request_id, self.account))
            return
        task = asyncio.create_task(self._answer(request_id, frame), name=f"{self.name}.request")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def cancel(self) -> None:
        """The child is gone: its requests' answers could not reach it."""
        for task in list(self.tasks):
            task.cancel()

    async def _answer(self, request_id: int, frame: object) -> None:
        async with self._turns:
            reply = await self._reply(frame)
        # a child that died meanwhile reads no answers
        with contextlib.suppress(ConnectionError):
            await self._write(self.codec.encode(reply, request_id, self.account))

    async def _reply(self, frame: object) -> Reply:
        if self.handler is None:
            name = type(frame).__name__
            return Reply(ok=False, error=f"the server takes no {name} requests", error_kind=PERMANENT)
        try:
            return Reply(ok=True, result=dict(await self.handler(frame)))
        except Exception as exc:
            return refusal(frame, exc, self.log)
