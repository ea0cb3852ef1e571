"""The engine-process wire: every frame survives a round trip; anything else is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from statusgate.engines.whatsapp import protocol as p

FRAMES: list[Any] = [
    p.Hello(p.PROTOCOL_VERSION, 42, "/data/sessions/42", pair=True, proxy="socks5://127.0.0.1:1"),
    p.Welcome(p.PROTOCOL_VERSION, 1234),
    p.Contacts(),
    p.CheckNumbers(["79001112233"]),
    p.SendStatus("image", "BAE5F00D", caption="hi", media_path="/m/a.jpg", width=720, height=1280),
    p.Revoke("3EB0AA"),
    p.PairPhone("79001112233"),
    p.Logout(),
    p.Shutdown(),
    p.Response(ok=True, result={"code": "ABCD1234"}),
    p.Response(ok=False, error="no", error_kind=p.UNCERTAIN),
    p.QrCode("2@ref,a,b,c"),
    p.Paired("79001112233@c.us"),
    p.Connected("79001112233@c.us", "Me"),
    p.Disconnected("dropped"),
    p.LoggedOut("LOGGED_OUT", banned=False),
    p.Banned("temporarily banned", 1.5),
    p.ConnectFailed("offline"),
    p.Receipt(["3EB0AA", "3EB0BB"], "79001112233@c.us", "read", 1700000000.0),
    p.Incoming(
        "3EB0CC", "79001112233@c.us", 1700000000.0, {"typeMessage": "extendedTextMessage", "text": "x"}
    ),
    p.Fatal("neonize missing"),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: type(f).__name__)
def test_round_trip(frame: Any) -> None:
    line = p.encode(frame, 7)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    envelope = p.decode(line)
    assert envelope.frame == frame
    assert envelope.id == 7


def test_typed_results() -> None:
    answer = p.Response(
        ok=True,
        result={"contacts": [{"chat_id": "1@c.us", "full_name": "A", "first_name": "", "push_name": "a"}]},
    )
    result = p.result_of(p.Contacts(), answer)
    assert result == p.ContactsResult([p.ContactRecord("1@c.us", "A", "", "a")])
    assert p.result_of(
        p.SendStatus("text", "X"), p.Response(ok=True, result={"wa_message_id": "W", "timestamp": 5})
    ) == (p.SendResult("W", 5.0))


def _line(**body: Any) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        _line(v=p.PROTOCOL_VERSION + 1, t="Shutdown", id=1, d={}),
        _line(v=p.PROTOCOL_VERSION, t="Nope", id=1, d={}),
        _line(v=p.PROTOCOL_VERSION, t="Revoke", id=1, d={}),
        _line(v=p.PROTOCOL_VERSION, t="Revoke", id=1, d={"wa_message_id": 5}),
        _line(v=p.PROTOCOL_VERSION, t="Revoke", id=1, d={"wa_message_id": "x", "extra": 1}),
        _line(v=p.PROTOCOL_VERSION, t="Revoke", id="1", d={"wa_message_id": "x"}),
        _line(v=p.PROTOCOL_VERSION, t="CheckNumbers", id=1, d={"numbers": "79001112233"}),
        _line(v=p.PROTOCOL_VERSION, t="Welcome", id=None, d={"version": True, "pid": 1}),
    ],
)
def test_refuses_bad_frames(line: bytes) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode(line)


def test_refuses_overlong_line() -> None:
    with pytest.raises(p.ProtocolError):
        p.decode(b"x" * (p.MAX_LINE_BYTES + 1))


def test_only_frames_are_encoded() -> None:
    with pytest.raises(p.ProtocolError):
        p.encode(object())


def test_the_server_never_imports_neonize() -> None:
    """neonize changes root logging, starts a thread and runs ``uname -a`` at import: only children may."""
    code = (
        "import sys\n"
        "from statusgate.api.app import build_app\n"
        "import statusgate.wiring.server\n"
        "import statusgate.cli, statusgate.engines.whatsapp.engine\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('neonize', 'magic', 'google')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
