"""Queueing statuses: sendTextStatus, sendVoiceStatus, sendMediaStatus.

The API hands in a typed post; it is stored as sent (showMessagesQueue shows its fields) and the status gets
its message id now, before anything else happens.
"""

from __future__ import annotations

import time

from statusgate.domain.models import Instance
from statusgate.domain.posts import StatusPost, source
from statusgate.errors import UnsupportedError, ValidationError
from statusgate.ids import new_message_id
from statusgate.media.guard import BlockedUrlError, InvalidUrlError, url_target
from statusgate.services.context import ServiceContext
from statusgate.store.intake import NewStatus


def _check_url(ctx: ServiceContext, url: str) -> None:
    try:
        target = url_target(url)
    except InvalidUrlError as exc:
        raise ValidationError(f"'urlFile' has an invalid format ({exc.reason})") from None
    if ctx.links.own_file(url) is not None:
        return  # read from the media store, never fetched
    try:
        ctx.guard.check_target(target)
    except BlockedUrlError as exc:
        raise ValidationError(f"'urlFile' is not allowed: {exc.message}") from exc


def _check_audience(ctx: ServiceContext, instance: Instance, post: StatusPost) -> None:
    engine = ctx.engine(instance.engine)
    if post.participants and not engine.capabilities.explicit_audience:
        # refuse rather than silently widen who sees the status
        raise UnsupportedError(
            f"the {instance.engine.value} engine cannot restrict a status to 'participants': it always "
            "posts to the status audience set on the phone; send without 'participants' or use another engine"
        )


async def queue_status(ctx: ServiceContext, instance: Instance, post: StatusPost) -> str:
    """sendTextStatus, sendVoiceStatus and sendMediaStatus: the status is committed to the instance's
    queue before its id is answered; preparation starts at once, the send when its turn comes."""
    _check_audience(ctx, instance, post)
    file = source(post)
    if file is not None:
        _check_url(ctx, file[0])
    id_message = new_message_id()
    now = time.time()
    await ctx.intake.submit(
        NewStatus(
            instance_id=instance.id_instance,
            id_message=id_message,
            post=post,
            now=now,
            expires_at=now + ctx.settings.queue_retention_seconds,
        )
    )
    ctx.wakeups.status_queued(instance.id_instance)
    return id_message
