"""An instance's Green settings as a typed value: its webhook, its pacing and its yes/no switches."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final


class Switch(StrEnum):
    """Green's yes/no settings; each value is the setting's name on the wire."""

    MARK_INCOMING_MESSAGES_READED = "markIncomingMessagesReaded"
    MARK_INCOMING_MESSAGES_READED_ON_REPLY = "markIncomingMessagesReadedOnReply"
    #: outgoingMessageStatus and (ours) outgoingStatusReceipt notifications
    OUTGOING_WEBHOOK = "outgoingWebhook"
    OUTGOING_MESSAGE_WEBHOOK = "outgoingMessageWebhook"
    OUTGOING_API_MESSAGE_WEBHOOK = "outgoingAPIMessageWebhook"
    #: incomingStatusReceived notifications (as Green's incoming messages)
    INCOMING_WEBHOOK = "incomingWebhook"
    DEVICE_WEBHOOK = "deviceWebhook"
    STATUS_INSTANCE_WEBHOOK = "statusInstanceWebhook"
    #: stateInstanceChanged notifications
    STATE_WEBHOOK = "stateWebhook"
    ENABLE_MESSAGES_HISTORY = "enableMessagesHistory"
    KEEP_ONLINE_STATUS = "keepOnlineStatus"
    POLL_MESSAGE_WEBHOOK = "pollMessageWebhook"
    INCOMING_BLOCK_WEBHOOK = "incomingBlockWebhook"
    INCOMING_CALL_WEBHOOK = "incomingCallWebhook"
    EDITED_MESSAGE_WEBHOOK = "editedMessageWebhook"
    DELETED_MESSAGE_WEBHOOK = "deletedMessageWebhook"
    INCOMING_MESSAGE_STATUS_WEBHOOK = "incomingMessageStatusWebhook"


#: a new instance's switches that are on (the contract's Decisions)
ON_BY_DEFAULT: Final = frozenset(
    {
        Switch.OUTGOING_WEBHOOK,
        Switch.OUTGOING_API_MESSAGE_WEBHOOK,
        Switch.OUTGOING_MESSAGE_WEBHOOK,
        Switch.INCOMING_WEBHOOK,
        Switch.STATE_WEBHOOK,
    }
)

#: Green's wire names of the other settings
WEBHOOK_URL_KEY: Final = "webhookUrl"
WEBHOOK_URL_TOKEN_KEY: Final = "webhookUrlToken"  # noqa: S105 - a field name, not a secret
DELAY_KEY: Final = "delaySendMessagesMilliseconds"
#: shown by getSettings, accepted and ignored by setSettings (so a get → edit → set round trip works)
READ_ONLY_KEYS: Final = ("wid", "countryInstance", "typeAccount", "sharedSession", "proxyInstance")

#: what can travel as an HTTP header value (RFC 9110 field-value, ASCII only: httpx encodes headers as ASCII)
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?")


def is_header_value(value: str) -> bool:
    """Whether ``value`` can be sent as an HTTP header value as it is (the empty string can)."""
    return _HEADER_VALUE.fullmatch(value) is not None


@dataclass(frozen=True)
class InstanceSettings:
    #: empty: notifications wait for receiveNotification
    webhook_url: str = ""
    #: sent as ``Authorization: Bearer <token>`` with every webhook; empty: no header
    webhook_url_token: str = ""
    #: delaySendMessagesMilliseconds; None: the deployment's default (also for a stored value unreadable)
    delay_ms: int | None = None
    switches_on: frozenset[Switch] = field(default=ON_BY_DEFAULT)

    def delay(self, default_ms: int) -> int:
        return default_ms if self.delay_ms is None else self.delay_ms

    def on(self, switch: Switch) -> bool:
        return switch in self.switches_on

    def changed(self, change: SettingsChange) -> InstanceSettings:
        switches = set(self.switches_on)
        for switch, on in change.switches.items():
            (switches.add if on else switches.discard)(switch)
        return dataclasses.replace(
            self,
            webhook_url=self.webhook_url if change.webhook_url is None else change.webhook_url,
            webhook_url_token=(
                self.webhook_url_token if change.webhook_url_token is None else change.webhook_url_token
            ),
            delay_ms=self.delay_ms if change.delay_ms is None else change.delay_ms,
            switches_on=frozenset(switches),
        )


@dataclass(frozen=True)
class SettingsChange:
    """What a setSettings call changes; None (and a switch left out) is "unchanged"."""

    webhook_url: str | None = None
    webhook_url_token: str | None = None
    delay_ms: int | None = None
    switches: dict[Switch, bool] = field(default_factory=dict)
