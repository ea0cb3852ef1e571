"""One request model per Green method, wire names as field names, limits taken from the settings.

Models are built per Settings (``Schemas(settings)``) because every limit is a setting a deployment — or a
test — can change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, create_model

from statusgate.api.validation import invalid_format
from statusgate.domain.instance_settings import (
    DELAY_KEY,
    READ_ONLY_KEYS,
    WEBHOOK_URL_KEY,
    WEBHOOK_URL_TOKEN_KEY,
    Switch,
    is_header_value,
)
from statusgate.domain.models import EngineName
from statusgate.domain.posts import FONTS
from statusgate.media.kinds import (
    AUDIO_EXTENSIONS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    extension_of,
)
from statusgate.settings import Settings

CHAT_ID = re.compile(r"[1-9][0-9]{4,19}@c\.us")
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS | AUDIO_EXTENSIONS


def _no_bom(value: str) -> str:
    if value.startswith("\ufeff"):
        raise invalid_format("UTF-8 text must not start with a byte-order mark")
    return value


def _http_url(value: str) -> str:
    _no_bom(value)
    lowered = value.lower()
    if not (lowered.startswith("http://") or lowered.startswith("https://")) or len(value) < 9:
        raise invalid_format("must be an http:// or https:// link")
    if any(ch.isspace() for ch in value):
        raise invalid_format("must not contain spaces; URL-encode them")
    return value


def _media_file_name(value: str) -> str:
    _no_bom(value)
    if "/" in value or "\\" in value or "\x00" in value:
        raise invalid_format("a file name, not a path")
    if extension_of(value) not in MEDIA_EXTENSIONS:
        raise invalid_format("the extension must be one of " + ", ".join(sorted(MEDIA_EXTENSIONS)))
    return value


VOICE_EXTENSIONS = frozenset({"mp3", "wav", "ogg", "opus", "m4a"})
COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")


def _colour(value: str) -> str:
    if not COLOUR.fullmatch(value):
        raise invalid_format("a colour like #228B22")
    return value


def _font(value: str) -> str:
    if value not in FONTS:
        raise invalid_format("must be one of [" + ", ".join(FONTS) + "]")
    return value


def _voice_file_name(value: str) -> str:
    _no_bom(value)
    if "/" in value or "\\" in value or "\x00" in value:
        raise invalid_format("a file name, not a path")
    if extension_of(value) not in VOICE_EXTENSIONS:
        raise invalid_format("the extension must be one of " + ", ".join(sorted(VOICE_EXTENSIONS)))
    return value


def _chat_id(value: str) -> str:
    if not CHAT_ID.fullmatch(value):
        raise invalid_format("must look like 79001234567@c.us")
    return value


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


def _file_name_pattern(extensions: frozenset[str]) -> str:
    """What the validator takes, for the OpenAPI document (JSON Schema patterns have no ignore-case flag)."""
    return r"^[^/\\]*\.(" + "|".join(_any_case(e) for e in sorted(extensions)) + ")$"


# The validators above say what is wrong in Green's words; these tell the OpenAPI document the same rules
CHAT_ID_SCHEMA = Field(
    json_schema_extra={"pattern": "^" + CHAT_ID.pattern + "$", "examples": ["79001234567@c.us"]}
)
URL_SCHEMA = Field(json_schema_extra={"pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://\S{2,}$"})
COLOUR_SCHEMA = Field(json_schema_extra={"pattern": "^" + COLOUR.pattern + "$", "examples": ["#228B22"]})
FONT_SCHEMA = Field(json_schema_extra={"enum": list(FONTS)})
YES_NO_SCHEMA = Field(json_schema_extra={"enum": ["yes", "no"]})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _AtLeastOneKey(_Strict):
    # every field is optional, but an empty object is refused ("'value' must have at least 1 key")
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})


#: a createInstance body that would set nothing (see ``Schemas.create_instance``)
_NOTHING_BUT_ENGINE = {
    "propertyNames": {"enum": ["engine", "name"]},
    "properties": {"name": {"type": "null"}},
}


class DeleteInstanceAccount(BaseModel):
    # keys beside idInstance are let through, as Green's partner API does
    model_config = ConfigDict(strict=True, frozen=True)

    idInstance: int = Field(ge=0)


class Schemas:
    def __init__(self, settings: Settings) -> None:
        s = settings
        participant = Annotated[str, AfterValidator(_chat_id), CHAT_ID_SCHEMA]
        participants = Annotated[list[participant], Field(max_length=s.max_participants)]

        url_file = Annotated[
            str, Field(min_length=1, max_length=s.max_url_chars), AfterValidator(_http_url), URL_SCHEMA
        ]

        def file_name(check: Callable[[str], str], extensions: frozenset[str]) -> Any:
            return Annotated[
                str,
                Field(min_length=1, max_length=s.max_file_name_chars),
                AfterValidator(check),
                Field(json_schema_extra={"pattern": _file_name_pattern(extensions)}),
            ]

        colour = Annotated[str, AfterValidator(_colour), COLOUR_SCHEMA]
        self.send_media_status: type[BaseModel] = create_model(
            "SendMediaStatus",
            __base__=_Strict,
            urlFile=(url_file, ...),
            fileName=(file_name(_media_file_name, MEDIA_EXTENSIONS), ...),
            caption=(
                Annotated[str, Field(max_length=s.max_caption_chars), AfterValidator(_no_bom)] | None,
                None,
            ),
            participants=(participants | None, None),
        )
        self.send_text_status: type[BaseModel] = create_model(
            "SendTextStatus",
            __base__=_Strict,
            message=(
                Annotated[str, Field(min_length=1, max_length=s.max_text_chars), AfterValidator(_no_bom)],
                ...,
            ),
            backgroundColor=(colour | None, None),
            font=(Annotated[str, AfterValidator(_font), FONT_SCHEMA] | None, None),
            participants=(participants | None, None),
        )
        self.send_voice_status: type[BaseModel] = create_model(
            "SendVoiceStatus",
            __base__=_Strict,
            urlFile=(url_file, ...),
            fileName=(file_name(_voice_file_name, VOICE_EXTENSIONS), ...),
            backgroundColor=(colour | None, None),
            participants=(participants | None, None),
        )
        self.delete_status: type[BaseModel] = create_model(
            "DeleteStatus",
            __base__=_Strict,
            idMessage=(Annotated[str, Field(min_length=1, max_length=128)], ...),
        )

        # Every writable key may be left out, but none may be null: a setting always has a value (a null
        # stored once stopped the instance's sender for good). The None defaults are never validated and
        # never stored: the handler keeps only the keys that were sent.
        settings_fields: dict[str, Any] = {}
        settings_fields[WEBHOOK_URL_KEY] = (Annotated[str, Field(max_length=s.max_url_chars)], None)
        settings_fields[WEBHOOK_URL_TOKEN_KEY] = (
            Annotated[str, Field(max_length=s.max_url_chars), AfterValidator(header_value)],
            None,
        )
        settings_fields[DELAY_KEY] = (Annotated[int, Field(ge=s.delay_min_ms, le=s.delay_max_ms)], None)
        for switch in Switch:
            settings_fields[switch.value] = (Annotated[str, AfterValidator(_yes_no), YES_NO_SCHEMA], None)
        for key in READ_ONLY_KEYS:
            settings_fields[key] = (Any, None)
        self.set_settings: type[BaseModel] = create_model(
            "SetSettings", __base__=_AtLeastOneKey, **settings_fields
        )
        # the Partner API's createInstance takes setSettings' keys and two of its own; what it refuses for
        # want of a key is an object of nothing but engine and a null name, a rule JSON Schema can say only
        # as a ``not``
        self.create_instance: type[BaseModel] = create_model(
            "CreateInstance",
            __base__=self.set_settings,
            __cls_kwargs__={"json_schema_extra": {"not": _NOTHING_BUT_ENGINE}},
            name=(
                Annotated[
                    str | None, Field(description="the instance's name, one no other has (null: none)")
                ],
                None,
            ),
            engine=(
                Annotated[
                    EngineName,
                    Strict(False),
                    Field(description="the engine to run it on; one this server does not have is refused"),
                ],
                EngineName(s.partner_default_engine),
            ),
        )
        self.delete_instance_account = DeleteInstanceAccount

        self.check_whatsapp: type[BaseModel] = create_model(
            "CheckWhatsapp",
            __base__=_AtLeastOneKey,
            phoneNumber=(Annotated[int, Field(ge=10_000, le=9_999_999_999_999_999)] | None, None),
            chatId=(Annotated[str, AfterValidator(_chat_id), CHAT_ID_SCHEMA] | None, None),
            force=(bool | None, None),
        )
        self.get_contact_info: type[BaseModel] = create_model(
            "GetContactInfo",
            __base__=_Strict,
            chatId=(Annotated[str, AfterValidator(_chat_id), CHAT_ID_SCHEMA], ...),
        )
        # international digits without + or 00, as Green's own example (an integer)
        self.get_authorization_code: type[BaseModel] = create_model(
            "GetAuthorizationCode",
            __base__=_Strict,
            phoneNumber=(Annotated[int, Field(ge=10_000, le=9_999_999_999_999_999)], ...),
        )


def header_value(value: str) -> str:
    if not is_header_value(value):
        raise invalid_format(
            "printable ASCII only, no spaces at either end: it is sent in the Authorization header of "
            "every webhook"
        )
    return value


def _yes_no(value: str) -> str:
    if value not in ("yes", "no"):
        raise invalid_format("must be one of [yes, no]")
    return value
