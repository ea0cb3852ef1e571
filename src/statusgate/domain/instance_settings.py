"""Green's per-instance settings: defaults, which keys are writable and what each accepts."""

from __future__ import annotations

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


def default_settings(delay_ms: int) -> dict[str, Any]:
    settings: dict[str, Any] = {"webhookUrl": "", "webhookUrlToken": "", DELAY_KEY: delay_ms}
    for key in YES_NO_KEYS:
        settings[key] = "yes" if key in ON_BY_DEFAULT else "no"
    return settings


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
