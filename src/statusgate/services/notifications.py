"""Notifications as Green delivers them: the journal's facts rendered to Green's bodies, and the HTTP-API
polling methods.

:func:`render` is the one place a notification body is made, for receiveNotification and webhooks alike.
"""

from __future__ import annotations

import time
from typing import Any

from statusgate.domain.models import Instance
from statusgate.domain.notifications import (
    IncomingFile,
    IncomingStatusReceived,
    IncomingText,
    InstanceStateChanged,
    OutgoingStatusChanged,
    StatusReceiptChanged,
)
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
    """Green's body of a journaled notification (``wid`` when the caller already knows it)."""
    if wid is None:
        wid = await ctx.engine(instance.engine).wid(instance.id_instance)
    fact = row.fact
    body: dict[str, Any] = {
        "typeWebhook": fact.type.value,
        "instanceData": {"idInstance": instance.id_instance, "wid": wid, "typeInstance": "whatsapp"},
        "timestamp": int(row.created_at),
    }
    match fact:
        case OutgoingStatusChanged():
            body |= {"chatId": "status@broadcast", "idMessage": fact.id_message, "status": fact.outcome.value}
            if fact.description is not None:
                body["description"] = fact.description
            body["sendByApi"] = True
        case StatusReceiptChanged():
            body |= {
                "idMessage": fact.id_message,
                "participant": fact.participant,
                "status": fact.status.value,
            }
        case IncomingStatusReceived():
            body["idMessage"] = fact.id_message
            body["senderData"] = {
                "chatId": fact.sender,
                "sender": fact.sender,
                "senderName": fact.sender_name,
                "senderContactName": fact.sender_contact_name,
            }
            body["messageData"] = await _message_data(ctx, fact.content)
        case InstanceStateChanged():
            body["stateInstance"] = fact.state.value
    return body


async def _message_data(ctx: ServiceContext, content: IncomingText | IncomingFile) -> dict[str, Any]:
    if isinstance(content, IncomingText):
        return {
            "typeMessage": content.type_message,
            "extendedTextMessageData": {
                "text": content.text,
                "backgroundColor": content.background_color,
                "font": content.font,
            },
        }
    file_data: dict[str, Any] = {"caption": content.caption}
    media = await ctx.prepared.load(content.media_id) if content.media_id else None
    if media is not None:
        file_data |= media_fields(ctx, media, content.file_name)
    file_data.setdefault("jpegThumbnail", "")
    return {"typeMessage": content.type_message, "fileMessageData": file_data}


def _check_polling(instance: Instance) -> None:
    if instance.settings.webhook_url:
        raise BadRequestError(WEBHOOK_SET)


async def receive(ctx: ServiceContext, instance: Instance, timeout: float) -> dict[str, Any] | None:
    """receiveNotification: the oldest notification, waiting up to ``timeout`` s for one to arrive.

    A notification journaled in this process wakes the wait at once; one journaled by another process (a
    worker) wakes it at once on PostgreSQL (``store.signals``) and is found at the next look, every poll
    interval, on SQLite. When the server stops, waiting requests are answered with null."""
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
