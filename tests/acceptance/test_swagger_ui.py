"""``/docs`` in a real browser: Debian's Chromium, driven by Playwright, renders Swagger UI over the server's
own OpenAPI document, with every operation of the method table and of the Partner API (on by default), and
asks nothing of any other host.

Chromium runs with its background networking off and every host name mapped to "not found", and every
request the page makes goes through a route that lets only this server's own URLs through (the others
are refused and recorded).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import Route, sync_playwright

from statusgate.api.methods import METHODS
from statusgate.api.openapi import PARTNER_TAG
from statusgate.api.partner import PARTNER_METHODS
from tests.support import ServerProcess, base_env

CHROMIUM_FLAGS = [
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # no name is ever looked up; the server is an IP literal
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found is not None, (
        "the browser tests need Chromium: `make test` installs it (apt-get install chromium)"
    )
    return found


def test_swagger_ui_shows_every_operation_from_this_server_alone(tmp_path: Path) -> None:
    elsewhere: list[str] = []
    with ServerProcess(base_env(tmp_path / "data"), tmp_path / "server.log") as server:
        own = server.url + "/"

        def only_this_server(route: Route) -> None:
            url = route.request.url
            if url.startswith(own):
                route.continue_()
            else:
                elsewhere.append(url)
                route.abort()

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page()
                page.route("**/*", only_this_server)
                page.goto(server.url + "/docs")
                page.wait_for_selector(".opblock-summary-path", timeout=60_000)
                title = page.locator(".info .title").inner_text()
                paths = page.locator(".opblock-summary-path").all_inner_texts()
                sections = page.locator(".opblock-tag").all_inner_texts()
            finally:
                browser.close()
    assert title.startswith("statusgate"), title
    operations = [m.name for m in METHODS.values() for _ in m.verbs] + list(PARTNER_METHODS)
    shown = sorted(p.split("/")[2] for p in paths)
    assert shown == sorted(operations), shown
    expected_sections = {m.section for m in METHODS.values()} | {PARTNER_TAG}
    assert {s.split("\n")[0] for s in sections} == expected_sections, sections
    assert elsewhere == [], elsewhere
