"""An engine whose extra is not installed is refused where instances are made, saying what to install —
at the Partner API (Green's partner shape), in the console and in the service the CLI calls.

The whatsapp engine's extra is neonize; the test environment has it, so each test makes the interpreter
treat it as absent (``sys.modules["neonize"] = None``, Python's own marker for a module that cannot be
imported) — the state of a server installed without ``statusgate[whatsapp]``.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest

from statusgate.domain.models import EngineName
from statusgate.engines import requirements
from statusgate.errors import BadRequestError
from statusgate.services import instances, partner
from tests.conftest import Gateway

INSTALL = "pip install 'statusgate[whatsapp]'"


@pytest.fixture
def without_neonize(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "neonize", None)


@pytest.fixture
async def gw(start_gateway: Any, make_settings: Any) -> Gateway:
    gateway: Gateway = await start_gateway(make_settings())
    return gateway


def test_only_a_missing_extra_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    assert requirements.missing(EngineName.SANDBOX) is None
    assert requirements.missing(EngineName.WHATSAPP) is None  # the test extras include neonize
    monkeypatch.setitem(sys.modules, "neonize", None)
    assert (
        requirements.missing(EngineName.WHATSAPP)
        == f"engine whatsapp is not installed on this server: {INSTALL}"
    )
    assert requirements.missing(EngineName.SANDBOX) is None


async def test_the_partner_api_says_what_to_install(gw: Gateway, without_neonize: None) -> None:
    token = await partner.token(gw.ctx)
    before = len(await instances.list_all(gw.ctx))
    r = await gw.client.post(f"/partner/createInstance/{token}", json={"engine": "whatsapp", "name": "w"})
    assert r.status_code == 200
    body = r.json()
    assert body["code"] == 400
    assert body["description"].startswith("Validation failed. Details: ")
    assert "engine whatsapp is not installed" in body["description"] and INSTALL in body["description"]
    assert len(await instances.list_all(gw.ctx)) == before
    # a sandbox instance is still made as ever
    r = await gw.client.post(f"/partner/createInstance/{token}", json={"engine": "sandbox", "name": "s"})
    assert "idInstance" in r.json(), r.json()


async def test_the_console_and_the_service_say_it_too(gw: Gateway, without_neonize: None) -> None:
    with pytest.raises(BadRequestError, match=re.escape(INSTALL)):
        await instances.create(gw.ctx, engine=EngineName.WHATSAPP, name="cli-made")
    origin = {"Origin": "http://127.0.0.1:9"}
    r = await gw.client.post(
        "/console/sign-in", data={"partner_token": await partner.token(gw.ctx)}, headers=origin
    )
    assert r.status_code == 303
    page = await gw.client.get("/console/instances")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    r = await gw.client.post(
        "/console/instances",
        data={"csrf": csrf.group(1), "engine": "whatsapp", "name": "console-made"},
        headers=origin,
    )
    assert r.status_code == 400
    assert INSTALL.replace("'", "&#39;") in r.text
    assert await instances.list_all(gw.ctx) == []
