"""Notifications as Green delivers them: rendering the journal's facts, and the HTTP-API polling methods."""

from __future__ import annotations

import time
from typing import Any

from statusgate.domain.models import Instance
from statusgate.domain.posts import DEFAULT_FONT, DEFAULT_TEXT_BACKGROUND
from statusgate.errors import BadRequestError
from statusgate.services.context import ServiceContext
from statusgate.services.journals import media_fields
from statusgate.store import notifications
from statusgate.store.notifications import NotificationRow

WEBHOOK_SET = (
    'notifications of this instance go to its webhookUrl; set webhookUrl to "" with setSettings to '
    "receive them with receiveNotification"
)


async def render(
    ctx: ServiceContext, instance: Instance, row: NotificationRow, *, wid: str | None = None
) -> dict[str, Any]:
    """Green's envelope around the journaled facts (``wid`` when the caller already knows it)."""
    if wid is None:
        wid = await ctx.engine(instance.engine).wid(instance.id_instance)
    body: dict[str, Any] = {
        "typeWebhook": row.type,
        "instanceData": {"idInstance": instance.id_instance, "wid": wid, "typeInstance": "whatsapp"},
        "timestamp": int(row.created_at),
    }
    facts = dict(row.payload)
    if row.type == "outgoingMessageStatus":
        body |= {"chatId": "status@broadcast", "idMessage": facts["idMessage"], "status": facts["status"]}
        if "description" in facts:
            body["description"] = facts["description"]
        body["sendByApi"] = True
    elif row.type == "outgoingStatusReceipt":
        body |= {
            "idMessage": facts["idMessage"],
            "participant": facts["participant"],
            "status": facts["status"],
        }
    elif row.type == "incomingStatusReceived":
        body["idMessage"] = facts["idMessage"]
        body["senderData"] = {
            "chatId": facts["sender"],
            "sender": facts["sender"],
            "senderName": facts.get("senderName", ""),
            "senderContactName": facts.get("senderContactName", ""),
        }
        body["messageData"] = await _message_data(ctx, facts)
    elif row.type == "stateInstanceChanged":
        body["stateInstance"] = facts["stateInstance"]
    return body


async def _message_data(ctx: ServiceContext, facts: dict[str, Any]) -> dict[str, Any]:
    type_message = facts.get("typeMessage", "extendedTextMessage")
    if type_message == "extendedTextMessage":
        return {
            "typeMessage": type_message,
            "extendedTextMessageData": {
                "text": facts.get("text", ""),
                "backgroundColor": facts.get("backgroundColor", DEFAULT_TEXT_BACKGROUND),
                "font": facts.get("font", DEFAULT_FONT),
            },
        }
    file_data: dict[str, Any] = {"caption": facts.get("caption", "")}
    media = await ctx.prepared.load(facts["media_id"]) if facts.get("media_id") else None
    if media is not None:
        file_data |= media_fields(ctx, media, facts.get("fileName", ""))
    file_data.setdefault("jpegThumbnail", "")
    return {"typeMessage": type_message, "fileMessageData": file_data}


def _check_polling(instance: Instance) -> None:
    if instance.settings.webhook_url:
        raise BadRequestError(WEBHOOK_SET)


async def receive(ctx: ServiceContext, instance: Instance, timeout: float) -> dict[str, Any] | None:
    """receiveNotification: the oldest notification, waiting up to ``timeout`` s for one to arrive.

    A notification journaled in this process wakes the wait at once; one journaled by another process (the
    worker of an api/worker pair) is found at the next look, every poll interval. When the server stops,
    waiting requests are answered with null."""
    _check_polling(instance)
    deadline = time.monotonic() + timeout
    poll = ctx.settings.poll_interval_seconds
    while True:
        seen = ctx.hub.version(instance.id_instance)
        row = await ctx.db.read(notifications.oldest, instance.id_instance)
        if row is not None:
            return {"receiptId": row.receipt_id, "body": await render(ctx, instance, row)}
        remaining = deadline - time.monotonic()
        if remaining <= 0 or ctx.stopping.is_set():
            return None
        await ctx.hub.wait(instance.id_instance, seen, min(remaining, poll), also=ctx.stopping)


async def delete(ctx: ServiceContext, instance: Instance, receipt_id: int) -> bool:
    _check_polling(instance)
    return await ctx.db.write(notifications.remove, instance.id_instance, receipt_id)


async def count(ctx: ServiceContext, instance: Instance) -> int:
    return await ctx.db.read(notifications.count, instance.id_instance)


async def clear(ctx: ServiceContext, instance: Instance) -> int:
    return await ctx.db.write(notifications.clear, instance.id_instance)
