"""A minimal engine child on the sidecar framing, for test_sidecar_child.py: it answers the hello, reports
the names in its environment as an event, and exits when asked."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from statusgate.engines.sidecar.framing import Codec, Response, Welcome


@dataclass(frozen=True)
class Hello:
    version: int


@dataclass(frozen=True)
class Env:
    names: list[str]


@dataclass(frozen=True)
class Stop:
    pass


CODEC = Codec(1, [Hello, Env, Stop])


def main() -> None:
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        envelope = CODEC.decode(line)
        if isinstance(envelope.frame, Hello):
            out.write(CODEC.encode(Welcome(1, os.getpid())))
            out.write(CODEC.encode(Env(sorted(os.environ))))
        elif isinstance(envelope.frame, Stop):
            out.write(CODEC.encode(Response(ok=True), envelope.id))
            out.flush()
            return
        out.flush()


if __name__ == "__main__":
    main()
