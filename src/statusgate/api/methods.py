"""The Green methods statusgate answers: one handler each, and the table that routes to them."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel

from statusgate.api import requests
from statusgate.api import responses as answers
from statusgate.api.context import Call
from statusgate.api.schemas import Schemas
from statusgate.api.uploads import upload_body
from statusgate.api.validation import parse_json, validate, wire_int
from statusgate.errors import NotFoundError, PayloadTooLargeError, ValidationError
from statusgate.ids import INT64_MAX
from statusgate.services import account, instances, journals, posting, statuses
from statusgate.services import media as media_service
from statusgate.services import notifications as notification_service
from statusgate.settings import Settings

#: getOutgoingStatuses / getIncomingStatuses look back this far without ?minutes= (24 h)
DEFAULT_MINUTES = 1440

#: receiveNotification holds the request this long without ?receiveTimeout= (or the nearest of the bounds
#: the settings give: Green's are 5..60 s)
DEFAULT_RECEIVE_TIMEOUT = 5

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


def _json_body(call: Call) -> Any:
    return parse_json(call.body)


# --- statuses ------------------------------------------------------------------------------------------------


def _fields(call: Call) -> dict[str, Any]:
    """The validated request fields as sent; an optional field sent as null counts as absent."""
    assert call.model is not None, "a method that reads a body declares its model"
    fields = validate(call.model, _json_body(call)).model_dump(exclude_unset=True)
    return {name: value for name, value in fields.items() if value is not None}


async def send_text_status(call: Call) -> Any:
    post = requests.text_post(_fields(call))
    return {"idMessage": await posting.queue_status(call.ctx, call.instance, post)}


async def send_voice_status(call: Call) -> Any:
    post = requests.voice_post(_fields(call))
    return {"idMessage": await posting.queue_status(call.ctx, call.instance, post)}


async def send_media_status(call: Call) -> Any:
    post = requests.media_post(_fields(call))
    return {"idMessage": await posting.queue_status(call.ctx, call.instance, post)}


async def delete_status(call: Call) -> Any:
    body = _fields(call)
    await statuses.delete_status(call.ctx, call.instance, body["idMessage"])
    return None


def _minutes(call: Call) -> int:
    minutes = wire_int(call.query("minutes"), "minutes")
    if minutes is None:
        return DEFAULT_MINUTES
    if minutes < 1:
        raise ValidationError("'minutes' must be greater than or equal to 1")
    # the journals keep nothing older than their retention: a longer window is the same window
    kept = math.ceil(call.ctx.settings.journal_retention_seconds / 60)
    return min(minutes, kept)


async def get_outgoing_statuses(call: Call) -> Any:
    return await journals.outgoing(call.ctx, call.instance, _minutes(call))


async def get_incoming_statuses(call: Call) -> Any:
    return await journals.incoming_statuses(call.ctx, call.instance, _minutes(call))


async def get_status_statistic(call: Call) -> Any:
    id_message = call.query("idMessage")
    if id_message is None:
        raise ValidationError("'idMessage' is required")
    if not id_message:
        raise ValidationError("'idMessage' is not allowed to be empty")
    return await statuses.statistics(call.ctx, call.instance, id_message)


# --- queue ---------------------------------------------------------------------------------------------------


async def show_messages_queue(call: Call) -> Any:
    return await statuses.show_queue(call.ctx, call.instance)


async def get_messages_count(call: Call) -> Any:
    return {"count": await statuses.queue_count(call.ctx, call.instance)}


async def clear_messages_queue(call: Call) -> Any:
    await statuses.clear_queue(call.ctx, call.instance)
    return {"isCleared": True}


# --- account -------------------------------------------------------------------------------------------------


async def get_state_instance(call: Call) -> Any:
    return {"stateInstance": await account.state(call.ctx, call.instance)}


async def get_wa_settings(call: Call) -> Any:
    state, wid = await account.wa_account(call.ctx, call.instance)
    # no engine tells an avatar or a device id (yet): Green's value for "none" is an empty string
    return {"avatar": "", "phone": wid.split("@", 1)[0], "stateInstance": state, "deviceId": ""}


async def get_settings(call: Call) -> Any:
    return await account.get_settings(call.ctx, call.instance)


async def set_settings(call: Call) -> Any:
    data = _json_body(call)
    if isinstance(data, dict) and not data:
        raise ValidationError("'value' must have at least 1 key")
    assert call.model is not None
    model = validate(call.model, data)
    fields = model.model_dump(exclude_unset=True)
    await account.set_settings(call.ctx, call.instance, requests.settings_change(fields))
    call.auth.forget(call.instance.id_instance)
    return {"saveSettings": True}


async def qr(call: Call) -> Any:
    answer = await account.qr(call.ctx, call.instance)
    return {"type": answer.type, "message": answer.message}


async def get_authorization_code(call: Call) -> Any:
    fields = _fields(call)
    code = await account.authorization_code(call.ctx, call.instance, fields["phoneNumber"])
    return {"status": True, "code": code}


async def logout(call: Call) -> Any:
    await account.logout(call.ctx, call.instance)
    return {"isLogout": True}


async def reboot(call: Call) -> Any:
    await account.reboot(call.ctx, call.instance)
    return {"isReboot": True}


async def update_api_token(call: Call) -> Any:
    token = await instances.update_api_token(call.ctx, call.auth, call.instance)
    return {"apiTokenInstance": token}


# --- service methods -----------------------------------------------------------------------------------------


def _bool_param(call: Call, name: str) -> bool | None:
    raw = call.query(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ValidationError(f"'{name}' must be a boolean")


def _count_param(call: Call, name: str) -> int | None:
    count = wire_int(call.query(name), name)
    if count is not None and count < 0:
        raise ValidationError(f"'{name}' must be greater than or equal to 0")
    return count


async def get_contacts(call: Call) -> Any:
    group = _bool_param(call, "group")
    count = _count_param(call, "count")
    found = await account.contacts(call.ctx, call.instance, group, count)
    return [{"id": c.id, "name": c.name, "contactName": c.contact_name, "type": c.type} for c in found]


async def get_contact_info(call: Call) -> Any:
    chat_id = _fields(call)["chatId"]
    found = await account.contact(call.ctx, call.instance, chat_id)
    # what the address book tells; the rest (a business profile, chat flags) no engine tells: Green's
    # values for "none"
    return {
        "avatar": "",
        "name": found.name if found else "",
        "contactName": found.contact_name if found else "",
        "email": "",
        "category": "",
        "description": "",
        "products": [],
        "chatId": chat_id,
        "lastSeen": None,
        "isArchive": False,
        "isDisappearing": False,
        "isMute": False,
        "messageExpiration": 0,
        "muteExpiration": None,
        "isBusiness": False,
    }


async def check_whatsapp(call: Call) -> Any:
    data = _json_body(call)
    if isinstance(data, dict) and not data:
        raise ValidationError("'value' must have at least 1 key")
    assert call.model is not None
    model = validate(call.model, data)
    fields = model.model_dump()
    if fields.get("chatId"):
        chat_id = fields["chatId"]
    elif fields.get("phoneNumber") is not None:
        digits = str(fields["phoneNumber"])
        if not 11 <= len(digits) <= 16:
            raise ValidationError("bad phone number, valid from 11 to 16 digits")
        chat_id = f"{digits}@c.us"
    else:
        raise ValidationError("'phoneNumber' is required")
    return {"existsWhatsapp": await account.check_whatsapp(call.ctx, call.instance, chat_id)}


# --- notifications (HTTP API polling) ------------------------------------------------------------------------


def receive_timeout_bounds(settings: Settings) -> tuple[int, int, int]:
    """receiveNotification's (shortest, default, longest) wait, in seconds."""
    low, high = settings.receive_timeout_min_seconds, settings.receive_timeout_max_seconds
    return low, min(max(DEFAULT_RECEIVE_TIMEOUT, low), high), high


async def receive_notification(call: Call) -> Any:
    low, default, high = receive_timeout_bounds(call.ctx.settings)
    timeout = wire_int(call.query("receiveTimeout"), "receiveTimeout")
    if timeout is None:
        timeout = default
    elif not low <= timeout <= high:
        raise ValidationError(f"'receiveTimeout' must be from {low} to {high} seconds")
    return await notification_service.receive(call.ctx, call.instance, timeout)


async def delete_notification(call: Call) -> Any:
    if call.extra is None:
        raise NotFoundError()
    receipt_id = wire_int(call.extra, "receiptId")
    if receipt_id is None:
        raise ValidationError("'receiptId' must be an integer")
    # receipt ids start at 1; wire_int caps larger numbers at INT64_MAX, which is then no real id either
    exists = 0 < receipt_id < INT64_MAX
    deleted = exists and await notification_service.delete(call.ctx, call.instance, receipt_id)
    return {"result": deleted, "reason": "" if deleted else "notification not found"}


async def get_webhooks_count(call: Call) -> Any:
    return {"count": await notification_service.count(call.ctx, call.instance)}


async def clear_webhooks_queue(call: Call) -> Any:
    await notification_service.clear(call.ctx, call.instance)
    return {"isCleared": True, "reason": ""}


# --- files ---------------------------------------------------------------------------------------------------


async def upload_file(call: Call) -> Any:
    """The raw body (what the official Python SDK sends) or a multipart form with one file part (the
    JavaScript SDK); the name from GA-Filename when given."""
    headers = call.request.headers
    declared = wire_int(headers.get("content-length"), "Content-Length") or 0
    if declared > call.ctx.settings.max_upload_bytes:
        raise PayloadTooLargeError()
    body = upload_body(
        headers.get("content-type"), call.request.stream(), unquote(headers.get("ga-filename", "")) or None
    )
    url = await media_service.upload(call.ctx, call.instance.id_instance, body)
    return {"urlFile": url}


_GET = frozenset({"GET"})
_POST = frozenset({"POST"})

_MINUTES = QueryParam(
    "minutes",
    {"type": "integer", "minimum": 1},
    f"how far back to look, in minutes (default {DEFAULT_MINUTES}: 24 h)",
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
            send_text_status,
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
            send_voice_status,
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
            send_media_status,
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
            delete_status,
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
            get_outgoing_statuses,
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
            get_incoming_statuses,
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
            get_status_statistic,
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
            show_messages_queue,
            list[answers.QueuedStatus],
            _QUEUE,
            "The statuses waiting to be sent, oldest first",
            rate_limit=1,
        ),
        Method(
            "getMessagesCount",
            _GET,
            get_messages_count,
            answers.Count,
            _QUEUE,
            "How many statuses wait to be sent",
        ),
        Method(
            "clearMessagesQueue",
            frozenset({"GET", "DELETE"}),
            clear_messages_queue,
            answers.Cleared,
            _QUEUE,
            "Drop every status that has not started sending",
            rate_limit=1,
        ),
        Method(
            "getStateInstance",
            _GET,
            get_state_instance,
            answers.StateInstance,
            _ACCOUNT,
            "The instance's state: authorized, notAuthorized, starting, …",
            rate_limit=1,
        ),
        Method(
            "getSettings",
            _GET,
            get_settings,
            answers.InstanceSettings,
            _ACCOUNT,
            "The instance's settings",
            rate_limit=1,
        ),
        Method(
            "getWaSettings",
            _GET,
            get_wa_settings,
            answers.WaSettings,
            _ACCOUNT,
            "The linked WhatsApp account: its phone number and state",
            rate_limit=1,
        ),
        Method(
            "setSettings",
            _POST,
            set_settings,
            answers.SettingsSaved,
            _ACCOUNT,
            "Change some of the instance's settings (at once, no reboot)",
            body=lambda s: s.set_settings,
            rate_limit=1,
        ),
        Method("qr", _GET, qr, answers.Qr, _ACCOUNT, "A QR code to link a phone", rate_limit=3),
        Method(
            "getAuthorizationCode",
            _POST,
            get_authorization_code,
            answers.AuthorizationCode,
            _ACCOUNT,
            "A code to link a phone by its number",
            body=lambda s: s.get_authorization_code,
        ),
        Method("logout", _GET, logout, answers.LoggedOut, _ACCOUNT, "Unlink the phone", rate_limit=1),
        Method(
            "reboot", _GET, reboot, answers.Rebooted, _ACCOUNT, "Restart the instance's session", rate_limit=1
        ),
        Method(
            "updateApiToken",
            _GET,
            update_api_token,
            answers.ApiToken,
            _ACCOUNT,
            "Replace the instance's token (the old one stops working at once)",
        ),
        Method(
            "getContacts",
            _GET,
            get_contacts,
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
            upload_file,
            answers.UploadedFile,
            _FILES,
            "Store a file on this server, for a status's urlFile",
        ),
        Method(
            "receiveNotification",
            _GET,
            receive_notification,
            answers.Notification | None,
            _RECEIVING,
            "The oldest notification, waiting for one up to receiveTimeout seconds (null: none came)",
            query=(
                QueryParam(
                    "receiveTimeout",
                    {"type": "integer"},
                    f"seconds to wait for a notification (default {DEFAULT_RECEIVE_TIMEOUT}; the bounds are "
                    "the settings receive_timeout_min_seconds and receive_timeout_max_seconds)",
                    bounds=receive_timeout_bounds,
                ),
            ),
            rate_limit=100,
        ),
        Method(
            "deleteNotification",
            frozenset({"DELETE"}),
            delete_notification,
            answers.NotificationDeleted,
            _RECEIVING,
            "Remove a notification, once handled, by its receiptId",
            takes_extra=True,
            rate_limit=100,
        ),
        Method(
            "getWebhooksCount",
            _GET,
            get_webhooks_count,
            answers.Count,
            _RECEIVING,
            "How many notifications wait to be received",
        ),
        Method(
            "clearWebhooksQueue",
            frozenset({"DELETE"}),
            clear_webhooks_queue,
            answers.ClearedWithReason,
            _RECEIVING,
            "Drop every notification waiting to be received",
        ),
        Method(
            "checkWhatsapp",
            _POST,
            check_whatsapp,
            answers.ExistsWhatsapp,
            _SERVICE,
            "Whether a phone number is on WhatsApp",
            body=lambda s: s.check_whatsapp,
            rate_limit=10,
        ),
        Method(
            "getContactInfo",
            _POST,
            get_contact_info,
            answers.ContactInfo,
            _SERVICE,
            "What the address book tells of a chat",
            body=lambda s: s.get_contact_info,
            rate_limit=1,
        ),
    )
}
