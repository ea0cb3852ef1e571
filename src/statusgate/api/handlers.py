"""One handler per Green method: each reads its call's body and query, asks the services, and returns the
answer in its method's shape (``api.responses``). The table that routes to them is ``api.methods``."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel

from statusgate.api import requests
from statusgate.api.context import Call
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


def _json_body(call: Call) -> Any:
    return parse_json(call.body)


def _any_of_its_keys(call: Call) -> BaseModel:
    """The validated body of a method whose every field is optional but which needs one of them."""
    data = _json_body(call)
    if isinstance(data, dict) and not data:
        raise ValidationError("'value' must have at least 1 key")
    assert call.model is not None
    return validate(call.model, data)


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
    fields = _any_of_its_keys(call).model_dump(exclude_unset=True)
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
    fields = _any_of_its_keys(call).model_dump()
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
