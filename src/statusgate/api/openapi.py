"""The OpenAPI 3.1 document of the Green methods statusgate serves, made from the method table.

Nothing here is written per method: paths, verbs, query parameters and sections come from ``METHODS``,
request bodies from the per-settings models of ``Schemas`` (so the limits shown are this server's), answers
from ``api.responses``. pydantic writes the JSON Schemas (2020-12, OpenAPI 3.1's dialect).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema

from statusgate.api.methods import METHODS, Method, QueryParam
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
    schemas: Schemas,
) -> tuple[dict[tuple[tuple[str, str], JsonSchemaMode], dict[str, Any]], dict[str, Any]]:
    inputs: list[tuple[tuple[str, str], JsonSchemaMode, TypeAdapter[Any]]] = []
    for key, method in METHODS.items():
        if method.body is not None:
            inputs.append(((key, "body"), "validation", TypeAdapter(method.body(schemas))))
        if method.response is not None:
            inputs.append(((key, "response"), "serialization", TypeAdapter(method.response)))
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


def document(settings: Settings) -> dict[str, Any]:
    """The document for a server running with ``settings`` (its limits are in the request schemas)."""
    found, definitions = _schemas(Schemas(settings))
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
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "statusgate",
            "version": _package_version(),
            "summary": "Green API's Statuses section, self-hosted",
            "description": (
                "The Green API methods this server answers, on Green's wire: code written for Green API "
                "works here by changing only the host. Every path holds the instance's id and token."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [{"name": section} for section in dict.fromkeys(m.section for m in METHODS.values())],
        "paths": paths,
        "components": {"schemas": dict(sorted(definitions.items())), "responses": _error_responses()},
    }
