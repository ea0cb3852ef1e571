"""What every Green method answers, as typed shapes with wire names: the one description of each body.

The router validates each handler's answer against its method's shape and serialises it from there, and the
OpenAPI document is generated from the same shapes, so a field the document does not describe cannot leave
the server. They are TypedDicts, not models: Green tells a field left out from a field that is null (an
outgoing status has ``description`` only when it failed; a contact's ``lastSeen`` is null), and a TypedDict
says which is which — ``NotRequired`` for the first, ``| None`` for the second.
"""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import ConfigDict, Strict, with_config
from typing_extensions import TypedDict

from statusgate.domain.notifications import NotificationType
from statusgate.domain.states import InstanceState

#: answers carry exactly the fields described, each of its declared type (a str is no int)
_EXACT = ConfigDict(extra="forbid", strict=True)

Switch = Literal["yes", "no"]
# the enums' values are their wire names: a handler may give a member or its value
State = Annotated[InstanceState, Strict(False)]
WebhookType = Annotated[NotificationType, Strict(False)]


@with_config(_EXACT)
class IdMessage(TypedDict):
    #: the status's id: its WhatsApp message id, chosen when the status is queued
    idMessage: str


@with_config(_EXACT)
class OutgoingTextMessage(TypedDict):
    text: str
    backgroundColor: str
    font: str
    participants: list[str]


@with_config(_EXACT)
class OutgoingStatus(TypedDict):
    type: Literal["outgoing"]
    idMessage: str
    timestamp: int
    typeMessage: str
    chatId: str
    #: pending → sent → delivered → read, or failed
    statusMessage: str
    sendByApi: bool
    #: why it failed (only when statusMessage is "failed")
    description: NotRequired[str]
    #: requested participants that are not on WhatsApp
    skippedParticipants: list[str]
    textMessage: NotRequired[str]
    extendedTextMessage: NotRequired[OutgoingTextMessage]
    participants: NotRequired[list[str]]
    caption: NotRequired[str]
    downloadUrl: NotRequired[str]
    fileName: NotRequired[str]
    mimeType: NotRequired[str]
    jpegThumbnail: NotRequired[str]
    backgroundColor: NotRequired[str]


@with_config(_EXACT)
class IncomingTextMessage(TypedDict):
    text: str
    backgroundColor: str
    font: str


@with_config(_EXACT)
class IncomingStatus(TypedDict):
    type: Literal["incoming"]
    idMessage: str
    timestamp: int
    typeMessage: str
    chatId: str
    senderId: str
    senderName: str
    senderContactName: str
    textMessage: NotRequired[str]
    extendedTextMessage: NotRequired[IncomingTextMessage]
    downloadUrl: NotRequired[str]
    fileName: NotRequired[str]
    mimeType: NotRequired[str]
    jpegThumbnail: NotRequired[str]
    caption: NotRequired[str]


@with_config(_EXACT)
class StatusView(TypedDict):
    participant: str
    timestamp: int
    #: sent, delivered or read
    status: str


@with_config(_EXACT)
class QueuedFields(TypedDict):
    """A queued status's request, the fields its author sent."""

    message: NotRequired[str]
    urlFile: NotRequired[str]
    fileName: NotRequired[str]
    caption: NotRequired[str]
    backgroundColor: NotRequired[str]
    font: NotRequired[str]
    participants: NotRequired[list[str]]


@with_config(_EXACT)
class QueuedStatus(TypedDict):
    messageID: str
    type: str
    body: QueuedFields


@with_config(_EXACT)
class Count(TypedDict):
    count: int


@with_config(_EXACT)
class Cleared(TypedDict):
    isCleared: bool


@with_config(_EXACT)
class ClearedWithReason(TypedDict):
    isCleared: bool
    reason: str


@with_config(_EXACT)
class StateInstance(TypedDict):
    stateInstance: State


@with_config(_EXACT)
class WaSettings(TypedDict):
    avatar: str
    phone: str
    stateInstance: State
    deviceId: str


# getSettings, built field by field: the switches' names are the wire names of domain.instance_settings.Switch
# (a test checks the two agree)
@with_config(_EXACT)
class InstanceSettings(TypedDict):
    wid: str
    countryInstance: str
    typeAccount: str
    webhookUrl: str
    webhookUrlToken: str
    delaySendMessagesMilliseconds: int
    sharedSession: Switch
    proxyInstance: str
    markIncomingMessagesReaded: Switch
    markIncomingMessagesReadedOnReply: Switch
    outgoingWebhook: Switch
    outgoingMessageWebhook: Switch
    outgoingAPIMessageWebhook: Switch
    incomingWebhook: Switch
    deviceWebhook: Switch
    statusInstanceWebhook: Switch
    stateWebhook: Switch
    enableMessagesHistory: Switch
    keepOnlineStatus: Switch
    pollMessageWebhook: Switch
    incomingBlockWebhook: Switch
    incomingCallWebhook: Switch
    editedMessageWebhook: Switch
    deletedMessageWebhook: Switch
    incomingMessageStatusWebhook: Switch


@with_config(_EXACT)
class SettingsSaved(TypedDict):
    saveSettings: bool


@with_config(_EXACT)
class Qr(TypedDict):
    #: qrCode (message: a PNG, base64), alreadyLogged or error
    type: Literal["qrCode", "alreadyLogged", "error"]
    message: str


@with_config(_EXACT)
class AuthorizationCode(TypedDict):
    status: bool
    #: type it on the phone: Linked devices → Link with phone number
    code: str


@with_config(_EXACT)
class LoggedOut(TypedDict):
    isLogout: bool


@with_config(_EXACT)
class Rebooted(TypedDict):
    isReboot: bool


@with_config(_EXACT)
class ApiToken(TypedDict):
    #: the new token; the old one stops working at once
    apiTokenInstance: str


@with_config(_EXACT)
class Contact(TypedDict):
    id: str
    name: str
    contactName: str
    type: str


@with_config(_EXACT)
class ContactInfo(TypedDict):
    avatar: str
    name: str
    contactName: str
    email: str
    category: str
    description: str
    products: list[str]
    chatId: str
    lastSeen: int | None
    isArchive: bool
    isDisappearing: bool
    isMute: bool
    messageExpiration: int
    muteExpiration: int | None
    isBusiness: bool


@with_config(_EXACT)
class ExistsWhatsapp(TypedDict):
    existsWhatsapp: bool


@with_config(_EXACT)
class InstanceData(TypedDict):
    idInstance: int
    wid: str
    typeInstance: str


# a notification's other fields depend on its typeWebhook (docs/notifications.md); they are let through
@with_config(ConfigDict(extra="allow", strict=True))
class NotificationBody(TypedDict):
    typeWebhook: WebhookType
    instanceData: InstanceData
    timestamp: int


@with_config(_EXACT)
class Notification(TypedDict):
    #: pass it to deleteNotification once the notification is handled
    receiptId: int
    body: NotificationBody


@with_config(_EXACT)
class NotificationDeleted(TypedDict):
    result: bool
    reason: str


@with_config(_EXACT)
class UploadedFile(TypedDict):
    #: where this server serves the file: pass it as a status's urlFile
    urlFile: str


# --- the Partner API (/partner/{method}/{partnerToken}) ---------------------------------------------------


@with_config(_EXACT)
class PartnerError(TypedDict):
    """Every refusal of the Partner API, sent with HTTP 200 as Green does (its clients read ``code``)."""

    #: 400 a bad body, 401 a wrong token, 404 no such instance or method, 429 too many wrong tokens
    code: Literal[400, 401, 404, 429]
    description: str


@with_config(_EXACT)
class CreatedInstance(TypedDict):
    idInstance: int
    #: shown this once: the server keeps only its hash
    apiTokenInstance: str
    apiUrl: str
    mediaUrl: str
    typeInstance: Literal["whatsapp"]


@with_config(_EXACT)
class PartnerInstance(TypedDict):
    idInstance: int
    name: str
    typeInstance: Literal["whatsapp"]
    typeAccount: Literal["instance"]
    partnerUserUiid: str
    #: "YYYY-MM-DD HH:MM:SS", UTC
    timeCreated: str
    #: always "": a deleted instance is not listed
    timeDeleted: str
    #: always "": tokens are kept as hashes only
    apiTokenInstance: str
    deleted: bool
    tariff: str
    isFree: bool
    isPartner: bool
    #: nothing expires on a self-hosted server
    expirationDate: str
    isExpired: bool


@with_config(_EXACT)
class InstanceDeleted(TypedDict):
    deleteInstanceAccount: bool
