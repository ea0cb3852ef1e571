"""What was posted and what came in: an outgoing status (its preparation, viewers and views over time),
the outgoing journal and contacts' incoming statuses."""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statusgate.api.console.chart import views_chart
from statusgate.api.console.web import PREFIX, Console, NotFound, View, safe_base64, safe_colour
from statusgate.domain.models import Instance
from statusgate.domain.posts import (
    DEFAULT_FONT,
    DEFAULT_TEXT_BACKGROUND,
    DEFAULT_VOICE_BACKGROUND,
    MediaPost,
    TextPost,
    VoicePost,
)
from statusgate.errors import NotAuthorizedError
from statusgate.services import account, journals, status_reports
from statusgate.services.status_reports import StatusReport

_MESSAGE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
#: the journals' window, as getOutgoingStatuses' and getIncomingStatuses' default (24 hours)
JOURNAL_MINUTES = 1440


def _preview(report: StatusReport) -> dict[str, Any]:
    """What the 9:16 phone frame shows: the picture's thumbnail, or the text (or waveform) on its colour."""
    post = report.row.post
    if isinstance(post, TextPost):
        return {
            "kind": "text",
            "text": post.message,
            "colour": safe_colour(post.background_color, DEFAULT_TEXT_BACKGROUND),
            "font": post.font or DEFAULT_FONT,
        }
    thumbnail = safe_base64(report.media.jpeg_thumbnail) if report.media else None
    if isinstance(post, VoicePost):
        return {"kind": "voice", "colour": safe_colour(post.background_color, DEFAULT_VOICE_BACKGROUND)}
    assert isinstance(post, MediaPost)
    return {"kind": "media", "thumbnail": thumbnail, "caption": post.caption or ""}


def _preparation(report: StatusReport) -> dict[str, Any] | None:
    """The media pipeline's work: before → after (bytes, seconds), and the pixels it made."""
    media = report.media
    if media is None:
        return None
    before = media.source_duration_seconds
    after = media.duration_seconds
    return {
        "kind": media.kind.value,
        "mime_type": media.mime_type,
        "bytes_before": media.source_size,
        "bytes_after": media.size,
        "seconds_before": before,
        "seconds_after": after,
        "cut": before is not None and after is not None and before - after > 0.05,
        "width": media.width,
        "height": media.height,
    }


class StatusPages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.ctx = console.ctx

    async def _report(self, view: View) -> tuple[Instance, StatusReport]:
        instance = await self.console.instance(view, view.request.path_params["id"])
        id_message = view.request.path_params["id_message"]
        if not _MESSAGE_ID.fullmatch(id_message):
            raise NotFound()
        found = await status_reports.report(self.ctx, instance, id_message)
        if found is None:
            raise NotFound()
        return instance, found

    async def _names(self, instance: Instance) -> dict[str, str]:
        """Each contact's name by chat id, to name the viewers (none while the phone is not linked)."""
        try:
            found = await account.contacts(self.ctx, instance, False, None)
        except NotAuthorizedError:
            return {}
        return {c.id: c.contact_name or c.name for c in found if c.contact_name or c.name}

    async def _values(self, instance: Instance, report: StatusReport) -> dict[str, Any]:
        return {
            "instance": instance,
            "report": report,
            "names": await self._names(instance) if report.viewers else {},
            "preview": _preview(report),
            "preparation": _preparation(report),
            "chart": views_chart(report.views, report.recipients, report.elapsed),
        }

    async def status(self, view: View) -> Response:
        instance, report = await self._report(view)
        return self.console.render(view, "status.html", **await self._values(instance, report))

    async def status_live(self, view: View) -> Response:
        instance, report = await self._report(view)
        return self.console.render(view, "_status_live.html", **await self._values(instance, report))

    async def outgoing(self, view: View) -> Response:
        instance = await self.console.instance(view, view.request.path_params["id"])
        items = await journals.outgoing(self.ctx, instance, JOURNAL_MINUTES)
        for item in items:
            item["thumbnail"] = safe_base64(item.get("jpegThumbnail"))
        items.reverse()
        return self.console.render(view, "outgoing.html", instance=instance, items=items)

    async def incoming(self, view: View) -> Response:
        instance = await self.console.instance(view, view.request.path_params["id"])
        items = await journals.incoming_statuses(self.ctx, instance, JOURNAL_MINUTES)
        for item in items:
            item["thumbnail"] = safe_base64(item.get("jpegThumbnail"))
            text = item.get("extendedTextMessage")
            item["colour"] = safe_colour(
                text.get("backgroundColor") if text else None, DEFAULT_TEXT_BACKGROUND
            )
        items.reverse()
        return self.console.render(view, "incoming.html", instance=instance, items=items)

    def routes(self) -> list[BaseRoute]:
        page = self.console.page
        base = f"{PREFIX}/instances/{{id}}"
        return [
            Route(f"{base}/statuses/{{id_message}}", page(self.status), methods=["GET"]),
            Route(f"{base}/statuses/{{id_message}}/live", page(self.status_live), methods=["GET"]),
            Route(f"{base}/outgoing", page(self.outgoing), methods=["GET"]),
            Route(f"{base}/incoming", page(self.incoming), methods=["GET"]),
        ]
