"""Green's Partner API through the official SDK's ``GreenApiPartner``, unchanged, against a real server."""

from __future__ import annotations

from typing import Any

from whatsapp_api_client_python.API import GreenAPI, GreenApiPartner

from tests.acceptance.conftest import Instance
from tests.support import ServerProcess, cli, cli_json

SHAPES = ("all",)
SHAPES_REASON = "the partner routes are the api role's alone; one shape shows the wire"


def test_create_use_list_delete_with_the_official_sdk(server: ServerProcess, make_instance: Any) -> None:
    made_by_cli: Instance = make_instance(authorized=False, contacts=None)
    token = cli_json(server.env, "partner-token")["partnerToken"]
    assert cli(server.env, "partner-token").stdout.strip() == token  # the same on every call
    partner = GreenApiPartner(token, host=server.url)

    created = partner.partner.createInstance(
        {"name": "via-partner", "delaySendMessagesMilliseconds": 1500, "stateWebhook": "yes"}
    ).data
    assert created["typeInstance"] == "whatsapp"
    assert created["apiUrl"] == created["mediaUrl"] == server.url
    api = GreenAPI(str(created["idInstance"]), created["apiTokenInstance"], host=server.url, media=server.url)
    settings = api.account.getSettings().data
    assert settings["delaySendMessagesMilliseconds"] == 1500
    assert settings["stateWebhook"] == "yes"
    assert api.account.getStateInstance().data["stateInstance"] == "notAuthorized"

    listed = {row["idInstance"]: row for row in partner.partner.getInstances().data}
    assert {created["idInstance"], made_by_cli.id} <= set(listed)
    row = listed[created["idInstance"]]
    assert row["name"] == "via-partner" and row["apiTokenInstance"] == "" and row["deleted"] is False
    assert all(isinstance(row[k], str) for k in ("timeCreated", "timeDeleted", "expirationDate"))

    assert partner.partner.deleteInstanceAccount(created["idInstance"]).data == {
        "deleteInstanceAccount": True
    }
    assert api.account.getStateInstance().code == 403  # the deleted instance's token stops working at once
    again = partner.partner.deleteInstanceAccount(created["idInstance"])
    assert (again.code, again.data) == (200, {"code": 404, "description": "Not found"})

    wrong = GreenApiPartner("x" * 40, host=server.url).partner.getInstances()
    assert (wrong.code, wrong.data) == (200, {"code": 401, "description": "Unauthorized"})


def test_bad_fields_are_named_and_rotation_ends_the_old_token(server: ServerProcess) -> None:
    import httpx

    token = cli_json(server.env, "partner-token")["partnerToken"]
    url = f"{server.url}/partner/createInstance/{token}"
    for body, field in [
        ({"delaySendMessagesMilliseconds": "x"}, "delaySendMessagesMilliseconds"),
        ({"stateWebhook": "maybe"}, "stateWebhook"),
        ({"engine": "nope", "name": "a"}, "engine"),
    ]:
        answer = httpx.post(url, json=body).json()
        assert answer["code"] == 400 and field in answer["description"], answer
    assert httpx.post(url, content=b"{not json").json()["code"] == 400
    assert httpx.post(url, json={}).json()["code"] == 400
    # past max_body_bytes (its default, 1 MiB) the body is refused in the partner shape, not read whole
    huge = httpx.post(url, content=b'{"name": "' + b"a" * 1_048_577 + b'"}').json()
    assert huge["code"] == 400 and "larger than 1048576 bytes" in huge["description"], huge
    # the token is checked before the body: a wrong one with a bad body is still 401
    assert httpx.post(f"{server.url}/partner/createInstance/{'y' * 40}", content=b"{").json()["code"] == 401

    new = cli_json(server.env, "partner-token", "--rotate")["partnerToken"]
    assert new != token
    import time

    time.sleep(1.2)  # every node's cache holds the hash under a second
    assert httpx.get(f"{server.url}/partner/getInstances/{token}").json() == {
        "code": 401,
        "description": "Unauthorized",
    }
    assert isinstance(httpx.get(f"{server.url}/partner/getInstances/{new}").json(), list)
    assert token not in server.output() and new not in server.output()
