"""Driving the Baileys stand-in (``server.mjs``) and its probe client (``probe_client.mjs``) from a test.

Both speak JSON lines on stdout (README.md). The stand-in runs in a network namespace of its own with only
loopback up, and every Baileys process joins that namespace, so nothing they do can leave the machine,
and no name is resolved. Waits are bounded by generous deadlines; nothing is timed.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

HERE = Path(__file__).parent
SERVER = HERE / "server.mjs"
PROBE = HERE / "probe_client.mjs"

Event = dict[str, Any]
#: long enough for a loaded 2-core machine; a wait only ends at it when something hangs
DEADLINE_SECONDS = 45.0


def missing_tools() -> str | None:
    """What this machine lacks to run the stand-in in a namespace, or None."""
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool, path=_path()) is None:
            return f"the Baileys stand-in needs util-linux/iproute2's {tool!r}"
    return None


def _path() -> str:
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def _which(tool: str) -> str:
    found = shutil.which(tool, path=_path())
    assert found is not None, missing_tools()
    return found


def new_namespace(command: list[str]) -> list[str]:
    """``command`` in a new network namespace whose loopback is up (and nothing else)."""
    unshare = [_which("unshare"), "--net"] if os.geteuid() == 0 else [_which("unshare"), "-r", "--net"]
    up = f'{_which("ip")} link set lo up && exec "$@"'
    return [*unshare, "sh", "-c", up, "standin-netns", *command]


def joined_namespace(pid: int, command: list[str]) -> list[str]:
    """``command`` in the network namespace of process ``pid`` (made by :func:`new_namespace`)."""
    join = [_which("nsenter"), "-t", str(pid), "-n"]
    if os.geteuid() != 0:
        join += ["-U", "--preserve-credentials"]
    return [*join, *command]


def child_env(home: Path) -> dict[str, str]:
    # Node needs no more; none of statusgate's settings or tokens reach Baileys
    return {"PATH": _path(), "HOME": str(home), "LANG": "C.UTF-8"}


class JsonLinesProcess:
    """A child whose stdout is JSON lines, read on a thread; ``wait_for`` consumes them in order."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[Event] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[Event | None] = queue.Queue()
        self._cursor = 0
        self._ended = False
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self._lines.put(json.loads(line))
            except json.JSONDecodeError:
                self._lines.put({"event": "not-json", "line": line.rstrip()})
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.rstrip())

    def _take(self, timeout: float) -> bool:
        """Moves one line into ``events``; False at end of output or when ``timeout`` passes first."""
        try:
            event = self._lines.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return False
        if event is None:
            self._ended = True
            self._lines.put(None)
            return False
        self.events.append(event)
        return True

    def drain(self) -> list[Event]:
        """Every event so far (those not yet waited for included)."""
        while self._take(0.0):
            pass
        return self.events

    def wait_for(
        self, matches: Callable[[Event], bool], what: str, deadline: float = DEADLINE_SECONDS
    ) -> Event:
        """The next event (after the last one waited for) that ``matches``."""
        until = time.monotonic() + deadline
        while True:
            while self._cursor < len(self.events):
                event = self.events[self._cursor]
                self._cursor += 1
                if matches(event):
                    return event
            if not self._take(until - time.monotonic()) and (time.monotonic() >= until or self._ended):
                self.drain()
                raise AssertionError(f"{self.name}: no {what}; {self.diagnosis()}")

    def wait_for_event(self, name: str, deadline: float = DEADLINE_SECONDS, **fields: Any) -> Event:
        def matches(event: Event) -> bool:
            return event.get("event") == name and all(event.get(k) == v for k, v in fields.items())

        return self.wait_for(matches, f"{name!r} event with {fields}", deadline)

    def seen_or_wait(self, name: str, deadline: float = DEADLINE_SECONDS, **fields: Any) -> Event:
        """An event already seen (even one an earlier wait went past) or, failing that, the next to come."""
        for event in self.drain():
            if event.get("event") == name and all(event.get(k) == v for k, v in fields.items()):
                return event
        return self.wait_for_event(name, deadline, **fields)

    def wait_exit(self, deadline: float = DEADLINE_SECONDS) -> int:
        try:
            return self.process.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit; {self.diagnosis()}") from None

    def diagnosis(self) -> str:
        events = "\n  ".join(json.dumps(e)[:400] for e in self.events[-30:])
        stderr = "\n  ".join(self.stderr[-30:])
        return f"exit code {self.process.poll()}\nlast events:\n  {events}\nstderr:\n  {stderr}"

    def stop(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(timeout=10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class StandIn(JsonLinesProcess):
    """The stand-in server, listening on 127.0.0.1 in its own network namespace."""

    def __init__(self, node: Path, baileys_dir: Path, seed: int, home: Path) -> None:
        command = [str(node), str(SERVER), "--baileys-dir", str(baileys_dir), "--seed", str(seed)]
        super().__init__("stand-in", new_namespace(command), child_env(home), HERE)
        self.node = node
        self.baileys_dir = baileys_dir
        self.home = home
        try:
            listening = self.wait_for_event("listening")
        except AssertionError:
            # no `with` owns it yet: a stand-in that never listened must not outlive the test
            self.process.kill()
            super().stop()
            raise
        self.url: str = listening["url"]
        self.root_public_key: str = listening["rootPublicKey"]
        self.verifies_under_whatsapp_root: bool = listening["verifiesUnderWhatsAppRoot"]
        #: the loopback HTTPS media host ("127.0.0.1:PORT") and the test CA a Baileys process must trust
        self.media_host: str = listening["mediaHost"]
        self.ca_file: str = listening["caFile"]
        self._ids = 0

    def command(self, cmd: str, **fields: Any) -> Any:
        """Runs a control command; its result, or AssertionError with the stand-in's reason."""
        assert self.process.stdin is not None
        self._ids += 1
        self.process.stdin.write(json.dumps({"cmd": cmd, "id": self._ids, **fields}) + "\n")
        self.process.stdin.flush()
        reply = self.wait_for(
            lambda e: e.get("event") == "reply" and e.get("id") == self._ids, f"reply to {cmd!r}"
        )
        assert reply["ok"], f"{cmd}: {reply['error']}"
        return reply["result"]

    def unanswered_iqs(self) -> list[Event]:
        """The iqs the stand-in had no handler for (answered ``error 501``) or failed to answer."""
        return [
            e for e in self.drain() if (e["event"] == "iq" and not e["handled"]) or e["event"] == "iq-failed"
        ]

    def probe(self, auth_dir: Path, *options: str, trust_media_ca: bool = True) -> Probe:
        """A Baileys client against this stand-in, in its namespace, with the test root swapped in (and,
        unless ``trust_media_ca`` is false, the media host's test CA trusted)."""
        command = [
            str(self.node),
            str(PROBE),
            "--baileys-dir",
            str(self.baileys_dir),
            "--url",
            self.url,
            "--auth-dir",
            str(auth_dir),
            *(() if "--keep-pinned-root" in options else ("--root-key", self.root_public_key)),
            *options,
        ]
        # Node adds the test CA to its trusted roots, for the media host's certificate
        env = {"NODE_EXTRA_CA_CERTS": self.ca_file} if trust_media_ca else {}
        return Probe(joined_namespace(self.process.pid, command), self.home, env)


class Probe(JsonLinesProcess):
    def __init__(self, command: list[str], home: Path, env: dict[str, str] | None = None) -> None:
        super().__init__("probe", command, {**child_env(home), **(env or {})}, HERE)

    def stop(self) -> None:
        # a probe only exits by itself after --exit-on-open or a close; otherwise it is ended here
        if self.process.poll() is None:
            self.process.terminate()
        super().stop()

    @classmethod
    def alone(cls, node: Path, baileys_dir: Path, url: str, auth_dir: Path, home: Path) -> Probe:
        """A probe in a namespace of its own (nothing listens there), with a throwaway root key."""
        command = [str(node), str(PROBE), "--baileys-dir", str(baileys_dir), "--url", url]
        command += ["--auth-dir", str(auth_dir), "--root-key", "A" * 43 + "="]
        return cls(new_namespace(command), home)

    def tell(self, cmd: str, **fields: Any) -> None:
        """A command on the probe's stdin (probe-commands.mjs); it runs once the probe is open."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        self.process.stdin.flush()

    def connection(self, **fields: Any) -> Event:
        return self.wait_for_event("connection", **fields)

    def qr(self) -> str:
        found = self.wait_for(lambda e: e.get("event") == "connection" and "qr" in e, "QR")
        return str(found["qr"])
