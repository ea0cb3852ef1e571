"""Posting a status from the console: one form for text, a picture or video, or a voice status, from a
file or a link, to chosen participants or the default audience.

The form's values become the very request fields of sendTextStatus, sendMediaStatus or sendVoiceStatus
and are validated by the same models, so a refusal names the same field as the API would. A file goes
through the upload service first (as uploadFile), so the browser never needs the instance's token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statusgate.api import requests
from statusgate.api.bodies import declared_length
from statusgate.api.console.web import PREFIX, Console, View
from statusgate.api.validation import validate
from statusgate.domain.models import Contact, Instance
from statusgate.domain.posts import DEFAULT_FONT, DEFAULT_TEXT_BACKGROUND, FONTS, StatusPost
from statusgate.domain.states import InstanceState
from statusgate.errors import PayloadTooLargeError, ValidationError
from statusgate.services import account, media, posting

_READ_BYTES = 256 * 1024
#: fields of the form other than the participants' checkboxes
_OTHER_FIELDS = 16


class _FormFile:
    """A file from the console's form, as the upload service reads any incoming file."""

    def __init__(self, upload: UploadFile) -> None:
        self._upload = upload
        self.file_name: str | None = upload.filename or None
        self.mime_type: str | None = upload.content_type or None

    async def _read(self) -> AsyncIterator[bytes]:
        while chunk := await self._upload.read(_READ_BYTES):
            yield chunk

    def chunks(self) -> AsyncIterator[bytes]:
        return self._read()


class PostingPage:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.ctx = console.ctx

    async def form(self, view: View) -> Response:
        instance = await self.console.instance(view, view.request.path_params["id"])
        return await self._show(view, instance, _values(FormData()), 200, None)

    async def _show(
        self, view: View, instance: Instance, values: dict[str, Any], status: int, error: str | None
    ) -> Response:
        can = account.abilities(self.ctx, instance)
        state = await account.state(self.ctx, instance)
        contacts: list[Contact] = []
        if can.explicit_audience and state is InstanceState.AUTHORIZED:
            contacts = [
                c for c in await account.contacts(self.ctx, instance, False, None) if c.type != "group"
            ]
        return self.console.render(
            view,
            "post.html",
            status,
            instance=instance,
            audience=can.explicit_audience,
            authorized=state is InstanceState.AUTHORIZED,
            contacts=contacts,
            chosen=set(values.get("participants") or ()),
            values=values,
            fonts=FONTS,
            default_font=DEFAULT_FONT,
            default_colour=DEFAULT_TEXT_BACKGROUND,
            error=error,
        )

    async def post(self, view: View) -> Response:
        instance = await self.console.instance(view, view.request.path_params["id"])
        settings = self.ctx.settings
        if declared_length(view.request) > settings.max_upload_bytes + settings.console_form_max_bytes:
            raise PayloadTooLargeError()
        try:
            form = await view.request.form(
                max_files=1,
                max_fields=settings.max_participants + _OTHER_FIELDS,
                max_part_size=settings.console_form_max_bytes,
            )
        except HTTPException as exc:
            raise ValidationError(f"'File' could not be read: {exc.detail}") from None
        try:
            view.require_csrf(_text(form, "csrf"))
            values = _values(form)
            try:
                post = await self._post(instance, form, values)
            except ValidationError as exc:
                return await self._show(view, instance, values, 400, exc.message)
            id_message = await posting.queue_status(self.ctx, instance, post)
        finally:
            await form.close()
        return self.console.redirect(view, f"{PREFIX}/instances/{instance.id_instance}/statuses/{id_message}")

    async def _post(self, instance: Instance, form: FormData, values: dict[str, Any]) -> StatusPost:
        """The post the form asks for, validated as its API request would be; a file is uploaded last,
        once everything else has passed."""
        schemas = self.console.schemas
        upload = form.get("file")
        has_file = isinstance(upload, UploadFile) and bool(upload.filename)
        link = values["link"]
        voice = values["voice"]
        participants = values["participants"] or None
        common: dict[str, Any] = {} if participants is None else {"participants": participants}
        if not has_file and not link:
            if not values["text"]:
                raise ValidationError("'Text' is required for a text status; or choose a File or give a Link")
            fields = {"message": values["text"], "backgroundColor": values["colour"], **common}
            if values["font"]:
                fields["font"] = values["font"]
            return requests.text_post(_valid(schemas.send_text_status, fields))
        if has_file and link:
            raise ValidationError("'Link' and 'File' are two ways to give the file: use one")
        if values["text"]:
            raise ValidationError("'Text' is for a text status: give a Caption with a file")
        if voice:
            fields = {"backgroundColor": values["colour"], **common}
        else:
            fields = {**common}
            if values["caption"]:
                fields["caption"] = values["caption"]
        model = schemas.send_voice_status if voice else schemas.send_media_status
        if link:
            fields |= {"urlFile": link, "fileName": _name_from_link(link)}
            valid = _valid(model, fields)
        else:
            assert isinstance(upload, UploadFile)
            fields["fileName"] = upload.filename
            # everything checked before the file is stored; the placeholder link is replaced by the
            # upload's own
            _valid(model, fields | {"urlFile": self.ctx.settings.effective_public_url + "/media/"})
            url = await media.upload(self.ctx, instance.id_instance, _FormFile(upload))
            valid = _valid(model, fields | {"urlFile": url})
        return requests.voice_post(valid) if voice else requests.media_post(valid)

    def routes(self) -> list[BaseRoute]:
        base = f"{PREFIX}/instances/{{id}}/post"
        return [
            Route(base, self.console.page(self.form), methods=["GET"]),
            Route(base, self.console.page(self.post, multipart=True), methods=["POST"]),
        ]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _values(form: FormData) -> dict[str, Any]:
    """What the form sent, as strings (what the page shows again when something is refused)."""
    caption = form.get("caption")
    text = form.get("text")
    return {
        "text": text if isinstance(text, str) else "",
        "caption": caption if isinstance(caption, str) else "",
        "link": _text(form, "link"),
        "voice": _text(form, "voice") == "yes",
        "colour": _text(form, "colour").upper() or DEFAULT_TEXT_BACKGROUND,
        "font": _text(form, "font"),
        "participants": [p for p in form.getlist("participant") if isinstance(p, str)],
    }


def _valid(model: Any, fields: dict[str, Any]) -> dict[str, Any]:
    dumped: dict[str, Any] = validate(model, fields).model_dump(exclude_unset=True)
    return dumped


def _name_from_link(link: str) -> str:
    """The file name a link ends with, as Green's users give fileName (the query and fragment left out)."""
    path = link.split("#", 1)[0].split("?", 1)[0]
    return path.rstrip("/").rsplit("/", 1)[-1] or "file"
