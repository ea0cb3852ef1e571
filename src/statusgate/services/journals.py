"""getOutgoingStatuses and getIncomingStatuses: the journals, in Green's item shapes."""

from __future__ import annotations

import time
from pathlib import PurePosixPath
from typing import Any

from statusgate.domain.models import Instance, MediaKind, PreparedMedia
from statusgate.domain.posts import (
    DEFAULT_FONT,
    DEFAULT_TEXT_BACKGROUND,
    DEFAULT_VOICE_BACKGROUND,
    MediaPost,
    TextPost,
    VoicePost,
)
from statusgate.domain.states import PENDING_STATES, UNSENT_STATES, StatusState
from statusgate.services.context import ServiceContext
from statusgate.store import incoming, recipients
from statusgate.store.outbox import StatusRow

TYPE_MESSAGE = {
    MediaKind.IMAGE: "imageMessage",
    MediaKind.VIDEO: "videoMessage",
    MediaKind.AUDIO: "audioMessage",
}


def _type_message(row: StatusRow) -> str:
    if isinstance(row.post, TextPost):
        return "extendedTextMessage"
    return TYPE_MESSAGE[MediaKind(row.kind)] if row.kind else "documentMessage"


def status_message(state: StatusState, best_receipt: str | None) -> str:
    """getOutgoingStatuses' statusMessage: failed, pending, or the furthest receipt any recipient reached
    (the console's status page says the same word)."""
    if state in UNSENT_STATES:
        return "failed"
    if state in PENDING_STATES:
        return "pending"
    return best_receipt or "sent"


def media_fields(ctx: ServiceContext, media: PreparedMedia, requested_name: str) -> dict[str, Any]:
    """downloadUrl, fileName, mimeType and jpegThumbnail of a prepared file, served by this server."""
    stem = PurePosixPath(requested_name).stem or media.media_id[:16]
    file_name = f"{stem}.{media.extension}"
    fields: dict[str, Any] = {
        "downloadUrl": ctx.links.prepared_url(media.media_id, file_name),
        "fileName": file_name,
        "mimeType": media.mime_type,
    }
    if media.jpeg_thumbnail:
        fields["jpegThumbnail"] = media.jpeg_thumbnail
    return fields


async def outgoing(ctx: ServiceContext, instance: Instance, minutes: int) -> list[dict[str, Any]]:
    since = time.time() - minutes * 60
    entries = await ctx.db.read(recipients.journal, instance.id_instance, since)
    own = await ctx.engine(instance.engine).wid(instance.id_instance)
    items = []
    for row, best in entries:
        item: dict[str, Any] = {
            "type": "outgoing",
            "idMessage": row.id_message,
            "timestamp": int(row.last_action_at),
            "typeMessage": _type_message(row),
            "chatId": own,
            "statusMessage": status_message(row.state, best),
            "sendByApi": True,
        }
        if item["statusMessage"] == "failed":
            item["description"] = row.description or row.state.value
        elif row.state is StatusState.SENT and row.description:
            # a send that reached part of its audience says so (rejected chunks, dropped recipients)
            item["description"] = row.description
        post = row.post
        participants = list(post.participants or [])
        item["skippedParticipants"] = list(row.skipped_participants or [])
        if isinstance(post, TextPost):
            item["textMessage"] = post.message
            item["extendedTextMessage"] = {
                "text": post.message,
                "backgroundColor": post.background_color or DEFAULT_TEXT_BACKGROUND,
                "font": post.font or DEFAULT_FONT,
                "participants": participants,
            }
        else:
            item["participants"] = participants
            if isinstance(post, MediaPost) and post.caption is not None:
                item["caption"] = post.caption
            media = await ctx.prepared.load(row.media_id) if row.media_id else None
            if media is not None:
                item.update(media_fields(ctx, media, post.file_name))
            else:
                item["fileName"] = post.file_name
            if isinstance(post, VoicePost):
                item["backgroundColor"] = post.background_color or DEFAULT_VOICE_BACKGROUND
        items.append(item)
    return items


async def incoming_statuses(ctx: ServiceContext, instance: Instance, minutes: int) -> list[dict[str, Any]]:
    since = time.time() - minutes * 60
    rows = await ctx.db.read(incoming.since, instance.id_instance, since)
    items = []
    for row in rows:
        item: dict[str, Any] = {
            "type": "incoming",
            "idMessage": row.id_message,
            "timestamp": int(row.received_at),
            "typeMessage": row.type_message,
            "chatId": row.sender,
            "senderId": row.sender,
            "senderName": row.sender_name,
            "senderContactName": row.sender_contact_name,
        }
        if row.type_message == "extendedTextMessage":
            item["textMessage"] = row.payload.get("text", "")
            item["extendedTextMessage"] = {
                "text": row.payload.get("text", ""),
                "backgroundColor": row.payload.get("backgroundColor", DEFAULT_TEXT_BACKGROUND),
                "font": row.payload.get("font", DEFAULT_FONT),
            }
        else:
            media = await ctx.prepared.load(row.media_id) if row.media_id else None
            if media is not None:
                item.update(media_fields(ctx, media, row.payload.get("fileName", "")))
            if row.payload.get("caption"):
                item["caption"] = row.payload["caption"]
        items.append(item)
    return items
