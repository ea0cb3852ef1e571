"""Test-only crash points: ``STATUSGATE_TEST_CRASH_POINT=after_engine_send:3`` SIGKILLs the process the
third time that point is reached, so crash-recovery tests can stop the server at an exact moment."""

from __future__ import annotations

import os
import signal
import sys

#: the points the send path passes, in order
KNOWN_POINTS = ("after_claim", "after_engine_send", "after_sent_commit", "after_prepare")


class CrashPoints:
    def __init__(self, spec: str) -> None:
        self._targets: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, nth = item.partition(":")
            if name not in KNOWN_POINTS:
                raise ValueError(f"unknown crash point {name!r}; known: {', '.join(KNOWN_POINTS)}")
            self._targets[name] = int(nth or "1")

    def reached(self, name: str) -> None:
        if name not in self._targets:
            return
        self._counts[name] = self._counts.get(name, 0) + 1
        if self._counts[name] == self._targets[name]:
            sys.stderr.write(f"statusgate: crash point {name} reached, killing the process\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)
