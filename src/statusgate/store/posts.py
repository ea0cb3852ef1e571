"""How a status's post is kept in ``statuses.body``.

The JSON is release 0.1's: the fields the author sent, under Green's names (``urlFile``, ``fileName``,
``backgroundColor`` …), absent ones absent — so databases made by that release are read as they are.
Nothing outside this module reads that JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statusgate.domain.models import MediaKind, StatusType
from statusgate.domain.posts import MediaPost, StatusPost, TextPost, VoicePost


def _put(stored: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        stored[key] = list(value) if isinstance(value, tuple) else value


def to_stored(post: StatusPost) -> dict[str, Any]:
    stored: dict[str, Any] = {}
    if isinstance(post, TextPost):
        _put(stored, "message", post.message)
        _put(stored, "backgroundColor", post.background_color)
        _put(stored, "font", post.font)
    elif isinstance(post, MediaPost):
        _put(stored, "urlFile", post.url_file)
        _put(stored, "fileName", post.file_name)
        _put(stored, "caption", post.caption)
    else:
        _put(stored, "urlFile", post.url_file)
        _put(stored, "fileName", post.file_name)
        _put(stored, "backgroundColor", post.background_color)
    _put(stored, "participants", post.participants)
    return stored


def _participants(stored: Mapping[str, Any]) -> tuple[str, ...] | None:
    sent = stored.get("participants")
    return None if sent is None else tuple(sent)


def from_stored(type_: StatusType, stored: Mapping[str, Any], kind: str | None) -> StatusPost:
    """The post of a status row; ``kind`` is the row's (the announced kind, the prepared one once
    prepared)."""
    if type_ is StatusType.TEXT:
        return TextPost(
            message=stored["message"],
            background_color=stored.get("backgroundColor"),
            font=stored.get("font"),
            participants=_participants(stored),
        )
    if type_ is StatusType.MEDIA:
        return MediaPost(
            url_file=stored["urlFile"],
            file_name=stored["fileName"],
            kind=MediaKind(kind) if kind else MediaKind.IMAGE,
            caption=stored.get("caption"),
            participants=_participants(stored),
        )
    return VoicePost(
        url_file=stored["urlFile"],
        file_name=stored["fileName"],
        background_color=stored.get("backgroundColor"),
        participants=_participants(stored),
    )
