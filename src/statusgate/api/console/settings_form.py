"""The console's settings forms → the same validated change as setSettings' body (the same words on error)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from statusgate.api import requests
from statusgate.api.validation import validate
from statusgate.domain.instance_settings import (
    DELAY_KEY,
    WEBHOOK_URL_KEY,
    WEBHOOK_URL_TOKEN_KEY,
    SettingsChange,
    Switch,
)

#: the switches the instance page shows (the rest keep their values)
SHOWN_SWITCHES = (
    Switch.OUTGOING_WEBHOOK,
    Switch.INCOMING_WEBHOOK,
    Switch.STATE_WEBHOOK,
    Switch.MARK_INCOMING_MESSAGES_READED,
)


def wire_fields(form: Mapping[str, str], *, with_switches: bool) -> dict[str, Any]:
    """Form strings as setSettings' JSON would carry them: a number where it takes one (a non-number is
    handed on as is, so validation names the field), a checkbox as yes/no."""
    fields: dict[str, Any] = {}
    for key in (WEBHOOK_URL_KEY, WEBHOOK_URL_TOKEN_KEY):
        if key in form:
            fields[key] = form[key].strip()
    delay = form.get(DELAY_KEY, "").strip()
    if delay:
        fields[DELAY_KEY] = int(delay) if delay.isascii() and delay.isdigit() and len(delay) < 12 else delay
    if with_switches:
        for switch in SHOWN_SWITCHES:
            fields[switch.value] = "yes" if form.get(switch.value) == "yes" else "no"
    return fields


def settings_change(model: type[BaseModel], fields: dict[str, Any]) -> SettingsChange:
    if not fields:
        return SettingsChange()
    return requests.settings_change(validate(model, fields).model_dump(exclude_unset=True))
