"""``/openapi.json`` and ``/docs``: the document covers the method table with this server's own limits, every
reference in it resolves, answers' shapes are the ones the router sends; the Partner API is in it exactly when
the server serves it, its answers and refusals (HTTP 200) as the document says; Swagger UI is served from the
package with nothing fetched elsewhere; ``api_docs off`` removes both."""

from __future__ import annotations

import re
import typing
from typing import Any

# schemathesis's own validator (a test dependency through it): the document's schemas are checked by the
# same code here as in test_openapi_schemathesis
import jsonschema_rs

from statusgate.api import responses
from statusgate.api.docs_pages import ASSETS
from statusgate.api.methods import METHODS
from statusgate.api.openapi import PARTNER_TAG
from statusgate.api.partner import PARTNER_METHODS
from statusgate.domain.instance_settings import InstanceSettings, Switch
from statusgate.redaction import PUBLIC_FILE_NAMES
from statusgate.services import partner
from statusgate.services.account import settings_view
from tests.conftest import Gateway

PREFIX = "/waInstance{idInstance}/"


async def spec_of(gw: Gateway) -> dict[str, Any]:
    response = await gw.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


def refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"]} if isinstance(value.get("$ref"), str) else set()
        return found.union(*(refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(refs(v) for v in value))
    return set()


async def test_the_document_covers_the_method_table(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings())
    spec = await spec_of(gw)
    assert spec["openapi"] == "3.1.0"
    served = {
        path.removeprefix(PREFIX).split("/")[0]: item
        for path, item in spec["paths"].items()
        if path.startswith(PREFIX)
    }
    assert set(served) == {m.name for m in METHODS.values()}
    operation_ids = []
    for method in METHODS.values():
        item = served[method.name]
        verbs = {verb.upper() for verb in item if verb != "parameters"}
        assert verbs == method.verbs, method.name
        for verb in verbs:
            operation = item[verb.lower()]
            operation_ids.append(operation["operationId"])
            assert operation["tags"] == [method.section]
            assert ("requestBody" in operation) == (method.body is not None or method.name == "uploadFile")
            query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            assert query == [p.name for p in method.query]
            ok = operation["responses"]["200"]
            assert ("content" in ok) == (method.response is not None), method.name
            assert {"400", "401", "403", "429", "502"} <= set(operation["responses"])
    assert len(operation_ids) == len(set(operation_ids))
    # every reference resolves
    for ref in refs(spec):
        kind, name = ref.removeprefix("#/components/").split("/")
        assert name in spec["components"][kind], ref


async def test_the_limits_shown_are_this_servers(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(
        make_settings(
            max_caption_chars=77,
            max_participants=3,
            receive_timeout_min_seconds=2,
            receive_timeout_max_seconds=9,
        )
    )
    spec = await spec_of(gw)
    media = spec["components"]["schemas"]["SendMediaStatus"]
    caption = media["properties"]["caption"]["anyOf"][0]
    assert caption == {"type": "string", "maxLength": 77}
    assert media["properties"]["participants"]["anyOf"][0]["maxItems"] == 3
    assert media["required"] == ["urlFile", "fileName"] and media["additionalProperties"] is False
    receive = spec["paths"][PREFIX + "receiveNotification/{apiTokenInstance}"]["get"]["parameters"]
    assert receive[0]["schema"] == {"type": "integer", "minimum": 2, "maximum": 9, "default": 5}
    id_instance, token = await gw.create_instance()
    too_long = await gw.client.get(gw.path(id_instance, token, "receiveNotification") + "?receiveTimeout=10")
    assert (
        too_long.json()["message"]
        == "Validation failed. Details: 'receiveTimeout' must be from 2 to 9 seconds"
    )


async def test_the_patterns_shown_are_the_validators(start_gateway: Any, make_settings: Any) -> None:
    """What the document's patterns allow, the validators take, and the other way round."""
    gw: Gateway = await start_gateway(make_settings())
    spec = await spec_of(gw)
    text = spec["components"]["schemas"]["SendTextStatus"]["properties"]
    colour = re.compile(text["backgroundColor"]["anyOf"][0]["pattern"])
    chat = re.compile(text["participants"]["anyOf"][0]["items"]["pattern"])
    id_instance, token = await gw.create_instance()
    path = gw.path(id_instance, token, "sendTextStatus")
    for value in ("#228B22", "#228b2", "228B22", "#GG0000", "#228B22 "):
        answer = await gw.client.post(path, json={"message": "x", "backgroundColor": value})
        assert (answer.status_code == 200) == bool(colour.search(value)), (value, answer.text)
    for value in ("79001234567@c.us", "09001234567@c.us", "7900@c.us", "79001234567@g.us"):
        answer = await gw.client.post(path, json={"message": "x", "participants": [value]})
        assert (answer.status_code == 200) == bool(chat.search(value)), (value, answer.text)
    media = spec["components"]["schemas"]["SendMediaStatus"]["properties"]
    file_name = re.compile(media["fileName"]["pattern"])
    url = re.compile(media["urlFile"]["pattern"])
    path = gw.path(id_instance, token, "sendMediaStatus")
    for name in ("a.jpg", "A.JPG", "clip.Mp4", "a.txt", "dir/a.jpg", "a"):
        answer = await gw.client.post(path, json={"urlFile": "http://127.0.0.1:9/x", "fileName": name})
        assert (answer.status_code == 200) == bool(file_name.search(name)), (name, answer.text)
    for link in ("http://127.0.0.1:9/x", "HTTP://ab", "http://a", "ftp://127.0.0.1/x", "https://a b"):
        answer = await gw.client.post(path, json={"urlFile": link, "fileName": "a.jpg"})
        assert (answer.status_code == 200) == bool(url.search(link)), (link, answer.text)


def validator(spec: dict[str, Any], schema: dict[str, Any]) -> jsonschema_rs.Draft202012Validator:
    # the document's references are to its components: resolved from a root that holds them
    return jsonschema_rs.Draft202012Validator(schema | {"components": spec["components"]})


def answer_schema(spec: dict[str, Any], name: str) -> jsonschema_rs.Draft202012Validator:
    method = PARTNER_METHODS[name]
    operation = spec["paths"][f"/partner/{name}/{{partnerToken}}"][method.verb.lower()]
    return validator(spec, operation["responses"]["200"]["content"]["application/json"]["schema"])


async def test_the_partner_api_is_documented_as_served(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings(partner_failures_per_minute=2, delay_min_ms=700))
    spec = await spec_of(gw)
    partner_paths = {path: item for path, item in spec["paths"].items() if path.startswith("/partner/")}
    assert set(partner_paths) == {f"/partner/{name}/{{partnerToken}}" for name in PARTNER_METHODS}
    assert [tag["name"] for tag in spec["tags"]].count(PARTNER_TAG) == 1
    for path, item in partner_paths.items():
        method = PARTNER_METHODS[path.split("/")[2]]
        # the token is a path parameter, as the instance's is
        assert [(p["name"], p["in"], p["required"]) for p in item["parameters"]] == [
            ("partnerToken", "path", True)
        ]
        assert set(item) == {"parameters", method.verb.lower()}
        operation = item[method.verb.lower()]
        assert operation["operationId"] == method.name and operation["tags"] == [PARTNER_TAG]
        assert ("requestBody" in operation) == (method.body is not None)
        # refusals are HTTP 200 in the partner shape; only Green's own 502/507 are other statuses
        assert set(operation["responses"]) == ({"200", "502", "507"} if method.writes else {"200"})
        refusals = operation["responses"]["200"]["content"]["application/json"]
        assert {"$ref": "#/components/schemas/PartnerError"} in refusals["schema"]["anyOf"]
        assert {e["value"]["code"] for e in refusals["examples"].values()} >= {401, 429}
        assert "more than 2 wrong tokens" in operation["description"]
    schemas = spec["components"]["schemas"]
    create = schemas["CreateInstance"]
    # setSettings' keys with this server's limits, and createInstance's own two
    assert set(create["properties"]) == set(schemas["SetSettings"]["properties"]) | {"name", "engine"}
    assert create["properties"]["delaySendMessagesMilliseconds"]["minimum"] == 700
    assert create["additionalProperties"] is False
    assert schemas["PartnerError"]["properties"]["code"]["enum"] == [400, 401, 404, 429]

    token = await partner.token(gw.ctx)
    body = validator(spec, {"$ref": "#/components/schemas/CreateInstance"})
    created = answer_schema(spec, "createInstance")
    refused = validator(spec, {"$ref": "#/components/schemas/PartnerError"})
    # what the document takes, createInstance takes, and the other way round
    for sent in (
        {"name": "shop"},
        {"name": "shop 2", "engine": "sandbox"},
        {"delaySendMessagesMilliseconds": 700},
        {"engine": "sandbox", "stateWebhook": "no"},
        {},
        {"engine": "sandbox"},
        {"name": None},
        {"name": None, "engine": "sandbox"},
        {"name": 5},
        {"name": "shop", "engine": "telegram"},
        {"name": "shop", "other": 1},
        {"delaySendMessagesMilliseconds": 699},
    ):
        answer = await gw.client.post(f"/partner/createInstance/{token}", json=sent)
        assert answer.status_code == 200 and created.is_valid(answer.json()), answer.text
        assert refused.is_valid(answer.json()) != body.is_valid(sent), (sent, answer.text)
    made = (await gw.client.post(f"/partner/createInstance/{token}", json={"name": "gone"})).json()
    listed = (await gw.client.get(f"/partner/getInstances/{token}")).json()
    assert answer_schema(spec, "getInstances").is_valid(listed) and not refused.is_valid(listed)
    assert made["idInstance"] in {i["idInstance"] for i in listed}
    deleted = answer_schema(spec, "deleteInstanceAccount")
    for expected in ({"deleteInstanceAccount": True}, {"code": 404, "description": "Not found"}):
        answer = await gw.client.post(
            f"/partner/deleteInstanceAccount/{token}", json={"idInstance": made["idInstance"]}
        )
        assert answer.status_code == 200 and answer.json() == expected and deleted.is_valid(expected)
    codes = []
    for _ in range(3):
        answer = await gw.client.get("/partner/getInstances/not-the-token")
        assert answer.status_code == 200 and refused.is_valid(answer.json()), answer.text
        codes.append(answer.json()["code"])
    assert codes == [401, 401, 429]


async def test_the_partner_api_off_is_not_in_the_document(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings(partner_api="off"))
    spec = await spec_of(gw)
    assert not [path for path in spec["paths"] if path.startswith("/partner/")]
    assert PARTNER_TAG not in {tag["name"] for tag in spec["tags"]}
    assert not {"CreateInstance", "PartnerError"} & set(spec["components"]["schemas"])
    assert (await gw.client.get("/partner/getInstances/x")).status_code == 404


def test_get_settings_shape_is_settings_view() -> None:
    keys = list(settings_view(InstanceSettings(), "", 5000))
    assert keys == list(typing.get_type_hints(responses.InstanceSettings))
    assert {s.value for s in Switch} <= set(keys)


async def test_swagger_ui_is_served_from_the_package(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings())
    page = await gw.client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    # nothing on the page comes from elsewhere: every script and stylesheet is a path of this server
    linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(linked) == 3 and not any("//" in link for link in linked), linked
    for link in linked:
        asset = await gw.client.get("/" + link)
        assert asset.status_code == 200, link
        assert asset.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert b"sourceMappingURL" not in asset.content[-300:]
    # the access log shows the assets' names (redaction keeps only names it knows)
    assert set(ASSETS) <= PUBLIC_FILE_NAMES
    initializer = (await gw.client.get("/docs/initializer.js")).text
    assert 'url: "openapi.json"' in initializer and "validatorUrl: null" in initializer
    for name in ("README.md", "LICENSE", "index.html", "..%2F..%2Fapp.py", "nothing.js"):
        missing = await gw.client.get(f"/docs/{name}")
        assert missing.status_code == 404, name
        assert missing.json()["statusCode"] == 404


async def test_api_docs_off(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings(api_docs="off"))
    for path in ("/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"):
        assert (await gw.client.get(path)).status_code == 404, path
