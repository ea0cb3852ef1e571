"""What the console's browser driver (console_browser_driver.py) records and how it steps: every request,
console error, page error and dialog of the pages, the steps passed and failed, pages wider than the screen,
and the small moves a test makes in Chromium (going to a page, tabbing to a control, waiting with no reload).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import (
    ConsoleMessage,
    Dialog,
    Frame,
    Locator,
    Page,
    Request,
    Response,
    Route,
    ViewportSize,
    expect,
)

#: generous deadlines: a slow shared machine fails by being slow, never by a tight timing
WAIT_MS = 30_000
NAVIGATION_MS = 60_000
PHONE: ViewportSize = {"width": 390, "height": 844}
DESK: ViewportSize = {"width": 1280, "height": 900}
STATUS_URL = re.compile(r"/console/instances/\d+/statuses/([^/?#]+)$")
#: Chromium's console line for a page answered 4xx/5xx: expected where a step asks for such an answer
FAILED_LOAD = "Failed to load resource: the server responded with a status of "


class _PhaseStopped(Exception):
    """A step of a phase failed (recorded): the rest of the phase is skipped."""


@dataclass
class Flow:
    """What the phases learn and hand on."""

    url: str
    env: dict[str, str]
    partner_token: str
    outdir: Path
    instance: int | None = None
    api_token: str | None = None
    id_message: str | None = None
    other: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """Everything the pages do that the test judges: requests, console errors, page errors, dialogs, pages
    that scroll sideways, and which steps passed or failed."""

    def __init__(self, own: str, outdir: Path) -> None:
        self.own = own
        self.outdir = outdir
        self.steps: list[str] = []
        self.failures: list[dict[str, str]] = []
        self.skipped: list[str] = []
        self.stopped: set[str] = set()
        self.requests = 0
        self.elsewhere: list[str] = []
        self.console: list[dict[str, str]] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.sideways: list[dict[str, Any]] = []
        self.shots: list[str] = []
        #: URLs a step asked to be answered 4xx (their "Failed to load resource" line is expected)
        self.expected_failures: set[str] = set()

    # --- what the page does ------------------------------------------------------------------------

    def watch(self, page: Page) -> None:
        page.on("request", self._request)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        page.on("dialog", self._dialog)
        page.set_default_timeout(WAIT_MS)
        page.set_default_navigation_timeout(NAVIGATION_MS)

    def _request(self, request: Request) -> None:
        self.requests += 1
        if not request.url.startswith(self.own) and not request.url.startswith("data:"):
            self.elsewhere.append(request.url)

    def guard(self, route: Route) -> None:
        """Nothing beyond this server is even attempted (it is recorded by ``_request`` as well)."""
        if route.request.url.startswith(self.own):
            route.continue_()
        else:
            route.abort()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.console.append({"text": message.text, "url": where})

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def console_errors(self) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """(unexpected, expected): a failed load is expected only for a URL a step asked a 4xx of."""
        unexpected: list[dict[str, str]] = []
        expected: list[dict[str, str]] = []
        for entry in self.console:
            asked = entry["text"].startswith(FAILED_LOAD + "4") and entry["url"] in self.expected_failures
            (expected if asked else unexpected).append(entry)
        return unexpected, expected

    # --- pages ---------------------------------------------------------------------------------------

    def shot(self, page: Page, name: str) -> None:
        page.wait_for_load_state("load")
        path = self.outdir / f"{len(self.shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.shots.append(path.name)

    def fits(self, page: Page, name: str) -> None:
        """At the phone's width the page does not scroll sideways. Recorded, not fatal: the steps after it
        still run (the test fails on any entry of ``sideways``), with the elements that stick out named."""
        page.wait_for_load_state("load")  # measured with the stylesheet applied, never before it came
        scroll, client, wide = page.evaluate(
            """() => {
                const root = document.documentElement, limit = root.clientWidth;
                const wide = [...document.querySelectorAll("body *")]
                    .filter(e => e.getBoundingClientRect().right > limit + 0.5)
                    .slice(-6)
                    .map(e => `${e.tagName.toLowerCase()}${e.getAttribute("class") ? "." + e.getAttribute("class") : ""}`
                              + ` right=${Math.round(e.getBoundingClientRect().right)}`);
                return [root.scrollWidth, limit, wide];
            }"""
        )
        if scroll > client:
            self.sideways.append(
                {"page": name, "url": page.url, "scrollWidth": scroll, "clientWidth": client, "wide": wide}
            )
            self.failures.append(
                {"step": f"{name} fits {client} px", "error": f"scrollWidth {scroll}; sticking out: {wide}"}
            )

    # --- steps and phases ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            self.failures.append({"step": name, "error": _describe(exc)})
            raise _PhaseStopped from exc
        self.steps.append(name)

    def phase(self, name: str, body: Callable[[], None], needs: tuple[str, ...] = ()) -> None:
        missing = [need for need in needs if need in self.stopped or need in self.skipped]
        if missing:
            self.skipped.append(name)
            self.failures.append({"step": f"phase {name!r}", "error": f"skipped: it needs {missing}"})
            return
        try:
            body()
        except _PhaseStopped:
            self.stopped.add(name)
        except Exception as exc:  # a failure outside a step: still this phase's, still recorded
            self.failures.append({"step": f"phase {name!r}", "error": _describe(exc)})
            self.stopped.add(name)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= 2000 else text[:2000] + " …"


# --- helpers over a page -----------------------------------------------------------------------------------


def goto(page: Page, url: str, *, status: int = 200) -> Response:
    response = page.goto(url)
    assert response is not None, f"no answer for {url}"
    assert response.status == status, f"GET {url} answered {response.status}, expected {status}"
    return response


def loaded(image: Locator) -> None:
    """The picture is there and decoded (not a broken image)."""
    expect(image).to_be_visible()
    image.evaluate("img => img.decode()")
    width = image.evaluate("img => img.naturalWidth")
    assert width > 0, f"the image {image} did not load"


def tab_to(page: Page, target: Locator, limit: int = 80) -> None:
    """Move the focus to ``target`` with the Tab key alone (the order the page gives)."""
    expect(target).to_be_attached()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{limit} presses of Tab never reached {target}")


def no_navigation_while(page: Page, navigations: list[str], wait: Callable[[], None]) -> None:
    """``wait`` succeeds while the page stays where it is: a live section, not a reload."""
    before = list(navigations)
    wait()
    assert navigations == before, f"the page was reloaded or left: {navigations[len(before) :]}"


def no_live_script(page: Page) -> None:
    """No inline script on the page, and nothing that runs script from an attribute."""
    assert page.locator("script:not([src])").count() == 0, "an inline <script> on " + page.url
    active = page.locator(
        '[href^="javascript:" i], [src^="javascript:" i], [action^="javascript:" i], [formaction^="javascript:" i]'
    )
    assert active.count() == 0, f"a javascript: URL in an attribute on {page.url}"


def participant(page: Page, number: str) -> Locator:
    """A contact's checkbox on the post page, labelled ``<name> (<number>)``."""
    return page.get_by_role("checkbox", name=re.compile(r"\(\+?" + number + r"\)"))


def main_frame_navigations(page: Page) -> list[str]:
    """The URLs the page's main frame goes to from now on (a live section's refresh is not one)."""
    navigations: list[str] = []

    def navigated(frame: Frame) -> None:
        if frame == page.main_frame:
            navigations.append(frame.url)

    page.on("framenavigated", navigated)
    return navigations


# --- the phases --------------------------------------------------------------------------------------------
