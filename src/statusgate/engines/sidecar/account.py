"""One account (one instance) of an engine that runs its library in child processes: its child, its phase,
QR codes, restarts. Engine-neutral: the engine says how to make and greet its child (:class:`Launcher`) and
how to remove the account's stored session; the rest is the same for every such engine.

Where the account is — linked, pairing, connected, banned, closed … and so its ``stateInstance`` — is one
phase of the lifecycle (``engines/sidecar/lifecycle.py``); this module turns the child's events, its exit
and the operations into that lifecycle's happenings, and keeps the rest as data.

A linked account always has a child (restarted with exponential backoff while it cannot connect; the state
is ``starting`` meanwhile). An account that is not linked has a child only while someone pairs it (``qr``
or getAuthorizationCode), for at most ``pairing_timeout``: WhatsApp's QR codes run out after about 160 s,
and a library may then hang, so the pairing child is killed rather than trusted to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from statusgate.domain.states import InstanceState
from statusgate.engines.sidecar.frames import (
    AddressBook,
    Banned,
    Connected,
    ConnectFailed,
    Disconnected,
    Event,
    Fatal,
    Incoming,
    LoggedOut,
    Logout,
    Paired,
    QrCode,
    Receipt,
    Traffic,
)
from statusgate.engines.sidecar.framing import TRANSIENT, Response
from statusgate.engines.sidecar.lifecycle import AccountPhase, Happening, Lifecycle
from statusgate.engines.sidecar.process import Child, ChildStartError


@dataclass(frozen=True)
class Limits:
    """The timeouts of an account's child (each engine's settings)."""

    start_timeout: float
    qr_timeout: float
    pairing_timeout: float
    request_timeout: float
    restart_base: float
    restart_cap: float
    stop_timeout: float


class Launcher(Protocol):
    """What an engine knows of its own children."""

    def child(
        self, instance_id: int, on_event: Callable[[Event], None], on_exit: Callable[[int], None]
    ) -> Child:
        """A child, not started yet, for this account: a process of its own, or a share of one."""

    def hello(self, instance_id: int, pair: bool) -> object:
        """The first frame for the child (``pair``: link a new device rather than resume the session)."""

    def wipe(self, instance_id: int) -> Awaitable[None]:
        """Remove the account's stored session (its keys): it is not linked any more."""


class Account:
    def __init__(
        self,
        instance_id: int,
        launcher: Launcher,
        limits: Limits,
        *,
        linked: bool,
        log: logging.Logger,
        on_state: Callable[[Account], None],
        on_traffic: Callable[[Account, Traffic], None],
    ) -> None:
        self.instance_id = instance_id
        self.launcher = launcher
        self.limits = limits
        self.log = log
        self.on_state = on_state
        self.on_traffic = on_traffic
        self.lifecycle = Lifecycle(
            AccountPhase.CONNECTING if linked else AccountPhase.NOT_LINKED, name=f"instance {instance_id}"
        )
        self.wid = ""
        self.child: Child | None = None
        self.qr_code: str | None = None
        self.qr_failure: str | None = None
        self._qr_ready = asyncio.Event()
        #: restarts since the last connection: the backoff's exponent
        self.restarts = 0
        self._restart: asyncio.Task[None] | None = None
        self._pairing_timer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        #: one start at a time: two `qr` calls at once must not race two children into being
        self._starting = asyncio.Lock()

    # --- phase -----------------------------------------------------------------------------------------------

    @property
    def state(self) -> InstanceState:
        return self.lifecycle.state

    @property
    def reason(self) -> str:
        """Why the state is what it is (a ban's reason, the last connection error)."""
        return self.lifecycle.reason

    @property
    def linked(self) -> bool:
        return self.lifecycle.linked

    @property
    def pairing(self) -> bool:
        return self.lifecycle.pairing

    @property
    def closed(self) -> bool:
        return self.lifecycle.closed

    def _move(self, happening: Happening, reason: str | None = None) -> bool:
        """Follow ``happening`` (a new ``reason``, or None to keep it); announce a new state or reason."""
        before = (self.lifecycle.state, self.lifecycle.reason)
        moved = self.lifecycle.on(happening, reason)
        if (self.lifecycle.state, self.lifecycle.reason) != before:
            self.on_state(self)
        return moved

    def _spawn_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- children --------------------------------------------------------------------------------------------

    async def _start_child(self, pair: bool) -> Child:
        child: Child

        def on_event(event: Event) -> None:
            if child is self.child:
                self._on_event(event)

        def on_exit(code: int) -> None:
            if child is self.child:
                self._on_exit(code)

        child = self.launcher.child(self.instance_id, on_event, on_exit)
        self.child = child
        hello = self.launcher.hello(self.instance_id, pair)
        try:
            welcome = await child.start(hello, self.limits.start_timeout)
        except ChildStartError:
            if child is self.child:
                self.child = None
            raise
        self.log.info(
            "instance %s: engine process %s started (%s)",
            self.instance_id,
            welcome.pid,
            "pairing" if pair else "session",
        )
        return child

    async def _stop_child(self) -> None:
        child, self.child = self.child, None
        if child is not None:
            await child.stop(self.limits.stop_timeout)

    async def run_session(self) -> None:
        """Start (or restart) the child of a linked account."""
        async with self._starting:
            if not self.lifecycle.reconnects or (self.child is not None and self.child.alive):
                return
            self._move(Happening.CHILD_STARTING)
            try:
                await self._start_child(pair=False)
            except ChildStartError as exc:
                self._move(Happening.START_FAILED, str(exc))
                self._schedule_restart()

    def _schedule_restart(self) -> None:
        if not self.lifecycle.reconnects or (self._restart is not None and not self._restart.done()):
            return
        delay = min(self.limits.restart_cap, self.limits.restart_base * 2**self.restarts)
        self.restarts += 1
        self.log.info(
            "instance %s: engine process restarts in %.1f s (%s)", self.instance_id, delay, self.reason
        )

        async def later() -> None:
            await asyncio.sleep(delay)
            self._restart = None  # this start may fail and schedule the next one
            await self.run_session()

        self._restart = asyncio.create_task(later(), name=f"{self.log.name}.restart[{self.instance_id}]")

    async def begin_pairing(self) -> None:
        """Make sure a pairing child runs; QR codes then arrive as events."""
        async with self._starting:
            if self.closed or (self.child is not None and self.child.alive):
                return
            if not self._move(Happening.PAIRING_REQUESTED):
                self.qr_code, self.qr_failure = None, f"the account cannot pair now ({self.lifecycle.phase})"
                self._qr_ready.set()
                return
            self.qr_code, self.qr_failure = None, None
            self._qr_ready.clear()
            try:
                await self._start_child(pair=True)
            except ChildStartError as exc:
                self.qr_failure = str(exc)
                self._qr_ready.set()
                self._move(Happening.START_FAILED)
                return
        if self._pairing_timer is not None:
            self._pairing_timer.cancel()
        self._pairing_timer = asyncio.create_task(
            self._end_pairing_later(), name=f"{self.log.name}.pairing[{self.instance_id}]"
        )

    async def _end_pairing_later(self) -> None:
        await asyncio.sleep(self.limits.pairing_timeout)
        if self.pairing:
            self.log.info(
                "instance %s: nobody linked a phone within %g s",
                self.instance_id,
                self.limits.pairing_timeout,
            )
            self.qr_code, self.qr_failure = None, "the QR code expired; ask for a new one"
            self._move(Happening.PAIRING_EXPIRED)
            await self._stop_child()

    async def wait_for_qr(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._qr_ready.wait(), self.limits.qr_timeout)

    # --- events ----------------------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Receipt | Incoming | AddressBook):  # Traffic
            self.on_traffic(self, event)
        elif isinstance(event, QrCode):
            self.qr_code = event.code
            self._qr_ready.set()
        elif isinstance(event, Paired):
            self._move(Happening.PAIRED, "linked; connecting")
        elif isinstance(event, Connected):
            self.restarts, self.wid = 0, event.chat_id  # before the move: the new state is published with it
            if self._pairing_timer is not None:
                self._pairing_timer.cancel()
            self._move(Happening.CONNECTED, "")
        elif isinstance(event, Disconnected):
            self._move(Happening.DISCONNECTED, event.reason)
        elif isinstance(event, Banned):
            self._move(Happening.BANNED, event.reason)
        elif isinstance(event, LoggedOut):
            self._spawn_task(self._logged_out(event))
        elif isinstance(event, ConnectFailed | Fatal):
            self._failed(event.reason)

    def _failed(self, reason: str) -> None:
        self.log.warning("instance %s: %s", self.instance_id, reason)
        if self.pairing:
            self.qr_failure = reason
            self._qr_ready.set()
        self._move(Happening.FAILED, reason)
        # the child has nothing more to do: stop it; its exit schedules the restart of a linked account
        child = self.child
        if child is not None:
            self._spawn_task(child.stop(self.limits.stop_timeout))

    async def _logged_out(self, event: LoggedOut) -> None:
        # the new state is announced once the keys are gone: a client told notAuthorized may pair at once
        if not self._move(Happening.LOGGED_OUT):
            return
        self.wid = ""
        await self._stop_child()
        await self.launcher.wipe(self.instance_id)
        wiped = Happening.WIPED_FOR_BAN if event.banned else Happening.WIPED
        self._move(wiped, f"logged out by WhatsApp ({event.reason})")

    def _on_exit(self, code: int) -> None:
        self.child = None
        if self.closed:
            return
        if self.pairing:
            # its QR codes die with it; the next `qr` starts a new pairing
            self.qr_code = None
            if self.qr_failure is None:
                self.qr_failure = f"the engine process exited ({code})"
            self._qr_ready.set()
            self._move(Happening.EXITED)
            return
        if self.linked:
            if code != 0:
                self.log.warning("instance %s: engine process exited with %s", self.instance_id, code)
            self._move(Happening.EXITED, self.reason or f"the engine process exited ({code})")
            self._schedule_restart()

    # --- operations ------------------------------------------------------------------------------------------

    async def request(self, request: Any, timeout: float | None = None) -> Response:
        child = self.child
        if child is None or not child.alive:
            return Response(ok=False, error="the account is not connected", error_kind=TRANSIENT)
        try:
            return await child.request(request, self.limits.request_timeout if timeout is None else timeout)
        except TimeoutError:
            return Response(
                ok=False,
                error=f"the engine process did not answer within {timeout or self.limits.request_timeout:g} s",
                error_kind=TRANSIENT,
            )

    async def logout(self) -> None:
        """Unlink the device (WhatsApp told when connected), remove the stored session; notAuthorized."""
        connected = self.lifecycle.phase is AccountPhase.CONNECTED
        if self.child is not None and self.child.alive and connected:
            answer = await self.request(Logout())
            if not answer.ok:
                self.log.warning(
                    "instance %s: WhatsApp was not told about the logout: %s", self.instance_id, answer.error
                )
        self._cancel_timers()
        self.wid = ""
        self._move(Happening.LOGOUT)
        await self._stop_child()
        await self.launcher.wipe(self.instance_id)
        self._move(Happening.WIPED, "")

    async def reboot(self) -> None:
        self._cancel_timers()
        await self._stop_child()
        self.restarts = 0
        self._move(Happening.REBOOT, "rebooting" if self.linked else "")
        if self.linked:
            self._spawn_task(self.run_session())

    def _cancel_timers(self) -> None:
        for task in (self._restart, self._pairing_timer):
            if task is not None:
                task.cancel()

    async def close(self) -> None:
        self._move(Happening.CLOSE)  # announces nothing: the state recorded stays, for the next owner
        self._cancel_timers()
        await self._stop_child()
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def snapshot(self) -> dict[str, object]:
        """What other processes (the CLI) read from state.json."""
        return {"state": self.state.value, "reason": self.reason, "wid": self.wid, "at": time.time()}
