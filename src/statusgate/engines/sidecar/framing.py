"""The framing of the wire between the server and an engine child: typed frames as JSON lines.

One frame per line, ``{"v": <version>, "t": "<type>", "id": <int|null>, "d": {fields}}``, UTF-8, at most
:data:`MAX_LINE_BYTES`. A frame type is a frozen dataclass whose name is its ``t``; its fields are JSON
values, lists, objects, or other such dataclasses, checked field by field when a line is read (an unknown
field, a missing one or a wrong type is a :class:`ProtocolError`). Each engine declares its frames and its
version in a :class:`Codec`; the framing itself knows none of them but :class:`Welcome` and
:class:`Response`, which every child answers with, and :class:`Reply`, which the server answers a child's
own requests with.

Requests go both ways, each side numbering its own: the server's requests are answered by a ``Response``,
the child's by a ``Reply``, so an id is only ever matched against the requests of the side that sent it.

A frame may carry an account address, ``"a": <instance id>``, for a child that holds several accounts:
the frames of one account (its hello and welcome, the requests, answers and events about it, its own
requests) carry its address; a frame without one is about the process itself, as in a child of one account,
which never sends it.

Only the standard library is used: a Python child imports this module too, and a child in another language
implements the same few rules (docs/engines.md).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

#: a line longer than this is a protocol error (a runaway child must not exhaust the server's memory)
MAX_LINE_BYTES = 4 * 1024 * 1024

T = TypeVar("T")

#: a failed request: nothing happened, trying again may work
TRANSIENT = "transient"
#: a failed request: nothing happened, trying again cannot help
PERMANENT = "permanent"
#: a failed send: the network may or may not have published the status
UNCERTAIN = "uncertain"
#: a refused write: the child's owner no longer holds the account's lease, so nothing was written and the
#: child must stop (another worker may be starting the account's session already)
FENCED = "fenced"


class ProtocolError(Exception):
    """A frame that does not follow the framing's rules, or its codec's."""


@dataclass(frozen=True)
class Welcome:
    """The child's answer to the server's first frame (its hello): the protocol version it speaks."""

    version: int
    pid: int


@dataclass(frozen=True)
class Response:
    """The answer to one request (same ``id``): ``result`` holds the request's result type's fields."""

    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_kind: str = ""


@dataclass(frozen=True)
class Reply:
    """The server's answer to one request from the child (the child's ``id``); fields as in :class:`Response`."""

    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_kind: str = ""


@dataclass(frozen=True)
class Envelope:
    frame: Any
    id: int | None = None
    #: the account the frame is about (None: the process itself)
    account: int | None = None


class Codec:
    """The frames of one engine's protocol, at one version: lines to frames and back."""

    def __init__(self, version: int, frames: Iterable[type]) -> None:
        self.version = version
        self._by_name: dict[str, type] = {cls.__name__: cls for cls in (Welcome, Response, Reply, *frames)}

    def encode(self, frame: Any, id: int | None = None, account: int | None = None) -> bytes:
        """One line (newline included); ``account`` addresses it to one account of the child."""
        name = type(frame).__name__
        if self._by_name.get(name) is not type(frame):
            raise ProtocolError(f"not a protocol frame: {frame!r}")
        body: dict[str, Any] = {"v": self.version, "t": name, "id": id}
        if account is not None:
            body["a"] = account
        body["d"] = dataclasses.asdict(typing.cast(Any, frame))
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    def decode(self, line: bytes) -> Envelope:
        if len(line) > MAX_LINE_BYTES:
            raise ProtocolError(f"frame of {len(line)} bytes is over the limit")
        try:
            body = json.loads(line)
        except ValueError as exc:
            raise ProtocolError(f"not JSON: {line[:200]!r}") from exc
        if not isinstance(body, dict) or body.get("v") != self.version:
            raise ProtocolError(f"not a version {self.version} frame: {line[:200]!r}")
        cls = self._by_name.get(str(body.get("t")))
        if cls is None:
            raise ProtocolError(f"unknown frame type {body.get('t')!r}")
        frame_id = body.get("id")
        if frame_id is not None and (not isinstance(frame_id, int) or isinstance(frame_id, bool)):
            raise ProtocolError(f"bad frame id {frame_id!r}")
        account = body.get("a")
        if account is not None and (not isinstance(account, int) or isinstance(account, bool)):
            raise ProtocolError(f"bad account address {account!r}")
        return Envelope(from_dict(cls, body.get("d")), frame_id, account)


def from_dict(cls: type[T], data: Any) -> T:
    """Build a frame dataclass from JSON data, checking every field's type."""
    return typing.cast(T, _convert(cls, data, cls.__name__))


def _convert(tp: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ProtocolError(f"{where}: expected an object")
        hints = typing.get_type_hints(tp)
        known = {f.name: f for f in dataclasses.fields(tp)}
        unknown = set(value) - set(known)
        if unknown:
            raise ProtocolError(f"{where}: unknown fields {sorted(unknown)}")
        kwargs = {
            name: _convert(hints[name], value[name], f"{where}.{name}") for name in known if name in value
        }
        try:
            return tp(**kwargs)
        except TypeError as exc:
            raise ProtocolError(f"{where}: {exc}") from None
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            raise ProtocolError(f"{where}: expected a list")
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{where}[]") for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ProtocolError(f"{where}: expected an object")
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _convert(option, value, where)
            except ProtocolError:
                continue
        raise ProtocolError(f"{where}: unexpected {value!r}")
    if tp is Any:
        return value
    if tp is type(None):
        if value is not None:
            raise ProtocolError(f"{where}: expected null")
        return None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        raise ProtocolError(f"{where}: expected a number")
    if tp in (str, int, float, bool) and isinstance(value, tp):
        return value
    raise ProtocolError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {type(value).__name__}")
