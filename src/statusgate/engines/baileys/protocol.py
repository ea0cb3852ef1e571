"""The frames of the baileys child's protocol (on the sidecar framing: docs/engines.md, "The child
protocol"). So far: the child's requests for its account's keys (``child/auth_state.mjs`` sends them,
``keys.py`` answers them); the rest of the engine's frames join them here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeysGet:
    """The child asks for the values of ``ids`` in ``category``; the reply's result is ``{"values": {id:
    text}}``, an id with no value left out."""

    category: str
    ids: list[str]


@dataclass(frozen=True)
class KeyValue:
    """One key to store (``value``: the engine's serialisation) or, with ``value`` null, to delete."""

    category: str
    id: str
    value: str | None


@dataclass(frozen=True)
class KeysSet:
    """The child stores and deletes these keys, in order, in one transaction; refused (``fenced``) unless
    its worker still holds the account's lease. The reply's result is empty."""

    writes: list[KeyValue]


@dataclass(frozen=True)
class KeysWipe:
    """The child deletes every key of its account (logged out); fenced as :class:`KeysSet`."""


#: the requests a baileys child sends the server
KEY_REQUESTS: tuple[type, ...] = (KeysGet, KeysSet, KeysWipe)
#: every frame of this module, for the engine's codec
FRAMES: tuple[type, ...] = (KeyValue, *KEY_REQUESTS)
