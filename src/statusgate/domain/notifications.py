"""What a notification reports, as typed facts: one frozen class per notification type.

A fact is made where the thing it reports happens (a status's move, a receipt, an incoming status, a state
change) and journaled in that same transaction by ``store.notifications.journal``, the only function that
journals. Green's envelope and field names are given to a fact when it is handed out
(``services.notifications.render``); nothing else builds a notification body.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from statusgate.domain.instance_settings import Switch
from statusgate.domain.posts import DEFAULT_FONT, DEFAULT_TEXT_BACKGROUND
from statusgate.domain.states import UNSENT_STATES, InstanceState, ReceiptStatus, StatusState


class NotificationType(StrEnum):
    """The kinds of notification; each value is its ``typeWebhook`` on the wire."""

    #: a status went out, or never will (Green's)
    OUTGOING_MESSAGE_STATUS = "outgoingMessageStatus"
    #: a recipient's phone got or viewed a status (statusgate's)
    OUTGOING_STATUS_RECEIPT = "outgoingStatusReceipt"
    #: a contact posted a status (statusgate's)
    INCOMING_STATUS_RECEIVED = "incomingStatusReceived"
    #: the instance's state changed (Green's)
    STATE_INSTANCE_CHANGED = "stateInstanceChanged"

    @property
    def switch(self) -> Switch:
        """The instance setting that turns this type on."""
        return _SWITCH[self]


_SWITCH = {
    NotificationType.OUTGOING_MESSAGE_STATUS: Switch.OUTGOING_WEBHOOK,
    NotificationType.OUTGOING_STATUS_RECEIPT: Switch.OUTGOING_WEBHOOK,
    NotificationType.INCOMING_STATUS_RECEIVED: Switch.INCOMING_WEBHOOK,
    NotificationType.STATE_INSTANCE_CHANGED: Switch.STATE_WEBHOOK,
}


class Outcome(StrEnum):
    """What ``outgoingMessageStatus`` says of a status (Green's values)."""

    #: the engine accepted it
    SENT = "sent"
    #: it never went out and never will (failed, expired or cleared)
    FAILED = "failed"


@dataclass(frozen=True)
class OutgoingStatusChanged:
    """A status went out, or never will."""

    type: ClassVar[NotificationType] = NotificationType.OUTGOING_MESSAGE_STATUS

    instance_id: int
    id_message: str
    outcome: Outcome
    at: float
    #: why it never went out (failed only; None when sent)
    description: str | None = None

    @classmethod
    def after_move(
        cls, instance_id: int, id_message: str, state: StatusState, description: str | None, at: float
    ) -> OutgoingStatusChanged | None:
        """The fact a status's move to ``state`` reports; None for a move nobody is told of."""
        if state is StatusState.SENT:
            return cls(instance_id, id_message, Outcome.SENT, at)
        if state in UNSENT_STATES:
            # a failure always says why; the state's name when the move gave no reason
            return cls(instance_id, id_message, Outcome.FAILED, at, description or state.value)
        return None


@dataclass(frozen=True)
class StatusReceiptChanged:
    """A recipient of a status moved forward (delivered, then read)."""

    type: ClassVar[NotificationType] = NotificationType.OUTGOING_STATUS_RECEIPT

    instance_id: int
    id_message: str
    participant: str
    status: ReceiptStatus
    at: float


@dataclass(frozen=True)
class IncomingText:
    """A text status: its words, background and font (the defaults when the sender's phone sent none)."""

    #: Green's ``typeMessage`` of a text status
    type_message: ClassVar[str] = "extendedTextMessage"

    text: str = ""
    background_color: str = DEFAULT_TEXT_BACKGROUND
    font: str = DEFAULT_FONT


@dataclass(frozen=True)
class IncomingFile:
    """A picture, video or audio status."""

    #: Green's ``typeMessage``: imageMessage, videoMessage or audioMessage
    type_message: str
    caption: str = ""
    #: the file name the sender gave (the downloaded file's stem)
    file_name: str = ""
    #: the file in the media store; None when it was not downloaded
    media_id: str | None = None


@dataclass(frozen=True)
class IncomingStatusReceived:
    """A contact posted a status the account sees."""

    type: ClassVar[NotificationType] = NotificationType.INCOMING_STATUS_RECEIVED

    instance_id: int
    id_message: str
    sender: str
    #: the sender's own name (their push name), as it came
    sender_name: str
    #: the name the account saved the sender under
    sender_contact_name: str
    content: IncomingText | IncomingFile
    at: float


@dataclass(frozen=True)
class InstanceStateChanged:
    """The instance's state changed (authorized, logged out, blocked …)."""

    type: ClassVar[NotificationType] = NotificationType.STATE_INSTANCE_CHANGED

    instance_id: int
    state: InstanceState
    at: float


#: every fact a notification reports
Notification = OutgoingStatusChanged | StatusReceiptChanged | IncomingStatusReceived | InstanceStateChanged
