"""Request bodies → pydantic models, with pydantic's errors rewritten in Green's words.

Green answers ``Validation failed. Details: <reason>`` for the first failing field, in the order of the
method's field table; the models declare their fields in that order and pydantic reports them in it.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import pydantic
from pydantic_core import ErrorDetails, PydanticCustomError

from statusgate.errors import ValidationError
from statusgate.ids import INT64_MAX

Model = TypeVar("Model", bound=pydantic.BaseModel)

_WIRE_INT = re.compile(r"-?[0-9]+")

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "bool_type": "a boolean",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "float_type": "a number",
}


def _field(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "value"


def reason(error: ErrorDetails) -> str:
    field = _field(tuple(error["loc"]))
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "missing":
        return f"'{field}' is required"
    if kind == "extra_forbidden":
        return f"'{field}' is not allowed"
    if kind in _TYPE_NAMES:
        return f"'{field}' must be {_TYPE_NAMES[kind]}"
    if kind == "string_too_short":
        return f"'{field}' is not allowed to be empty"
    if kind == "string_too_long":
        return f"'{field}' length must be less than or equal to {ctx['max_length']} characters long"
    if kind == "too_short":
        return f"'{field}' must contain at least {ctx['min_length']} items"
    if kind == "too_long":
        return f"'{field}' must contain less than or equal to {ctx['max_length']} items"
    if kind == "greater_than_equal":
        return f"'{field}' must be greater than or equal to {ctx['ge']}"
    if kind == "less_than_equal":
        return f"'{field}' must be less than or equal to {ctx['le']}"
    if kind == "literal_error":
        return f"'{field}' must be one of [{ctx['expected'].replace(chr(39), '')}]"
    if kind == "invalid_format":
        return f"'{field}' has an invalid format ({ctx['hint']})"
    return f"'{field}' is invalid"


def invalid_format(hint: str) -> PydanticCustomError:
    """Raise this from a field validator: rendered ``'<field>' has an invalid format (<hint>)``."""
    return PydanticCustomError("invalid_format", "invalid format: {hint}", {"hint": hint})


def parse_json(raw: bytes) -> Any:
    """An empty body counts as ``{}``, so the answer names the first required field."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except RecursionError:
        # the C parser recurses once per level and gives up near Python's recursion limit
        raise ValidationError("body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        # ValueError also covers integers longer than Python converts (int_max_str_digits)
        raise ValidationError("body is not valid JSON") from None


def wire_int(raw: str | None, field: str) -> int | None:
    """An integer from a query parameter, path segment or header; None when absent or empty.

    ASCII digits only, with an optional minus: Python's ``int()`` also reads Arabic-Indic and fullwidth
    digits, and ``str.isdigit()`` passes ``²``, which ``int()`` then refuses. Values beyond the 64-bit range
    are capped at its end (every limit is smaller; the database stores no larger number).
    """
    if raw is None or raw == "":
        return None
    if not _WIRE_INT.fullmatch(raw):
        raise ValidationError(f"'{field}' must be an integer")
    negative = raw.startswith("-")
    digits = raw.lstrip("-").lstrip("0") or "0"
    value = INT64_MAX if len(digits) > 19 else min(int(digits), INT64_MAX)
    return -value if negative else value


def validate(model: type[Model], data: Any) -> Model:
    if not isinstance(data, dict):
        raise ValidationError("'value' must be an object")
    try:
        return model.model_validate(data, strict=True)
    except pydantic.ValidationError as exc:
        raise ValidationError(reason(exc.errors()[0])) from None
