"""Validated request fields → domain values: where Green's request field names are read, and only here."""

from __future__ import annotations

from typing import Any

from statusgate.domain.instance_settings import (
    DELAY_KEY,
    WEBHOOK_URL_KEY,
    WEBHOOK_URL_TOKEN_KEY,
    SettingsChange,
    Switch,
)
from statusgate.domain.posts import MediaPost, TextPost, VoicePost
from statusgate.errors import ValidationError
from statusgate.media.kinds import kind_for_file_name


def _participants(fields: dict[str, Any]) -> tuple[str, ...] | None:
    sent = fields.get("participants")
    return None if sent is None else tuple(sent)


def text_post(fields: dict[str, Any]) -> TextPost:
    return TextPost(
        message=fields["message"],
        background_color=fields.get("backgroundColor"),
        font=fields.get("font"),
        participants=_participants(fields),
    )


def media_post(fields: dict[str, Any]) -> MediaPost:
    kind = kind_for_file_name(fields["fileName"])
    if kind is None:  # the schema checks the extension; this keeps the conversion total
        raise ValidationError("'fileName' has an invalid format (unsupported extension)")
    return MediaPost(
        url_file=fields["urlFile"],
        file_name=fields["fileName"],
        kind=kind,
        caption=fields.get("caption"),
        participants=_participants(fields),
    )


def voice_post(fields: dict[str, Any]) -> VoicePost:
    return VoicePost(
        url_file=fields["urlFile"],
        file_name=fields["fileName"],
        background_color=fields.get("backgroundColor"),
        participants=_participants(fields),
    )


def settings_change(fields: dict[str, Any]) -> SettingsChange:
    """setSettings' fields (read-only keys, accepted for a get → set round trip, are ignored)."""
    return SettingsChange(
        webhook_url=fields.get(WEBHOOK_URL_KEY),
        webhook_url_token=fields.get(WEBHOOK_URL_TOKEN_KEY),
        delay_ms=fields.get(DELAY_KEY),
        switches={switch: fields[switch.value] == "yes" for switch in Switch if switch.value in fields},
    )
