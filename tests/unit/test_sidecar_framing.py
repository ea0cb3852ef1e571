"""The engine-neutral framing: each engine's codec knows its own frames and version, and every codec knows
Welcome and Response (what any child answers with)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from statusgate.engines.sidecar.framing import Codec, ProtocolError, Response, Welcome


@dataclass(frozen=True)
class Ping:
    n: int
    note: str = ""


@dataclass(frozen=True)
class Other:
    n: int


def test_a_codec_round_trips_its_frames_and_the_shared_ones() -> None:
    codec = Codec(3, [Ping])
    for frame, id_ in ((Ping(7, "é"), 1), (Welcome(3, 42), None), (Response(ok=False, error="x"), 9)):
        line = codec.encode(frame, id_)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        envelope = codec.decode(line)
        assert (envelope.frame, envelope.id) == (frame, id_)
    assert codec.encode(Ping(1)).startswith(b'{"v":3,"t":"Ping","id":null,"d":{"n":1,"note":""}}')


def test_a_codec_refuses_what_is_not_its_own() -> None:
    mine, theirs = Codec(1, [Ping]), Codec(2, [Ping, Other])
    with pytest.raises(ProtocolError, match="not a protocol frame"):
        mine.encode(Other(1))
    with pytest.raises(ProtocolError, match="not a version 1 frame"):
        mine.decode(theirs.encode(Ping(1)))
    with pytest.raises(ProtocolError, match="unknown frame type 'Other'"):
        mine.decode(b'{"v":1,"t":"Other","id":null,"d":{"n":1}}')
    for bad, reason in (
        (b'{"v":1,"t":"Ping","id":null,"d":{"n":"1"}}', "Ping.n: expected int"),
        (b'{"v":1,"t":"Ping","id":null,"d":{"n":1,"x":2}}', "unknown fields"),
        (b'{"v":1,"t":"Ping","id":true,"d":{"n":1}}', "bad frame id"),
        (b'{"v":1,"t":"Ping","id":null,"d":{}}', "Ping"),
    ):
        with pytest.raises(ProtocolError, match=reason):
            mine.decode(bad)


def test_a_frame_may_carry_an_account_address_and_one_without_is_the_process() -> None:
    codec = Codec(1, [Ping])
    addressed = codec.encode(Ping(1), 4, account=17)
    assert addressed.startswith(b'{"v":1,"t":"Ping","id":4,"a":17,"d":')
    envelope = codec.decode(addressed)
    assert (envelope.frame, envelope.id, envelope.account) == (Ping(1), 4, 17)
    assert b'"a"' not in codec.encode(Ping(1), 4)
    assert codec.decode(codec.encode(Ping(1), 4)).account is None
    for bad in (b'"x"', b"true", b"1.5"):
        with pytest.raises(ProtocolError, match="bad account address"):
            codec.decode(b'{"v":1,"t":"Ping","id":null,"a":' + bad + b',"d":{"n":1}}')
