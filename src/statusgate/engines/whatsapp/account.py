"""One WhatsApp account (one instance) under supervision: its child process, state, QR codes, restarts.

A linked account always has a child (restarted with exponential backoff while it cannot connect; the state
is ``starting`` meanwhile). An account that is not linked has a child only while someone pairs it (``qr``
or getAuthorizationCode), for at most ``whatsapp_pairing_timeout_seconds``: WhatsApp's QR codes run out
after about 160 s, and whatsmeow may then hang, so the pairing child is killed rather than trusted to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statusgate.domain.states import InstanceState
from statusgate.engines.whatsapp import files
from statusgate.engines.whatsapp.process import ChildProcess, ChildStartError, whatsapp_child
from statusgate.engines.whatsapp.protocol import (
    PROTOCOL_VERSION,
    TRANSIENT,
    Banned,
    Connected,
    ConnectFailed,
    Disconnected,
    Event,
    Fatal,
    Hello,
    Incoming,
    LoggedOut,
    Logout,
    Paired,
    QrCode,
    Receipt,
    Request,
    Response,
)
from statusgate.settings import Settings

log = logging.getLogger("statusgate.engine.whatsapp")


@dataclass(frozen=True)
class Limits:
    """The settings an account needs (all the whatsapp_* timeouts, and the test hooks)."""

    start_timeout: float
    qr_timeout: float
    pairing_timeout: float
    request_timeout: float
    restart_base: float
    restart_cap: float
    stop_timeout: float
    proxy: str
    client_factory: str
    prefix: tuple[str, ...]

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(
            start_timeout=s.whatsapp_start_timeout_seconds,
            qr_timeout=s.whatsapp_qr_timeout_seconds,
            pairing_timeout=s.whatsapp_pairing_timeout_seconds,
            request_timeout=s.whatsapp_request_timeout_seconds,
            restart_base=s.whatsapp_restart_base_seconds,
            restart_cap=s.whatsapp_restart_cap_seconds,
            stop_timeout=s.whatsapp_stop_timeout_seconds,
            proxy=s.test_whatsapp_proxy,
            client_factory=s.test_whatsapp_client,
            prefix=tuple(shlex.split(s.test_whatsapp_child_prefix)),
        )


class Account:
    def __init__(
        self,
        instance_id: int,
        session_dir: Path,
        limits: Limits,
        *,
        linked: bool,
        on_state: Callable[[Account], None],
        on_traffic: Callable[[Account, Receipt | Incoming], None],
    ) -> None:
        self.instance_id = instance_id
        self.session_dir = session_dir
        self.limits = limits
        self.linked = linked
        self.on_state = on_state
        self.on_traffic = on_traffic
        self.state = InstanceState.STARTING if linked else InstanceState.NOT_AUTHORIZED
        #: why the state is what it is (a ban's reason, the last connection error)
        self.reason = ""
        self.wid = ""
        self.child: ChildProcess | None = None
        self.pairing = False
        self.qr_code: str | None = None
        self.qr_failure: str | None = None
        self._qr_ready = asyncio.Event()
        self.restarts = 0
        self.closed = False
        self._restart: asyncio.Task[None] | None = None
        self._pairing_timer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        #: one start at a time: two `qr` calls at once must not race two children into being
        self._starting = asyncio.Lock()

    # --- state -----------------------------------------------------------------------------------------------

    def _set_state(self, state: InstanceState, reason: str = "") -> None:
        changed = state is not self.state or reason != self.reason
        self.state, self.reason = state, reason
        if changed:
            self.on_state(self)

    def _spawn_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- children --------------------------------------------------------------------------------------------

    async def _start_child(self, pair: bool) -> ChildProcess:
        child: ChildProcess

        def on_event(event: Event) -> None:
            if child is self.child:
                self._on_event(event)

        def on_exit(code: int) -> None:
            if child is self.child:
                self._on_exit(code)

        child = whatsapp_child(
            self.instance_id, prefix=self.limits.prefix, on_event=on_event, on_exit=on_exit
        )
        self.child = child
        self.pairing = pair
        hello = Hello(
            version=PROTOCOL_VERSION,
            instance_id=self.instance_id,
            session_dir=str(self.session_dir.resolve()),
            pair=pair,
            proxy=self.limits.proxy,
            client_factory=self.limits.client_factory,
            log_level=logging.getLevelName(max(log.getEffectiveLevel(), logging.INFO)),
        )
        try:
            welcome = await child.start(hello, self.limits.start_timeout)
        except ChildStartError:
            if child is self.child:
                self.child = None
            raise
        log.info(
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
            if self.closed or (self.child is not None and self.child.alive):
                return
            if self.state is not InstanceState.BLOCKED:
                self._set_state(InstanceState.STARTING, self.reason)
            try:
                await self._start_child(pair=False)
            except ChildStartError as exc:
                self._set_state(InstanceState.STARTING, str(exc))
                self._schedule_restart()

    def _schedule_restart(self) -> None:
        if self.closed or not self.linked or (self._restart is not None and not self._restart.done()):
            return
        delay = min(self.limits.restart_cap, self.limits.restart_base * 2**self.restarts)
        self.restarts += 1
        log.info("instance %s: engine process restarts in %.1f s (%s)", self.instance_id, delay, self.reason)

        async def later() -> None:
            await asyncio.sleep(delay)
            self._restart = None  # this start may fail and schedule the next one
            await self.run_session()

        self._restart = asyncio.create_task(later(), name=f"whatsapp.restart[{self.instance_id}]")

    async def begin_pairing(self) -> None:
        """Make sure a pairing child runs; QR codes then arrive as events."""
        async with self._starting:
            if self.closed or (self.child is not None and self.child.alive):
                return
            self.qr_code, self.qr_failure = None, None
            self._qr_ready.clear()
            try:
                await self._start_child(pair=True)
            except ChildStartError as exc:
                self.qr_failure = str(exc)
                self._qr_ready.set()
                return
        if self._pairing_timer is not None:
            self._pairing_timer.cancel()
        self._pairing_timer = asyncio.create_task(
            self._end_pairing_later(), name=f"whatsapp.pairing[{self.instance_id}]"
        )

    async def _end_pairing_later(self) -> None:
        await asyncio.sleep(self.limits.pairing_timeout)
        if self.pairing and not self.linked:
            log.info(
                "instance %s: nobody linked a phone within %g s",
                self.instance_id,
                self.limits.pairing_timeout,
            )
            self.qr_code, self.qr_failure = None, "the QR code expired; ask for a new one"
            self.pairing = False
            await self._stop_child()

    async def wait_for_qr(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._qr_ready.wait(), self.limits.qr_timeout)

    # --- events ----------------------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Receipt | Incoming):
            self.on_traffic(self, event)
        elif isinstance(event, QrCode):
            self.qr_code = event.code
            self._qr_ready.set()
        elif isinstance(event, Paired):
            self.linked, self.pairing = True, False
            self._set_state(InstanceState.STARTING, "linked; connecting")
        elif isinstance(event, Connected):
            self.linked, self.pairing, self.restarts = True, False, 0
            self.wid = event.chat_id
            if self._pairing_timer is not None:
                self._pairing_timer.cancel()
            self._set_state(InstanceState.AUTHORIZED)
        elif isinstance(event, Disconnected):
            if self.state is InstanceState.AUTHORIZED:
                self._set_state(InstanceState.STARTING, event.reason)
        elif isinstance(event, Banned):
            self._set_state(InstanceState.BLOCKED, event.reason)
        elif isinstance(event, LoggedOut):
            self._spawn_task(self._logged_out(event))
        elif isinstance(event, ConnectFailed | Fatal):
            self._failed(event.reason)

    def _failed(self, reason: str) -> None:
        log.warning("instance %s: %s", self.instance_id, reason)
        if self.pairing:
            self.qr_failure = reason
            self._qr_ready.set()
        if self.linked and self.state is not InstanceState.BLOCKED:
            self._set_state(InstanceState.STARTING, reason)
        # the child has nothing more to do: stop it; its exit schedules the restart of a linked account
        child = self.child
        if child is not None:
            self._spawn_task(child.stop(self.limits.stop_timeout))

    async def _logged_out(self, event: LoggedOut) -> None:
        self.linked, self.wid = False, ""
        await self._stop_child()
        await asyncio.to_thread(files.remove_store, self.session_dir)
        state = InstanceState.BLOCKED if event.banned else InstanceState.NOT_AUTHORIZED
        self._set_state(state, f"logged out by WhatsApp ({event.reason})")

    def _on_exit(self, code: int) -> None:
        self.child = None
        if self.closed:
            return
        if self.pairing and not self.linked:
            # its QR codes die with it; the next `qr` starts a new pairing
            self.pairing, self.qr_code = False, None
            if self.qr_failure is None:
                self.qr_failure = f"the engine process exited ({code})"
            self._qr_ready.set()
            return
        if self.linked:
            if code != 0:
                log.warning("instance %s: engine process exited with %s", self.instance_id, code)
            if self.state is not InstanceState.BLOCKED:
                self._set_state(InstanceState.STARTING, self.reason or f"the engine process exited ({code})")
            self._schedule_restart()

    # --- operations ------------------------------------------------------------------------------------------

    async def request(self, request: Request, timeout: float | None = None) -> Response:
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
        """Unlink the device (WhatsApp told when connected), drop whatsmeow's store; notAuthorized."""
        if self.child is not None and self.child.alive and self.state is InstanceState.AUTHORIZED:
            answer = await self.request(Logout())
            if not answer.ok:
                log.warning(
                    "instance %s: WhatsApp was not told about the logout: %s", self.instance_id, answer.error
                )
        self._cancel_timers()
        self.linked, self.wid, self.pairing = False, "", False
        await self._stop_child()
        await asyncio.to_thread(files.remove_store, self.session_dir)
        self._set_state(InstanceState.NOT_AUTHORIZED)

    async def reboot(self) -> None:
        self._cancel_timers()
        await self._stop_child()
        self.pairing, self.restarts = False, 0
        if self.linked:
            self._set_state(InstanceState.STARTING, "rebooting")
            self._spawn_task(self.run_session())
        else:
            self._set_state(InstanceState.NOT_AUTHORIZED)

    def _cancel_timers(self) -> None:
        for task in (self._restart, self._pairing_timer):
            if task is not None:
                task.cancel()

    async def close(self) -> None:
        self.closed = True
        self._cancel_timers()
        await self._stop_child()
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def snapshot(self) -> dict[str, object]:
        """What other processes (the CLI) read from state.json."""
        return {"state": self.state.value, "reason": self.reason, "wid": self.wid, "at": time.time()}
