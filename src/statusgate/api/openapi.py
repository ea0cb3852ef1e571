"""The OpenAPI 3.1 document of the Green methods statusgate serves, made from the method tables.

Nothing here is written per method: paths, verbs, query parameters and sections come from ``METHODS`` (and,
when the server serves the Partner API, ``PARTNER_METHODS``), request bodies from the per-settings models of
``Schemas`` (so the limits shown are this server's), answers from ``api.responses``. pydantic writes the JSON
Schemas (2020-12, OpenAPI 3.1's dialect).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema

from statusgate.api import responses as answers
from statusgate.api.methods import METHODS, Method, QueryParam
from statusgate.api.partner import PARTNER_METHODS, PartnerMethod
from statusgate.api.schemas import Schemas
from statusgate.settings import Settings

_REF = "#/components/schemas/{model}"

_ERROR = {
    "type": "object",
    "description": "Green's error body",
    "properties": {
        "statusCode": {"type": "integer"},
        "timestamp": {"type": "string", "description": "when, ISO 8601 in UTC"},
        "path": {"type": "string", "description": "the request's path, its token masked"},
        "message": {"type": "string"},
    },
    "required": ["statusCode", "timestamp", "path", "message"],
}

#: the errors every method can answer, in Green's order of checks (docs/api.md)
_ERRORS: dict[str, str] = {
    "400": "Bad request: `Validation failed. Details: …` names the field",
    "401": "The token is wrong",
    "403": "No such instance, or its status methods are switched off",
    "429": "Over the method's rate limit: try again after Retry-After seconds",
    "502": "The engine could not do it now (the phone is unreachable, the session restarting): retry",
    "507": "The server's storage is full: nothing was stored",
}
_BODY_TOO_LARGE = "The body is larger than this server takes"

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "application/octet-stream": {
            "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream"}},
                "required": ["file"],
            }
        },
    },
}
_GA_FILENAME = {
    "name": "GA-Filename",
    "in": "header",
    "required": False,
    "description": "the file's name, URL-encoded (its extension tells the type)",
    "schema": {"type": "string"},
}


PARTNER_TAG = "Partner API"
_PARTNER_TOKEN = {
    "name": "partnerToken",
    "in": "path",
    "required": True,
    "description": "the partner token (`statusgate partner-token` prints it)",
    "schema": {"type": "string", "minLength": 1},
}
_PARTNER_EXAMPLES = {
    "refused": {
        "summary": "a body this server does not take",
        "value": {"code": 400, "description": "Validation failed. Details: 'name' must be a string"},
    },
    "wrongToken": {"summary": "a wrong partner token", "value": {"code": 401, "description": "Unauthorized"}},
    "throttled": {
        "summary": "too many wrong tokens from this address",
        "value": {"code": 429, "description": "Too Many Requests"},
    },
}
_NO_SUCH_INSTANCE = {"summary": "no such instance", "value": {"code": 404, "description": "Not found"}}


class _WireSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, less what would mislead a reader of wire names: no titles made from field
    names ("Urlfile"), and no ``default: null`` on a field that may be left out but never sent as null."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if json_schema.get("default", ...) is None and {"type": "null"} not in json_schema.get("anyOf", []):
            del json_schema["default"]
        return json_schema


def _package_version() -> str:
    try:
        return version("statusgate")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0"


def _path_parameters(method: Method) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {
            "name": "idInstance",
            "in": "path",
            "required": True,
            "description": "the instance's id",
            "schema": {"type": "integer"},
        },
        {
            "name": "apiTokenInstance",
            "in": "path",
            "required": True,
            "description": "the instance's token",
            "schema": {"type": "string", "minLength": 1},
        },
    ]
    if method.takes_extra:
        parameters.append(
            {
                "name": "receiptId",
                "in": "path",
                "required": True,
                "description": "the receiptId of a notification from receiveNotification (one that is not "
                "there answers result false)",
                "schema": {"type": "integer"},
            }
        )
    return parameters


def _query_parameter(param: QueryParam, settings: Settings) -> dict[str, Any]:
    parameter: dict[str, Any] = {
        "name": param.name,
        "in": "query",
        "required": param.required,
        "description": param.description,
        "schema": param.schema_for(settings),
    }
    if param.allow_empty:
        parameter["allowEmptyValue"] = True
    return parameter


def _path(method: Method) -> str:
    path = f"/waInstance{{idInstance}}/{method.name}/{{apiTokenInstance}}"
    return path + "/{receiptId}" if method.takes_extra else path


def _schemas(
    schemas: Schemas, partner: Iterable[PartnerMethod]
) -> tuple[dict[tuple[tuple[str, str], JsonSchemaMode], dict[str, Any]], dict[str, Any]]:
    inputs: list[tuple[tuple[str, str], JsonSchemaMode, TypeAdapter[Any]]] = []
    for key, method in METHODS.items():
        if method.body is not None:
            inputs.append(((key, "body"), "validation", TypeAdapter(method.body(schemas))))
        if method.response is not None:
            inputs.append(((key, "response"), "serialization", TypeAdapter(method.response)))
    for pm in partner:
        # keyed by the path, which no Green method's key (a lower-cased name) can be
        key = _partner_path(pm)
        if pm.body is not None:
            inputs.append(((key, "body"), "validation", TypeAdapter(pm.body(schemas))))
        answer = TypeAdapter(pm.response | answers.PartnerError)
        inputs.append(((key, "response"), "serialization", answer))
    found, definitions = TypeAdapter.json_schemas(inputs, ref_template=_REF, schema_generator=_WireSchema)
    return found, definitions.get("$defs", {})


def _error_responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for code, description in {**_ERRORS, "413": _BODY_TOO_LARGE}.items():
        response: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="GreenError")}}},
        }
        if code == "429":
            response["headers"] = {
                "Retry-After": {"description": "whole seconds", "schema": {"type": "integer", "minimum": 1}}
            }
        responses[f"Error{code}"] = response
    return responses


def _responses(method: Method, answer: dict[str, Any] | None) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": method.summary}
    if answer is not None:
        ok["content"] = {"application/json": {"schema": answer}}
    else:
        ok["description"] += " (an empty body)"
    codes = set(_ERRORS)
    if method.body is not None or method.name == "uploadFile":
        codes.add("413")
    return {"200": ok} | {code: {"$ref": f"#/components/responses/Error{code}"} for code in sorted(codes)}


def _operation_ids(method: Method) -> Iterable[tuple[str, str]]:
    verbs = sorted(method.verbs)
    for verb in verbs:
        yield verb, method.name if len(verbs) == 1 else f"{method.name}{verb.capitalize()}"


def _partner_path(method: PartnerMethod) -> str:
    return f"/partner/{method.name}/{{partnerToken}}"


def _partner_operation(
    method: PartnerMethod,
    found: dict[tuple[tuple[str, str], JsonSchemaMode], dict[str, Any]],
    settings: Settings,
) -> dict[str, Any]:
    key = _partner_path(method)
    refusals = [
        "401 for a wrong token",
        f"429 once one client address has presented more than {settings.partner_failures_per_minute} "
        "wrong tokens in a minute (until the minute is over)",
    ]
    examples = {name: _PARTNER_EXAMPLES[name] for name in ("wrongToken", "throttled")}
    if method.body is not None:
        refusals.insert(0, "400 for a body this server does not take (`Validation failed. Details: …`)")
        examples = {"refused": _PARTNER_EXAMPLES["refused"]} | examples
    if method.names_instance:
        refusals.append("404 for an instance that is not there")
        examples["noSuchInstance"] = _NO_SUCH_INSTANCE
    ok = {
        "description": f"{method.summary}, or a refusal: `{{code, description}}`",
        "content": {
            "application/json": {"schema": found[((key, "response"), "serialization")], "examples": examples}
        },
    }
    operation: dict[str, Any] = {
        "operationId": method.name,
        "summary": method.summary,
        "tags": [PARTNER_TAG],
        # Green's partner clients read the code in the body, so a refusal here is not an HTTP error
        "description": "Answers HTTP 200 even when it refuses, as Green's Partner API does: the body is "
        f"then `{{code, description}}`, code {', '.join(refusals)}.",
        "responses": {"200": ok},
    }
    body = found.get(((key, "body"), "validation"))
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if method.writes:
        for code in ("502", "507"):
            operation["responses"][code] = {"$ref": f"#/components/responses/Error{code}"}
    return operation


def document(settings: Settings) -> dict[str, Any]:
    """The document for a server running with ``settings`` (its limits are in the request schemas; the
    Partner API is in it when the server serves it)."""
    partner = list(PARTNER_METHODS.values()) if settings.partner_api == "on" else []
    found, definitions = _schemas(Schemas(settings), partner)
    definitions["GreenError"] = _ERROR
    paths: dict[str, Any] = {}
    for key, method in METHODS.items():
        item: dict[str, Any] = {"parameters": _path_parameters(method)}
        answer = found.get(((key, "response"), "serialization"))
        for verb, operation_id in _operation_ids(method):
            operation: dict[str, Any] = {
                "operationId": operation_id,
                "summary": method.summary,
                "tags": [method.section],
            }
            description = []
            if method.rate_limit is not None:
                description.append(
                    f"Green's rate limit: {method.rate_limit:g} requests per second per instance."
                )
            if method.status_method:
                description.append("A status method: answers 403 while the instance's status access is off.")
            if description:
                operation["description"] = " ".join(description)
            parameters = [_query_parameter(p, settings) for p in method.query]
            if method.name == "uploadFile":
                parameters.append(_GA_FILENAME)
                operation["requestBody"] = _UPLOAD_BODY
            if parameters:
                operation["parameters"] = parameters
            body = found.get(((key, "body"), "validation"))
            if body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": body}},
                }
            operation["responses"] = _responses(method, answer)
            item[verb.lower()] = operation
        paths[_path(method)] = item
    for pm in partner:
        paths[_partner_path(pm)] = {
            "parameters": [_PARTNER_TOKEN],
            pm.verb.lower(): _partner_operation(pm, found, settings),
        }
    tags = [{"name": section} for section in dict.fromkeys(m.section for m in METHODS.values())]
    if partner:
        tags.append(
            {
                "name": PARTNER_TAG,
                "description": "Making, listing and deleting instances, with the partner token in the path",
            }
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "statusgate",
            "version": _package_version(),
            "summary": "Green API's Statuses section, self-hosted",
            "description": (
                "The Green API methods this server answers, on Green's wire: code written for Green API "
                "works here by changing only the host. Every path holds the instance's id and token"
                + (", or, for the Partner API, the partner token." if partner else ".")
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": tags,
        "paths": paths,
        "components": {"schemas": dict(sorted(definitions.items())), "responses": _error_responses()},
    }
