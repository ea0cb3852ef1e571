"""Green's own Postman examples, as Postman sends them, for every method statusgate serves: each one passes
validation and is answered 200.

The requests come from Green's Postman collection (tests/data/green_postman_requests.json says which commit);
Postman strips the ``//`` comments of a JSON body before sending it, so this does too. The variables are
filled in as a user's environment would: a real instance, a real status id, a real notification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from statusgate.api.methods import METHODS
from statusgate.engines.sandbox_network import ImportedContact
from tests.conftest import Gateway
from tests.integration.test_send_media_status import poll

EXAMPLES = json.loads((Path(__file__).parent.parent / "data" / "green_postman_requests.json").read_text())
REQUESTS: list[dict[str, Any]] = EXAMPLES["requests"]

#: the order the examples are sent in: the notification queue is read before setSettings gives the instance a
#: webhookUrl (notifications then go there), the status is deleted after its statistic is read, and what ends
#: or changes the session the others need comes last
FIRST = ["receiveNotification", "deleteNotification"]
LAST = ["deleteStatus", "updateApiToken", "reboot", "logout"]
#: linking a phone by code is for an account that is not linked yet: sent to one
UNLINKED = {"getAuthorizationCode", "qr"}


def method_of(request: dict[str, Any]) -> str:
    name: str = request["path"][1]
    return name


def strip_comments(raw: str) -> str:
    """A JSON body without its ``//`` comments, as Postman sends it (a ``//`` inside a string stays)."""
    out: list[str] = []
    in_string = escaped = False
    i = 0
    while i < len(raw):
        ch = raw[i]
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif raw.startswith("//", i):
            while i < len(raw) and raw[i] != "\n":
                i += 1
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def test_comment_stripping_keeps_strings_whole() -> None:
    raw = '{\n "a": "https://x.example/y", // a link\n "b": 1 // one\n}'
    assert json.loads(strip_comments(raw)) == {"a": "https://x.example/y", "b": 1}


@pytest.fixture
async def gw(start_gateway: Any, make_settings: Any) -> Gateway:
    # the examples' links and webhook point at hosts on the internet: never fetched here (the tests'
    # resolver refuses every name but localhost, and nothing waits for the fetches)
    gateway: Gateway = await start_gateway(make_settings(allow_private_urls=False))
    return gateway


async def send(gw: Gateway, request: dict[str, Any], values: dict[str, str]) -> Any:
    def fill(text: str) -> str:
        for name, value in values.items():
            text = text.replace("{{" + name + "}}", value)
        return text

    path = "/" + "/".join(fill(segment) for segment in request["path"])
    query = {key: fill(value) for key, value in request["query"].items()}
    headers: dict[str, str] = {}
    content: bytes | None = None
    if "raw" in request:
        body = json.loads(strip_comments(request["raw"]))
        if "idMessage" in body and "id_Message" in values:
            body["idMessage"] = values["id_Message"]  # the example names a status of Green's; ours instead
        content = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"  # Postman's for a raw body in JSON
    if "file" in request:
        content = (Path(__file__).parent.parent / "data" / "green_postman_requests.json").read_bytes()
        # the example leaves Content-Type for the user to fill in, with the file's type; a JSON file here
        headers["Content-Type"] = "application/json"
    return await gw.client.request(request["verb"], path, params=query, content=content, headers=headers)


async def test_every_example_of_a_method_we_serve_is_answered(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    await gw.ctx.sandbox.import_contacts(
        id_instance, [ImportedContact("7123456789@c.us", "Ivan", "Ivan Petrov", True)]
    )
    unlinked_id, unlinked_token = await gw.create_instance(authorized=False)
    # a real status and a real notification for the examples that name one
    sent = await gw.client.post(
        gw.path(id_instance, token, "sendTextStatus"), json={"message": "for the statistic"}
    )
    id_message = sent.json()["idMessage"]
    await gw.client.get(gw.path(id_instance, token, "reboot"))  # a stateInstanceChanged to receive

    async def receipt() -> int | None:
        got = await gw.client.get(gw.path(id_instance, token, "receiveNotification"))
        return got.json()["receiptId"] if got.status_code == 200 and got.json() else None

    receipt_id = await poll(receipt, what="a notification")
    await poll(lambda: _authorized(gw, id_instance, token), what="the instance back after its reboot")
    values = {"idInstance": str(id_instance), "apiTokenInstance": token, "id_Message": id_message}
    values["receiptId"] = str(receipt_id)

    def position(request: dict[str, Any]) -> int:
        method = method_of(request)
        if method in FIRST:
            return FIRST.index(method) - len(FIRST)
        return 1 + LAST.index(method) if method in LAST else 0

    ordered = sorted(REQUESTS, key=position)
    # the collection has an example of every method statusgate serves
    assert {method_of(r).lower() for r in ordered} == set(METHODS)
    failures = []
    for request in ordered:
        if method_of(request) in UNLINKED:
            filled = values | {"idInstance": str(unlinked_id), "apiTokenInstance": unlinked_token}
        else:
            filled = values
        response = await send(gw, request, filled)
        if response.status_code != 200:
            failures.append(
                f"{request['name']} ({method_of(request)}): {response.status_code} {response.text}"
            )
        if method_of(request) == "updateApiToken" and response.status_code == 200:
            values["apiTokenInstance"] = response.json()["apiTokenInstance"]
    assert failures == [], "\n".join(failures)


async def _authorized(gw: Gateway, id_instance: int, token: str) -> bool:
    got = await gw.client.get(gw.path(id_instance, token, "getStateInstance"))
    return bool(got.json() == {"stateInstance": "authorized"})
