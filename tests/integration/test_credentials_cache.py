"""``credentials_cache_seconds``: how long an API node trusts what it read of a token. A token changed by
another process (the CLI: it writes the database, not this node's memory) stops working once that much
has passed; 0 reads the database on every request."""

from __future__ import annotations

from typing import Any

import pytest

from statusgate.services import instances, partner
from tests.conftest import Gateway


@pytest.mark.parametrize(("seconds", "old_token_answers"), [(0, 401), (60, 200)])
async def test_an_instance_token_rotated_elsewhere_stops_working_after_the_cache_setting(
    start_gateway: Any, make_settings: Any, seconds: float, old_token_answers: int
) -> None:
    gw: Gateway = await start_gateway(make_settings(credentials_cache_seconds=seconds))
    id_instance, old = await gw.create_instance()
    assert (await gw.client.get(gw.path(id_instance, old, "getStateInstance"))).status_code == 200
    # as `statusgate instance rotate-token` does from its own process: this node's cache is not told
    new = (await instances.rotate_token(gw.ctx, id_instance)).api_token
    assert (
        await gw.client.get(gw.path(id_instance, old, "getStateInstance"))
    ).status_code == old_token_answers
    answers_new = (await gw.client.get(gw.path(id_instance, new, "getStateInstance"))).status_code
    # the cached row holds the old hash as long as it is trusted
    assert answers_new == (200 if seconds == 0 else 401)


@pytest.mark.parametrize(("seconds", "old_token_works"), [(0, False), (60, True)])
async def test_the_partner_token_rotated_elsewhere_stops_working_after_the_cache_setting(
    start_gateway: Any, make_settings: Any, seconds: float, old_token_works: bool
) -> None:
    gw: Gateway = await start_gateway(make_settings(credentials_cache_seconds=seconds))
    old = await partner.token(gw.ctx)
    assert isinstance((await gw.client.get(f"/partner/getInstances/{old}")).json(), list)
    await partner.rotate(gw.ctx)  # as `statusgate partner-token --rotate` does
    answer = (await gw.client.get(f"/partner/getInstances/{old}")).json()
    # the partner API answers a wrong token in its own shape (HTTP 200, Green's code in the body)
    assert answer == ([] if old_token_works else {"code": 401, "description": "Unauthorized"})
