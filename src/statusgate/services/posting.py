"""Queueing statuses: sendTextStatus, sendVoiceStatus, sendMediaStatus.

The API hands in the validated request fields; they are stored as sent (showMessagesQueue shows them) and
the status gets its message id now, before anything else happens.
"""

from __future__ import annotations

import time
from typing import Any

from statusgate.domain.models import Instance, MediaKind, StatusType
from statusgate.errors import UnsupportedError, ValidationError
from statusgate.ids import new_message_id
from statusgate.media.guard import BlockedUrlError, InvalidUrlError, parse_url
from statusgate.media.kinds import kind_for_file_name
from statusgate.services.context import ServiceContext
from statusgate.store.outbox import NewStatus


def _check_url(ctx: ServiceContext, url: str) -> None:
    try:
        parse_url(url)
    except InvalidUrlError as exc:
        raise ValidationError(f"'urlFile' has an invalid format ({exc.reason})") from None
    if ctx.links.own_file(url) is not None:
        return  # read from the media store, never fetched
    try:
        ctx.guard.check_request_url(url)
    except BlockedUrlError as exc:
        raise ValidationError(f"'urlFile' is not allowed: {exc.message}") from exc


def _check_audience(ctx: ServiceContext, instance: Instance, body: dict[str, Any]) -> None:
    engine = ctx.engine(instance.engine)
    if body.get("participants") and not engine.capabilities.explicit_audience:
        # refuse rather than silently widen who sees the status
        raise UnsupportedError(
            f"the {instance.engine.value} engine cannot restrict a status to 'participants': it always "
            "posts to the status audience set on the phone; send without 'participants' or use another engine"
        )


async def _queue(
    ctx: ServiceContext, instance: Instance, type_: StatusType, body: dict[str, Any], kind: MediaKind | None
) -> str:
    _check_audience(ctx, instance, body)
    if "urlFile" in body:
        _check_url(ctx, body["urlFile"])
    id_message = new_message_id()
    now = time.time()
    await ctx.intake.submit(
        NewStatus(
            instance_id=instance.id_instance,
            id_message=id_message,
            type=type_.value,
            body=body,
            kind=kind.value if kind else None,
            now=now,
            expires_at=now + ctx.settings.queue_retention_seconds,
        )
    )
    ctx.wakeups.status_queued(
        instance.id_instance
    )  # preparation starts now, and a sender if the queue was empty
    return id_message


async def send_text_status(ctx: ServiceContext, instance: Instance, body: dict[str, Any]) -> str:
    return await _queue(ctx, instance, StatusType.TEXT, body, None)


async def send_voice_status(ctx: ServiceContext, instance: Instance, body: dict[str, Any]) -> str:
    return await _queue(ctx, instance, StatusType.VOICE, body, MediaKind.AUDIO)


async def send_media_status(ctx: ServiceContext, instance: Instance, body: dict[str, Any]) -> str:
    """A picture, video or audio status, the kind announced by fileName's extension."""
    kind = kind_for_file_name(body["fileName"])
    if kind is None:  # the schema checks the extension too; this keeps the service safe on its own
        raise ValidationError("'fileName' has an invalid format (unsupported extension)")
    return await _queue(ctx, instance, StatusType.MEDIA, body, kind)
