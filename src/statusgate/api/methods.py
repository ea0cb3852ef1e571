"""The Green methods statusgate answers: the table that routes to their handlers (``api.handlers``) and that
the OpenAPI document, the rate limits and the router are made from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from statusgate.api import handlers
from statusgate.api import responses as answers
from statusgate.api.context import Call
from statusgate.api.schemas import Schemas
from statusgate.settings import Settings

#: what a handler returns: data of its method's ``response`` shape (ignored when that is None: an empty body)
Handler = Callable[[Call], Awaitable[Any]]
#: a method's request body model, one of the per-settings models of ``Schemas``
BodyModel = Callable[[Schemas], type[BaseModel]]


@dataclass(frozen=True)
class QueryParam:
    """A query-string parameter a method reads; ``schema`` is its JSON Schema (for the OpenAPI document:
    the handler does the parsing, with Green's error messages)."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False
    #: (minimum, default, maximum) from the settings, for a number whose bounds are settings
    bounds: Callable[[Settings], tuple[int, int, int]] | None = None
    #: ``?name=`` with nothing after it counts as absent
    allow_empty: bool = False

    def schema_for(self, settings: Settings) -> dict[str, Any]:
        if self.bounds is None:
            return self.schema
        low, default, high = self.bounds(settings)
        return self.schema | {"minimum": low, "maximum": high, "default": default}


@dataclass(frozen=True)
class Method:
    name: str
    verbs: frozenset[str]
    handler: Handler
    #: the shape of its 200 answer (a type of ``api.responses``, or a list of one); None: an empty body
    response: Any
    #: the section of Green's documentation it belongs to
    section: str
    summary: str
    #: answers 403 while the instance's status access is off
    status_method: bool = False
    #: the model of its JSON body; None: it takes none
    body: BodyModel | None = None
    query: tuple[QueryParam, ...] = ()
    #: its URL has one more segment after the token (deleteNotification's receiptId)
    takes_extra: bool = False
    #: Green's limit, requests per second per instance (contract §1.4); None: Green lists none
    rate_limit: float | None = None


_GET = frozenset({"GET"})
_POST = frozenset({"POST"})

_MINUTES = QueryParam(
    "minutes",
    {"type": "integer", "minimum": 1},
    f"how far back to look, in minutes (default {handlers.DEFAULT_MINUTES}: 24 h)",
)
_STATUSES = "Statuses"
_QUEUE = "Queue"
_ACCOUNT = "Account"
_SERVICE = "Service methods"
_RECEIVING = "Receiving notifications"
_FILES = "Files"

METHODS: dict[str, Method] = {
    m.name.lower(): m
    for m in (
        Method(
            "sendTextStatus",
            _POST,
            handlers.send_text_status,
            answers.IdMessage,
            _STATUSES,
            "Queue a text status",
            status_method=True,
            body=lambda s: s.send_text_status,
            rate_limit=5,
        ),
        Method(
            "sendVoiceStatus",
            _POST,
            handlers.send_voice_status,
            answers.IdMessage,
            _STATUSES,
            "Queue a voice status (the sound is fetched from urlFile)",
            status_method=True,
            body=lambda s: s.send_voice_status,
            rate_limit=5,
        ),
        Method(
            "sendMediaStatus",
            _POST,
            handlers.send_media_status,
            answers.IdMessage,
            _STATUSES,
            "Queue a picture, video or audio status (the file is fetched from urlFile)",
            status_method=True,
            body=lambda s: s.send_media_status,
            rate_limit=5,
        ),
        Method(
            "deleteStatus",
            _POST,
            handlers.delete_status,
            None,
            _STATUSES,
            "Delete a status: a queued one is dropped, a sent one revoked",
            status_method=True,
            body=lambda s: s.delete_status,
            rate_limit=10,
        ),
        Method(
            "getOutgoingStatuses",
            _GET,
            handlers.get_outgoing_statuses,
            list[answers.OutgoingStatus],
            _STATUSES,
            "The statuses this instance sent or queued",
            status_method=True,
            query=(_MINUTES,),
            rate_limit=1,
        ),
        Method(
            "getIncomingStatuses",
            _GET,
            handlers.get_incoming_statuses,
            list[answers.IncomingStatus],
            _STATUSES,
            "The statuses contacts posted",
            status_method=True,
            query=(_MINUTES,),
            rate_limit=1,
        ),
        Method(
            "getStatusStatistic",
            _GET,
            handlers.get_status_statistic,
            list[answers.StatusView],
            _STATUSES,
            "Who got and who viewed a sent status",
            status_method=True,
            query=(QueryParam("idMessage", {"type": "string", "minLength": 1}, "the status's id", True),),
            rate_limit=1,
        ),
        Method(
            "showMessagesQueue",
            _GET,
            handlers.show_messages_queue,
            list[answers.QueuedStatus],
            _QUEUE,
            "The statuses waiting to be sent, oldest first",
            rate_limit=1,
        ),
        Method(
            "getMessagesCount",
            _GET,
            handlers.get_messages_count,
            answers.Count,
            _QUEUE,
            "How many statuses wait to be sent",
        ),
        Method(
            "clearMessagesQueue",
            frozenset({"GET", "DELETE"}),
            handlers.clear_messages_queue,
            answers.Cleared,
            _QUEUE,
            "Drop every status that has not started sending",
            rate_limit=1,
        ),
        Method(
            "getStateInstance",
            _GET,
            handlers.get_state_instance,
            answers.StateInstance,
            _ACCOUNT,
            "The instance's state: authorized, notAuthorized, starting, …",
            rate_limit=1,
        ),
        Method(
            "getSettings",
            _GET,
            handlers.get_settings,
            answers.InstanceSettings,
            _ACCOUNT,
            "The instance's settings",
            rate_limit=1,
        ),
        Method(
            "getWaSettings",
            _GET,
            handlers.get_wa_settings,
            answers.WaSettings,
            _ACCOUNT,
            "The linked WhatsApp account: its phone number and state",
            rate_limit=1,
        ),
        Method(
            "setSettings",
            _POST,
            handlers.set_settings,
            answers.SettingsSaved,
            _ACCOUNT,
            "Change some of the instance's settings (at once, no reboot)",
            body=lambda s: s.set_settings,
            rate_limit=1,
        ),
        Method("qr", _GET, handlers.qr, answers.Qr, _ACCOUNT, "A QR code to link a phone", rate_limit=3),
        Method(
            "getAuthorizationCode",
            _POST,
            handlers.get_authorization_code,
            answers.AuthorizationCode,
            _ACCOUNT,
            "A code to link a phone by its number",
            body=lambda s: s.get_authorization_code,
        ),
        Method(
            "logout", _GET, handlers.logout, answers.LoggedOut, _ACCOUNT, "Unlink the phone", rate_limit=1
        ),
        Method(
            "reboot",
            _GET,
            handlers.reboot,
            answers.Rebooted,
            _ACCOUNT,
            "Restart the instance's session",
            rate_limit=1,
        ),
        Method(
            "updateApiToken",
            _GET,
            handlers.update_api_token,
            answers.ApiToken,
            _ACCOUNT,
            "Replace the instance's token (the old one stops working at once)",
        ),
        Method(
            "getContacts",
            _GET,
            handlers.get_contacts,
            list[answers.Contact],
            _SERVICE,
            "The address book and chats",
            query=(
                QueryParam(
                    "group", {"type": "boolean"}, "true: groups only; false: people only", allow_empty=True
                ),
                QueryParam("count", {"type": "integer", "minimum": 0}, "at most this many"),
            ),
            rate_limit=1,
        ),
        Method(
            "uploadFile",
            _POST,
            handlers.upload_file,
            answers.UploadedFile,
            _FILES,
            "Store a file on this server, for a status's urlFile",
        ),
        Method(
            "receiveNotification",
            _GET,
            handlers.receive_notification,
            answers.Notification | None,
            _RECEIVING,
            "The oldest notification, waiting for one up to receiveTimeout seconds (null: none came)",
            query=(
                QueryParam(
                    "receiveTimeout",
                    {"type": "integer"},
                    f"seconds to wait for a notification (default {handlers.DEFAULT_RECEIVE_TIMEOUT}; the bounds are "
                    "the settings receive_timeout_min_seconds and receive_timeout_max_seconds)",
                    bounds=handlers.receive_timeout_bounds,
                ),
            ),
            rate_limit=100,
        ),
        Method(
            "deleteNotification",
            frozenset({"DELETE"}),
            handlers.delete_notification,
            answers.NotificationDeleted,
            _RECEIVING,
            "Remove a notification, once handled, by its receiptId",
            takes_extra=True,
            rate_limit=100,
        ),
        Method(
            "getWebhooksCount",
            _GET,
            handlers.get_webhooks_count,
            answers.Count,
            _RECEIVING,
            "How many notifications wait to be received",
        ),
        Method(
            "clearWebhooksQueue",
            frozenset({"DELETE"}),
            handlers.clear_webhooks_queue,
            answers.ClearedWithReason,
            _RECEIVING,
            "Drop every notification waiting to be received",
        ),
        Method(
            "checkWhatsapp",
            _POST,
            handlers.check_whatsapp,
            answers.ExistsWhatsapp,
            _SERVICE,
            "Whether a phone number is on WhatsApp",
            body=lambda s: s.check_whatsapp,
            rate_limit=10,
        ),
        Method(
            "getContactInfo",
            _POST,
            handlers.get_contact_info,
            answers.ContactInfo,
            _SERVICE,
            "What the address book tells of a chat",
            body=lambda s: s.get_contact_info,
            rate_limit=1,
        ),
    )
}
