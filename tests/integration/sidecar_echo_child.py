"""A minimal engine child on the sidecar framing, for test_sidecar_child.py: it answers the hello, reports
the names in its environment as an event, sends the server requests of its own when told to (``Fire``),
reports each ``Reply`` as an event (``Got``), and exits when asked. A hello with an account address adds an
account: every frame about it then carries its address, and a ``Stop`` with one ends that account only
(test_sidecar_pool.py)."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from statusgate.engines.sidecar.framing import Codec, Reply, Response, Welcome


@dataclass(frozen=True)
class Hello:
    version: int


@dataclass(frozen=True)
class Env:
    names: list[str]


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Ask:
    """The child's request: the server's handler echoes ``text`` (after ``hold``, failing as ``fail`` says)."""

    text: str
    hold: bool = False
    fail: str = ""


@dataclass(frozen=True)
class Fire:
    """The server's request: send these Asks, all at once; the answer names the ids they went with."""

    asks: list[Ask]


@dataclass(frozen=True)
class Got:
    """The child received the Reply to its request ``id``."""

    id: int
    reply: Reply


@dataclass(frozen=True)
class Ping:
    pass


@dataclass
class _Ids:
    #: the child numbers its own requests from 1, as the server numbers its own: the two never meet
    next: int = 1
    sent: set[int] = field(default_factory=set)


CODEC = Codec(1, [Hello, Env, Stop, Ask, Fire, Got, Ping])


def main() -> None:
    out = sys.stdout.buffer
    ids = _Ids()
    for line in sys.stdin.buffer:
        envelope = CODEC.decode(line)
        frame: Any = envelope.frame
        a = envelope.account
        if isinstance(frame, Hello):
            out.write(CODEC.encode(Welcome(1, os.getpid()), None, a))
            out.write(CODEC.encode(Env(sorted(os.environ)), None, a))
        elif isinstance(frame, Fire):
            fired = []
            for ask in frame.asks:
                fired.append(ids.next)
                ids.sent.add(ids.next)
                out.write(CODEC.encode(ask, ids.next, a))
                ids.next += 1
            out.write(CODEC.encode(Response(ok=True, result={"ids": fired}), envelope.id, a))
        elif isinstance(frame, Reply):
            assert envelope.id in ids.sent, f"a reply to no request of ours: {asdict(frame)}"
            ids.sent.discard(envelope.id)
            out.write(CODEC.encode(Got(envelope.id, frame), None, a))
        elif isinstance(frame, Ping):
            pong = {"pong": True} if a is None else {"pong": True, "account": a}
            out.write(CODEC.encode(Response(ok=True, result=pong), envelope.id, a))
        elif isinstance(frame, Stop):
            out.write(CODEC.encode(Response(ok=True), envelope.id, a))
            out.flush()
            if a is None:
                return
        out.flush()


if __name__ == "__main__":
    main()
