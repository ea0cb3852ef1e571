"""Green's per-instance settings: defaults, which keys are writable and what each accepts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

YES_NO_KEYS: Final = (
    "markIncomingMessagesReaded",
    "markIncomingMessagesReadedOnReply",
    "outgoingWebhook",
    "outgoingMessageWebhook",
    "outgoingAPIMessageWebhook",
    "incomingWebhook",
    "deviceWebhook",
    "statusInstanceWebhook",
    "stateWebhook",
    "enableMessagesHistory",
    "keepOnlineStatus",
    "pollMessageWebhook",
    "incomingBlockWebhook",
    "incomingCallWebhook",
    "editedMessageWebhook",
    "deletedMessageWebhook",
    "incomingMessageStatusWebhook",
)
ON_BY_DEFAULT: Final = frozenset(
    {
        "outgoingWebhook",
        "outgoingAPIMessageWebhook",
        "outgoingMessageWebhook",
        "incomingWebhook",
        "stateWebhook",
    }
)
STRING_KEYS: Final = ("webhookUrl", "webhookUrlToken")
#: shown by getSettings, accepted and ignored by setSettings (so a get → edit → set round trip works)
READ_ONLY_KEYS: Final = ("wid", "countryInstance", "typeAccount", "sharedSession", "proxyInstance")
DELAY_KEY: Final = "delaySendMessagesMilliseconds"


#: what can travel as an HTTP header value (RFC 9110 field-value, ASCII only: httpx encodes headers as ASCII)
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?")


def is_header_value(value: str) -> bool:
    """Whether ``value`` can be sent as an HTTP header value as it is (the empty string can)."""
    return _HEADER_VALUE.fullmatch(value) is not None


def default_settings(delay_ms: int) -> dict[str, Any]:
    settings: dict[str, Any] = {"webhookUrl": "", "webhookUrlToken": "", DELAY_KEY: delay_ms}
    for key in YES_NO_KEYS:
        settings[key] = "yes" if key in ON_BY_DEFAULT else "no"
    return settings


def usable(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Stored settings without the values nothing can use, so readers fall back to the defaults.

    Earlier releases accepted ``null`` for any key, and a null delay stopped the instance's sender for good;
    values read back from the database are therefore checked, not trusted. An unusable ``webhookUrlToken``
    stays: dropping it would send webhooks without the receiver's credentials, so the webhook sender
    refuses it with a logged reason instead.
    """
    kept: dict[str, Any] = {}
    for key, value in stored.items():
        if key == DELAY_KEY:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        elif key in YES_NO_KEYS:
            ok = value in ("yes", "no")
        elif key in STRING_KEYS:
            ok = isinstance(value, str)
        else:
            ok = value is not None
        if ok:
            kept[key] = value
    return kept


def settings_view(stored: dict[str, Any], wid: str, delay_default_ms: int) -> dict[str, Any]:
    """getSettings' answer, in Green's key order."""
    merged = default_settings(delay_default_ms) | stored
    view: dict[str, Any] = {
        "wid": wid,
        "countryInstance": "",
        "typeAccount": "",
        "webhookUrl": merged["webhookUrl"],
        "webhookUrlToken": merged["webhookUrlToken"],
        DELAY_KEY: merged[DELAY_KEY],
        "sharedSession": "no",
        "proxyInstance": "",
    }
    for key in YES_NO_KEYS:
        view[key] = merged[key]
    return view
