"""The console's server-side sessions in-process: the cookie, CSRF, lifetimes, revocation, scope, secrets.

Each test drives the real app over its ASGI transport, as a browser would: forms, a cookie sent back by hand
(so a test can keep an old one), an ``Origin`` on every POST. Sessions live in the database, so every test runs
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from http.cookies import Morsel, SimpleCookie
from typing import Any

import httpx
import pytest

from statusgate.ids import hash_token
from statusgate.services import instances, partner
from statusgate.settings import Settings
from statusgate.store import console_sessions as session_store
from statusgate.worker import sweeper
from tests.conftest import Gateway
from tests.integration.test_send_media_status import poll

COOKIE = "statusgate_console"
ORIGIN = "http://127.0.0.1:9"  # the test client's base URL: the console's own origin
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
#: an instance's API token as it may appear in a page (ids.new_api_token: 50 lower-case hex)
API_TOKEN = re.compile(r"(?<![0-9a-f])[0-9a-f]{50}(?![0-9a-f])")
ENDED = "/console?ended=1"


# --- a browser on the console --------------------------------------------------------------------------------


def session_cookie(response: httpx.Response) -> Morsel[str] | None:
    """The ``statusgate_console`` cookie this answer sets (or clears), with its attributes."""
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if COOKIE in jar:
            return jar[COOKIE]
    return None


class Browser:
    """One browser: its own session cookie, sent by hand; every POST names the console's origin."""

    def __init__(self, gw: Gateway, cookie: str = "") -> None:
        self.gw = gw
        self.cookie = cookie
        #: every answer this browser got, to look through for secrets
        self.answers: list[httpx.Response] = []

    async def request(
        self,
        method: str,
        path: str,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        origin: str | None = ORIGIN,
    ) -> httpx.Response:
        sent: dict[str, str] = {}
        if method == "POST" and origin is not None:
            sent["Origin"] = origin
        if self.cookie:
            sent["Cookie"] = f"{COOKIE}={self.cookie}"
        sent |= headers or {}
        response = await self.gw.client.request(method, path, data=data, headers=sent)
        self.gw.client.cookies.clear()  # the cookie is this object's, not the shared client's
        self.answers.append(response)
        morsel = session_cookie(response)
        if morsel is not None:
            self.cookie = "" if morsel["max-age"] == "0" else morsel.value
        return response

    async def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.request("GET", path, headers=headers)

    async def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        origin: str | None = ORIGIN,
    ) -> httpx.Response:
        return await self.request("POST", path, data=data, headers=headers, origin=origin)

    async def csrf(self, page: str) -> str:
        response = await self.get(page)
        assert response.status_code == 200, (response.status_code, response.headers.get("location"))
        found = CSRF_FIELD.search(response.text)
        assert found is not None, response.text
        return found.group(1)

    async def form(self, page: str, action: str, fields: dict[str, str] | None = None) -> httpx.Response:
        """Submit a form as the page ``page`` has it: its CSRF token in the ``csrf`` field."""
        return await self.post(action, {"csrf": await self.csrf(page)} | (fields or {}))

    def copy(self) -> Browser:
        """Another browser holding the same cookie (a stolen or stale one)."""
        return Browser(self.gw, self.cookie)


async def partner_token(gw: Gateway) -> str:
    return await partner.token(gw.ctx)


async def sign_in_partner(gw: Gateway, token: str | None = None) -> Browser:
    browser = Browser(gw)
    r = await browser.post("/console/sign-in", {"partner_token": token or await partner_token(gw)})
    assert (r.status_code, r.headers.get("location")) == (303, "/console/instances"), r.text
    assert browser.cookie
    return browser


async def sign_in_instance(gw: Gateway, id_instance: int, token: str) -> Browser:
    browser = Browser(gw)
    r = await browser.post("/console/sign-in", {"id_instance": str(id_instance), "api_token": token})
    assert (r.status_code, r.headers.get("location")) == (303, f"/console/instances/{id_instance}"), r.text
    assert browser.cookie
    return browser


async def is_signed_in(browser: Browser, page: str) -> bool:
    """True when ``page`` opens; False when it sends the browser back to sign in (its session ended)."""
    keep = browser.cookie
    r = await browser.get(page)
    if r.status_code == 200:
        return True
    assert (r.status_code, r.headers.get("location")) == (303, ENDED), (r.status_code, r.text)
    browser.cookie = keep  # the answer cleared it; keep presenting it, as a stale browser would
    return False


async def instance_count(gw: Gateway) -> int:
    return len(await instances.list_all(gw.ctx))


async def token_works(gw: Gateway, id_instance: int, token: str) -> bool:
    r = await gw.client.get(gw.path(id_instance, token, "getStateInstance"))
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def tokens_on(page: str) -> list[str]:
    return API_TOKEN.findall(page)


@pytest.fixture
async def gw(start_gateway: Any, make_settings: Any) -> Gateway:
    gateway: Gateway = await start_gateway(make_settings())
    return gateway


async def gateway_with(start_gateway: Any, settings: Settings, **unchecked: Any) -> Gateway:
    """A gateway whose settings take ``unchecked`` values past their validation (a lifetime of seconds,
    below the 60 s a deployment may set, so a test waits seconds rather than minutes)."""
    gateway: Gateway = await start_gateway(settings.model_copy(update=unchecked))
    return gateway


# --- the cookie ------------------------------------------------------------------------------------------------


async def test_partner_sign_in_sets_a_strict_http_only_cookie_with_a_new_id_each_time(gw: Gateway) -> None:
    token = await partner_token(gw)
    browser = Browser(gw)
    r = await browser.post("/console/sign-in", {"partner_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/instances"
    morsel = session_cookie(r)
    assert morsel is not None
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "strict"
    assert morsel["path"] == "/console"
    assert not morsel["secure"]  # the public URL is http
    cookie = morsel.value
    assert token not in cookie and hash_token(token) not in cookie and len(cookie) >= 32
    # what the database keeps is the id's hash, never the id itself
    assert await gw.ctx.db.read(session_store.get, hash_token(cookie)) is not None
    assert await gw.ctx.db.read(session_store.get, cookie) is None

    # signing in again, the old cookie in hand, gives a new id (no session fixation)
    r = await browser.post("/console/sign-in", {"partner_token": token})
    assert r.status_code == 303
    again = session_cookie(r)
    assert again is not None and again.value != cookie and browser.cookie == again.value
    assert await is_signed_in(browser, "/console/instances")


async def test_the_cookie_is_secure_when_the_public_url_is_https(
    start_gateway: Any, make_settings: Any
) -> None:
    public = "https://127.0.0.1:9"  # the browser's origin too (a TLS proxy in front)
    gw: Gateway = await start_gateway(make_settings(public_url=public))
    browser = Browser(gw)
    r = await browser.post("/console/sign-in", {"partner_token": await partner_token(gw)}, origin=public)
    morsel = session_cookie(r)
    assert morsel is not None and morsel["secure"] is True and morsel["httponly"] is True
    assert morsel["samesite"].lower() == "strict" and morsel["path"] == "/console"
    csrf = await browser.csrf("/console/instances")
    r = await browser.post("/console/sign-out", {"csrf": csrf}, origin=public)
    cleared = session_cookie(r)
    assert cleared is not None and cleared["max-age"] == "0" and cleared["secure"] is True


# --- headers ---------------------------------------------------------------------------------------------------


def assert_console_headers(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    assert response.headers.get("cache-control") == "no-store", where
    assert response.headers.get("x-content-type-options") == "nosniff", where
    csp = response.headers.get("content-security-policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", (where, csp)
    assert directives.get("script-src") == "script-src 'self'", (where, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (where, csp)


async def test_console_pages_are_not_stored_framed_or_sniffed(gw: Gateway) -> None:
    id_instance, _ = await gw.create_instance(name="headers")
    visitor = Browser(gw)
    answers = [
        await visitor.get("/console"),  # the sign-in page
        await visitor.get("/console/instances"),  # a redirect to it
        await visitor.post("/console/sign-in", {"partner_token": "x" * 64}),  # a refused sign-in
    ]
    browser = await sign_in_partner(gw)
    answers += [
        browser.answers[-1],  # the sign-in's redirect, which sets the cookie
        await browser.get("/console"),
        await browser.get("/console/instances"),
        await browser.get("/console/instances?q=head"),
        await browser.get(f"/console/instances/{id_instance}"),
        await browser.get(f"/console/instances/{id_instance}/live"),
        await browser.get("/console/instances/1"),  # no such instance: the 404 page
        await browser.post(f"/console/instances/{id_instance}/reboot", {"csrf": "wrong"}),  # the 403 page
    ]
    assert [a.status_code for a in answers] == [200, 303, 401, 303, 303, 200, 200, 200, 200, 404, 403]
    for answer in answers:
        assert_console_headers(answer)
    for answer in answers[5:]:
        assert answer.headers["content-type"].startswith("text/html")


# --- CSRF ------------------------------------------------------------------------------------------------------


async def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(gw: Gateway) -> None:
    browser = await sign_in_partner(gw)
    other = await sign_in_partner(gw)
    foreign_csrf = await other.csrf("/console/instances")
    before = await instance_count(gw)
    for refused in [
        {"engine": "sandbox", "name": "no-csrf"},
        {"engine": "sandbox", "name": "no-csrf", "csrf": ""},
        {"engine": "sandbox", "name": "no-csrf", "csrf": "wrong"},
        {"engine": "sandbox", "name": "no-csrf", "csrf": foreign_csrf},  # another session's
    ]:
        r = await browser.post("/console/instances", refused)
        assert r.status_code == 403, r.text
        assert "expired" in r.text
    r = await browser.post("/console/instances", {"name": "no-csrf"}, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    assert await instance_count(gw) == before
    assert not [i for i in await instances.list_all(gw.ctx) if i.name == "no-csrf"]
    # nor does sign-out without it sign out
    assert (await browser.post("/console/sign-out")).status_code == 403
    assert await is_signed_in(browser, "/console/instances")


async def test_the_csrf_token_in_the_htmx_header_or_the_form_field_is_accepted(gw: Gateway) -> None:
    browser = await sign_in_partner(gw)
    csrf = await browser.csrf("/console/instances")
    before = await instance_count(gw)
    # htmx sends the token in X-CSRF-Token (base.html's hx-headers), not in the form
    r = await browser.post(
        "/console/instances",
        {"engine": "sandbox", "name": "by-htmx"},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert r.status_code == 200, r.text
    r = await browser.post("/console/instances", {"engine": "sandbox", "name": "by-form", "csrf": csrf})
    assert r.status_code == 200, r.text
    assert await instance_count(gw) == before + 2
    names = {i.name for i in await instances.list_all(gw.ctx)}
    assert {"by-htmx", "by-form"} <= names


async def test_a_post_from_another_origin_is_refused(gw: Gateway) -> None:
    browser = await sign_in_partner(gw)
    csrf = await browser.csrf("/console/instances")
    before = await instance_count(gw)
    # the console is http://127.0.0.1:9: the same host and port over https is another origin, and so is
    # the same host on the scheme's default port
    refused = ["http://evil.example", "null", "http://127.0.0.1:9.evil.example"]
    refused += ["https://127.0.0.1:9", "http://127.0.0.1", "https://127.0.0.1"]
    for origin in refused:
        r = await browser.post(
            "/console/instances", {"engine": "sandbox", "name": "cross", "csrf": csrf}, origin=origin
        )
        assert r.status_code == 403, (origin, r.text)
    assert await instance_count(gw) == before
    # a sign-in form needs no cookie: the origin alone stops a login from another site
    for origin in ["http://evil.example", "https://127.0.0.1:9"]:
        stranger = Browser(gw)
        r = await stranger.post("/console/sign-in", {"partner_token": await partner_token(gw)}, origin=origin)
        assert r.status_code == 403 and session_cookie(r) is None and not stranger.cookie, origin
    # the same form from the console's own origin works
    r = await browser.post("/console/instances", {"engine": "sandbox", "name": "cross", "csrf": csrf})
    assert r.status_code == 200 and await instance_count(gw) == before + 1


@pytest.mark.parametrize("public_url", ["https://Console.Example", "https://console.example:443/gateway/"])
async def test_behind_a_tls_proxy_the_origin_is_the_public_urls(
    start_gateway: Any, make_settings: Any, public_url: str
) -> None:
    # the proxy forwards plain http to 127.0.0.1:9 (the test client's scheme and Host); the browser is on
    # the public URL
    gw: Gateway = await start_gateway(make_settings(public_url=public_url))
    token = await partner_token(gw)
    for refused in ["http://console.example", "http://127.0.0.1:9", "https://console.example:8443"]:
        r = await Browser(gw).post("/console/sign-in", {"partner_token": token}, origin=refused)
        assert r.status_code == 403, (refused, r.text)
    for accepted in ["https://console.example", "https://CONSOLE.example:443"]:
        r = await Browser(gw).post("/console/sign-in", {"partner_token": token}, origin=accepted)
        assert (r.status_code, r.headers.get("location")) == (303, "/console/instances"), (accepted, r.text)


async def test_without_a_public_url_the_origin_is_the_requests_own(
    start_gateway: Any, make_settings: Any
) -> None:
    gw: Gateway = await start_gateway(make_settings(public_url=""))
    token = await partner_token(gw)
    for refused in ["https://127.0.0.1:9", "http://127.0.0.1:80", "http://localhost:9"]:
        r = await Browser(gw).post("/console/sign-in", {"partner_token": token}, origin=refused)
        assert r.status_code == 403, (refused, r.text)
    r = await Browser(gw).post("/console/sign-in", {"partner_token": token}, origin="http://127.0.0.1:9")
    assert (r.status_code, r.headers.get("location")) == (303, "/console/instances"), r.text
    # what a browser asking for http://127.0.0.1 (port 80) sends
    r = await Browser(gw).post(
        "/console/sign-in", {"partner_token": token}, headers={"Host": "127.0.0.1"}, origin="http://127.0.0.1"
    )
    assert r.status_code == 303, r.text


# --- lifetimes and sign-out ---------------------------------------------------------------------------------


async def test_a_session_left_unused_for_the_idle_lifetime_ends(
    start_gateway: Any, make_settings: Any
) -> None:
    idle = 3
    gw = await gateway_with(start_gateway, make_settings(), console_idle_seconds=idle)
    browser = await sign_in_partner(gw)
    id_hash = hash_token(browser.cookie)
    # in use, it lasts past the idle lifetime
    busy_until = time.monotonic() + idle + 1
    while time.monotonic() < busy_until:
        assert await is_signed_in(browser, "/console/instances"), "ended while in use"
        await asyncio.sleep(0.25)  # a person clicking about
    # left alone: once the database says it has been unused that long, its next request is refused
    row = await gw.ctx.db.read(session_store.get, id_hash)
    assert row is not None

    async def unused_long_enough() -> bool:
        found = await gw.ctx.db.read(session_store.get, id_hash)
        assert found is not None
        return time.time() - found.last_seen_at > idle

    await poll(unused_long_enough, timeout=30, what="the session to be idle for its lifetime")
    assert not await is_signed_in(browser, "/console/instances")
    assert await gw.ctx.db.read(session_store.get, id_hash) is None  # and it is gone from the database


async def test_a_session_ends_at_its_absolute_lifetime_however_busy(
    start_gateway: Any, make_settings: Any
) -> None:
    lifetime = 2
    gw = await gateway_with(start_gateway, make_settings(), console_max_seconds=lifetime)
    started = time.monotonic()
    browser = await sign_in_partner(gw)
    morsel = session_cookie(browser.answers[-1])
    assert morsel is not None and morsel["max-age"] == str(lifetime)  # the browser drops it then too

    async def ended() -> bool:
        return not await is_signed_in(browser, "/console/instances")

    await poll(ended, timeout=30, what="the session's absolute lifetime to end it")
    assert time.monotonic() - started >= lifetime  # busy all along, it lasted its lifetime and no longer
    assert await gw.ctx.db.read(session_store.get, hash_token(browser.cookie)) is None


async def test_sessions_no_browser_comes_back_with_are_swept(gw: Gateway) -> None:
    browser = await sign_in_partner(gw)
    id_hash = hash_token(browser.cookie)
    assert (await sweeper.sweep_once(gw.ctx))["console_sessions"] == 0
    assert await gw.ctx.db.read(session_store.get, id_hash) is not None
    # an idle lifetime later, the session is gone whether its browser comes back or not
    later = time.time() + gw.ctx.settings.console_idle_seconds + 1
    assert (await sweeper.sweep_once(gw.ctx, now=later))["console_sessions"] == 1
    assert await gw.ctx.db.read(session_store.get, id_hash) is None


async def test_sign_out_ends_the_session(gw: Gateway) -> None:
    browser = await sign_in_partner(gw)
    old = browser.copy()
    r = await browser.form("/console/instances", "/console/sign-out")
    assert (r.status_code, r.headers["location"]) == (303, "/console")
    cleared = session_cookie(r)
    assert cleared is not None and cleared["max-age"] == "0" and cleared["path"] == "/console"
    assert await gw.ctx.db.read(session_store.get, hash_token(old.cookie)) is None
    # the old cookie, presented again, is sent back to the sign-in page
    r = await old.get("/console/instances")
    assert (r.status_code, r.headers["location"]) == (303, ENDED)
    r = await old.get("/console")
    assert r.status_code == 200 and 'name="partner_token"' in r.text


# --- revocation ------------------------------------------------------------------------------------------------


async def test_rotating_the_partner_token_ends_the_partner_sessions(gw: Gateway) -> None:
    old_token = await partner_token(gw)
    first, second = await sign_in_partner(gw), await sign_in_partner(gw)
    id_instance, token = await gw.create_instance()
    one = await sign_in_instance(gw, id_instance, token)
    new_token = await partner.rotate(gw.ctx)  # as `statusgate partner-token --rotate` does
    assert new_token != old_token
    assert not await is_signed_in(first, "/console/instances")
    assert not await is_signed_in(second, "/console/instances")
    # a one-instance session is not tied to the partner token
    assert await is_signed_in(one, f"/console/instances/{id_instance}")
    # the old token no longer signs in (once this node's cache of its hash, under a second, has gone)

    async def old_refused() -> bool:
        r = await Browser(gw).post("/console/sign-in", {"partner_token": old_token})
        return r.status_code == 401

    await poll(old_refused, timeout=10, what="the old partner token to be refused")
    await sign_in_partner(gw, new_token)


async def test_a_changed_partner_token_setting_ends_the_sessions_opened_with_the_old_one(
    start_gateway: Any, make_settings: Any
) -> None:
    # one API node signs in with the token the setting fixes; another node (the same database) comes up
    # with a new value of the setting: the session opened with the old value ends there
    first = make_settings(partner_token="a" * 40)
    gw_a = await start_gateway(first)
    browser = await sign_in_partner(gw_a, "a" * 40)
    from statusgate.api.app import build_app
    from statusgate.wiring.core import Core

    core = Core(first.model_copy(update={"partner_token": "b" * 40}))
    await core.open()
    try:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(core.ctx)), base_url=ORIGIN)
        async with client:
            node_b = Gateway(core.ctx, gw_a.worker, client)
            assert not await is_signed_in(Browser(node_b, browser.cookie), "/console/instances")
            await sign_in_partner(node_b, "b" * 40)
    finally:
        await core.close()


async def test_rotating_an_instance_token_ends_that_instances_sessions(gw: Gateway) -> None:
    x, x_token = await gw.create_instance(name="x")
    y, y_token = await gw.create_instance(name="y")
    on_x, on_y = await sign_in_instance(gw, x, x_token), await sign_in_instance(gw, y, y_token)
    on_all = await sign_in_partner(gw)
    # by the CLI (`statusgate instance rotate-token`) or the API's service
    await instances.rotate_token(gw.ctx, x)
    assert not await is_signed_in(on_x, f"/console/instances/{x}")
    assert await is_signed_in(on_y, f"/console/instances/{y}")
    assert await is_signed_in(on_all, "/console/instances")

    # by the console, from a partner session: y's sessions end, the partner's stays
    r = await on_all.form(f"/console/instances/{y}", f"/console/instances/{y}/rotate-token")
    assert r.status_code == 200, r.text
    (new_y,) = tokens_on(r.text)
    assert new_y != y_token
    assert not await is_signed_in(on_y, f"/console/instances/{y}")
    assert await is_signed_in(on_all, "/console/instances")
    assert not await token_works(gw, y, y_token) and await token_works(gw, y, new_y)

    # by the console, from y's own session: the browser that rotated it stays in, on a new cookie
    on_y = await sign_in_instance(gw, y, new_y)
    stale = on_y.copy()
    r = await on_y.form(f"/console/instances/{y}", f"/console/instances/{y}/rotate-token")
    assert r.status_code == 200, r.text
    (newer_y,) = tokens_on(r.text)
    assert on_y.cookie and on_y.cookie != stale.cookie
    assert await is_signed_in(on_y, f"/console/instances/{y}")
    assert not await is_signed_in(stale, f"/console/instances/{y}")
    assert await token_works(gw, y, newer_y)


async def test_deleting_an_instance_ends_its_sessions(gw: Gateway) -> None:
    x, x_token = await gw.create_instance(name="gone-by-console")
    y, y_token = await gw.create_instance(name="gone-by-service")
    on_x, on_y = await sign_in_instance(gw, x, x_token), await sign_in_instance(gw, y, y_token)
    on_all = await sign_in_partner(gw)
    r = await on_all.form(f"/console/instances/{x}", f"/console/instances/{x}/delete")
    assert (r.status_code, r.headers["location"]) == (303, "/console/instances")
    assert not await is_signed_in(on_x, f"/console/instances/{x}")
    assert await is_signed_in(on_y, f"/console/instances/{y}")
    await partner.delete(gw.ctx, y)  # as deleteInstanceAccount does
    assert not await is_signed_in(on_y, f"/console/instances/{y}")
    assert await is_signed_in(on_all, "/console/instances")
    # nothing of the deleted instances' sessions is left behind
    for cookie in (on_x.cookie, on_y.cookie):
        assert await gw.ctx.db.read(session_store.get, hash_token(cookie)) is None
    # and their old credentials sign in no more
    r = await Browser(gw).post("/console/sign-in", {"id_instance": str(x), "api_token": x_token})
    assert r.status_code == 401


# --- scope ----------------------------------------------------------------------------------------------------


async def test_a_one_instance_session_cannot_reach_another_instance_or_the_list(gw: Gateway) -> None:
    x, x_token = await gw.create_instance(name="mine")
    y, y_token = await gw.create_instance(name="theirs", authorized=False)
    y_before = await instances.get(gw.ctx, y)
    before = await instance_count(gw)
    browser = await sign_in_instance(gw, x, x_token)
    csrf = await browser.csrf(f"/console/instances/{x}")
    # another instance is answered as one that does not exist: the same page, word for word
    missing = await browser.get("/console/instances/1000000001")
    assert missing.status_code == 404
    for page in [f"/console/instances/{y}", f"/console/instances/{y}/live"]:
        r = await browser.get(page)
        assert r.status_code == 404 and r.text == missing.text, page
        assert "theirs" not in r.text
    for action in ["scan", "logout", "reboot", "rotate-token", "settings", "queue/clear"]:
        r = await browser.post(f"/console/instances/{y}/{action}", {"csrf": csrf})
        assert r.status_code == 404, (action, r.text)
    assert await instances.get(gw.ctx, y) == y_before  # nothing of it changed
    assert await token_works(gw, y, y_token)
    # the list sends it to its own instance, and it lists nothing
    r = await browser.get("/console/instances")
    assert (r.status_code, r.headers["location"]) == (303, f"/console/instances/{x}")
    r = await browser.get("/console/instances?q=theirs")
    assert r.status_code == 303 and "theirs" not in r.text
    # creating and deleting are the partner's alone
    r = await browser.post("/console/instances", {"engine": "sandbox", "name": "sneaky", "csrf": csrf})
    assert r.status_code == 403
    for target in (x, y):
        r = await browser.post(f"/console/instances/{target}/delete", {"csrf": csrf})
        assert r.status_code == 403, target
    assert await instance_count(gw) == before
    own = await browser.get(f"/console/instances/{x}")
    assert own.status_code == 200 and "theirs" not in own.text and str(y) not in own.text


# --- secrets ---------------------------------------------------------------------------------------------------


def assert_no_secret(answers: Iterable[httpx.Response], secrets: list[str]) -> None:
    for answer in answers:
        where = f"{answer.request.method} {answer.request.url} ({answer.status_code})"
        for secret in secrets:
            assert secret not in str(answer.request.url), where
            assert secret not in answer.headers.get("location", ""), where
            assert secret not in answer.text, where


async def test_tokens_never_appear_in_pages_or_urls_but_a_new_one_once(gw: Gateway) -> None:
    token = await partner_token(gw)
    browser = await sign_in_partner(gw)
    r = await browser.form(
        "/console/instances", "/console/instances", {"engine": "sandbox", "name": "secretive"}
    )
    assert r.status_code == 200, r.text
    (created,) = tokens_on(r.text)  # the page right after creation shows the new token, once
    assert r.text.count(created) == 1
    (made,) = [i for i in await instances.list_all(gw.ctx) if i.name == "secretive"]
    x = made.id_instance
    assert await token_works(gw, x, created)
    assert f"/console/instances/{x}/" in r.text  # it is that instance's page
    shown_once = [r]

    pages = [
        "/console",
        "/console/instances",
        "/console/instances?q=secretive",
        f"/console/instances/{x}",
        f"/console/instances/{x}/live",
    ]
    for page in pages:
        assert (await browser.get(page)).status_code in (200, 303)
    r = await browser.form(f"/console/instances/{x}", f"/console/instances/{x}/rotate-token")
    assert r.status_code == 200, r.text
    (rotated,) = tokens_on(r.text)
    assert rotated != created and r.text.count(rotated) == 1 and created not in r.text
    shown_once.append(r)
    for page in pages:
        await browser.get(page)
    # the instance's own session sees no token either
    own = await sign_in_instance(gw, x, rotated)
    for page in [f"/console/instances/{x}", f"/console/instances/{x}/live", "/console/instances"]:
        await own.get(page)
    await own.form(f"/console/instances/{x}", "/console/sign-out")

    everything = browser.answers + own.answers
    assert_no_secret(everything, [token])
    assert_no_secret([a for a in everything if a not in shown_once], [created, rotated])
    for answer in everything:
        assert not tokens_on(answer.headers.get("location", ""))
        if answer not in shown_once:
            assert not tokens_on(answer.text), answer.request.url


# --- sign-in failures ---------------------------------------------------------------------------------------


async def test_wrong_credentials_show_an_error_and_open_no_session(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance()
    wrong_partner = "w" * 64
    wrong_token = "0" * 50
    for form in [
        {"partner_token": wrong_partner},
        {"id_instance": str(id_instance), "api_token": wrong_token},
        {"id_instance": "1000000001", "api_token": token},  # no such instance: the same answer
        {"id_instance": "12ab", "api_token": token},
        {},
    ]:
        browser = Browser(gw)
        r = await browser.post("/console/sign-in", form)
        assert r.status_code == 401, (form, r.text)
        assert 'role="alert"' in r.text and "Those credentials are wrong." in r.text
        assert session_cookie(r) is None and not browser.cookie
        # what was typed is not echoed back
        assert wrong_partner not in r.text and wrong_token not in r.text and token not in r.text


async def test_failed_sign_ins_are_throttled(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings(partner_failures_per_minute=3))
    id_instance, token = await gw.create_instance()
    failures = [
        {"partner_token": "w" * 64},
        {"id_instance": str(id_instance), "api_token": "0" * 50},
        {"partner_token": "v" * 64},
    ]
    for form in failures:
        assert (await Browser(gw).post("/console/sign-in", form)).status_code == 401
    # past the limit every sign-in from this address is refused for the minute, the right token too
    for form in [
        {"partner_token": "w" * 64},
        {"partner_token": await partner_token(gw)},
        {"id_instance": str(id_instance), "api_token": token},
    ]:
        browser = Browser(gw)
        r = await browser.post("/console/sign-in", form)
        assert r.status_code == 429, r.text
        assert 'role="alert"' in r.text and "Too many wrong attempts" in r.text
        assert session_cookie(r) is None and not browser.cookie
        assert_console_headers(r)


async def test_the_partner_api_and_the_sign_in_share_one_count(
    start_gateway: Any, make_settings: Any
) -> None:
    gw: Gateway = await start_gateway(make_settings(partner_failures_per_minute=3))
    # two wrong tokens at /partner/*, one at the sign-in: the limit is reached across both doors
    for _ in range(2):
        r = await gw.client.get(f"/partner/getInstances/{'w' * 64}")
        assert r.json() == {"code": 401, "description": "Unauthorized"}
    assert (await Browser(gw).post("/console/sign-in", {"partner_token": "v" * 64})).status_code == 401
    r = await Browser(gw).post("/console/sign-in", {"partner_token": await partner_token(gw)})
    assert r.status_code == 429, r.text
    r = await gw.client.get(f"/partner/getInstances/{await partner_token(gw)}")
    assert r.json() == {"code": 429, "description": "Too Many Requests"}


# --- GET changes nothing -----------------------------------------------------------------------------------------


async def test_get_never_changes_state(gw: Gateway) -> None:
    x, x_token = await gw.create_instance(name="stays", authorized=False)
    before = await instances.get(gw.ctx, x)
    browser = await sign_in_partner(gw)
    csrf = await browser.csrf("/console/instances")
    for action in [
        "/console/sign-out",
        f"/console/instances/{x}/delete",
        f"/console/instances/{x}/rotate-token",
        f"/console/instances/{x}/scan",
        f"/console/instances/{x}/logout",
        f"/console/instances/{x}/reboot",
        f"/console/instances/{x}/queue/clear",
        f"/console/instances/{x}/settings?delaySendMessagesMilliseconds=9000",
    ]:
        r = await browser.get(action, headers={"X-CSRF-Token": csrf})
        # routes that change something take POST only: a GET is refused rather than done
        assert (r.status_code, r.headers.get("allow")) == (405, "POST"), (action, r.status_code)
    assert await is_signed_in(browser, "/console/instances")
    assert await instances.get(gw.ctx, x) == before
    assert await token_works(gw, x, x_token)
    # nor does a GET sign in, whatever its query says
    stranger = Browser(gw)
    r = await stranger.get(f"/console/sign-in?partner_token={await partner_token(gw)}")
    assert r.status_code == 405 and not stranger.cookie
    r = await stranger.get(f"/console?partner_token={await partner_token(gw)}")
    assert r.status_code == 200 and not stranger.cookie and session_cookie(r) is None


async def test_a_method_a_console_path_does_not_take_is_a_405_page(gw: Gateway) -> None:
    x, _ = await gw.create_instance(name="methods")
    stranger = Browser(gw)
    r = await stranger.get("/console/sign-out")  # a form's address, typed into the address bar
    assert (r.status_code, r.headers.get("allow")) == (405, "POST"), r.text
    assert r.headers["content-type"].startswith("text/html") and "Back to the console" in r.text
    assert "Sign out</button>" not in r.text and session_cookie(r) is None
    assert_console_headers(r)
    browser = await sign_in_partner(gw)
    answers = {
        # signed in, the page has the console's header, as its other error pages do
        ("GET", f"/console/instances/{x}/delete"): "POST",
        ("HEAD", f"/console/instances/{x}/reboot"): "POST",
        # every method the path takes, though two routes take them
        ("PUT", "/console/instances"): "GET, HEAD, POST",
        ("DELETE", f"/console/instances/{x}/post"): "GET, HEAD, POST",
        ("POST", f"/console/instances/{x}/live"): "GET, HEAD",
        ("PATCH", "/console/static/console.css"): "GET, HEAD",
        # whether the instance exists or not: the answer says nothing of it
        ("GET", "/console/instances/1/scan"): "POST",
    }
    for (method, path), allow in answers.items():
        r = await browser.request(method, path, data={"csrf": "x"} if method == "POST" else None)
        assert (r.status_code, r.headers.get("allow")) == (405, allow), (method, path, r.text)
        assert_console_headers(r)
        if method != "HEAD":
            assert r.headers["content-type"].startswith("text/html")
            assert "Sign out</button>" in r.text, (method, path)
    assert await instances.get(gw.ctx, x) is not None
    # an OPTIONS is still the app's preflight, and a path outside the console still answers Green's 404
    assert (await browser.request("OPTIONS", "/console/sign-out")).status_code == 204
    r = await gw.client.post("/health")
    assert r.status_code == 404 and r.json()["message"] == "Not Found"


async def test_a_form_past_console_form_max_bytes_is_refused(start_gateway: Any, make_settings: Any) -> None:
    gw: Gateway = await start_gateway(make_settings(console_form_max_bytes=4096))
    token = await partner_token(gw)
    browser = Browser(gw)
    padded = await browser.post("/console/sign-in", {"partner_token": token, "pad": "x" * 4096})
    assert padded.status_code == 413
    assert not browser.cookie
    await sign_in_partner(gw, token)  # the same form within the limit


async def test_an_address_under_the_console_that_is_no_page_is_the_consoles_404_page(gw: Gateway) -> None:
    stranger = Browser(gw)
    for method, path in [
        ("GET", "/console/nope"),
        ("POST", "/console/instances/1/nope"),
        ("PUT", "/console/x/y"),
    ]:
        r = await stranger.request(method, path, data={"csrf": "x"} if method == "POST" else None)
        assert r.status_code == 404, (method, path)
        assert r.headers["content-type"].startswith("text/html") and "No such page." in r.text
        assert_console_headers(r)
    browser = await sign_in_partner(gw)
    r = await browser.get("/console/instances/999999/nope")
    assert r.status_code == 404 and "Sign out</button>" in r.text
    r = await stranger.get("/console/")
    assert (r.status_code, r.headers.get("location")) == (307, "/console")
    # the pages themselves and the preflight are unchanged
    assert (await browser.get("/console/instances")).status_code == 200
    assert (await browser.request("OPTIONS", "/console/nope")).status_code == 204
