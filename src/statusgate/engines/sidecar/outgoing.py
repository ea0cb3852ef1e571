"""A status as the engine-neutral :class:`~statusgate.engines.sidecar.frames.SendStatus` frame: the post's
fields and the prepared file, which the child turns into its library's message."""

from __future__ import annotations

import base64

from statusgate.domain.posts import MediaPost, OutgoingStatus, TextPost, VoicePost
from statusgate.engines.sidecar.frames import SendStatus
from statusgate.errors import EnginePermanentError


def send_request(status: OutgoingStatus) -> SendStatus:
    """What a child needs to build its library's message: the post's fields and the prepared file."""
    post = status.post
    if isinstance(post, TextPost):
        return SendStatus(
            "text",
            status.message_id,
            text=post.message,
            background=post.background_color or "",
            font=post.font or "",
        )
    media = status.media
    if media is None:
        raise EnginePermanentError("the status' prepared media is missing")
    voice = isinstance(post, VoicePost)
    return SendStatus(
        "audio" if voice else media.kind.value,
        status.message_id,
        caption=(post.caption or "") if isinstance(post, MediaPost) else "",
        background=(post.background_color or "") if isinstance(post, VoicePost) else "",
        media_path=str(media.path),
        mime_type=media.mime_type,
        jpeg_thumbnail=media.jpeg_thumbnail or "",
        seconds=round(media.duration_seconds or 0),
        waveform=base64.b64encode(media.waveform).decode("ascii") if media.waveform else "",
        width=media.width or 0,
        height=media.height or 0,
        voice=voice,
    )
