"""The console in a real browser, run by ``test_console_browser.py`` inside ``unshare -n`` (a network
namespace with nothing but loopback): ``python -m tests.acceptance.console_browser_driver OUTDIR``.

It brings loopback up, starts an ``api`` + ``worker`` pair on one SQLite data dir, and drives Debian's
Chromium through the operator's whole path (sign in with the partner token, create a sandbox instance, link
it, post a picture to chosen contacts, watch it delivered and read, settings, sign out, the one-instance
sign-in), the keyboard-only path at a phone's width, and the CLI beside it. Every request the pages make,
every console error, page error and dialog is recorded; every page visited is saved as ``OUTDIR/NN-*.png``.

The flow is split in phases: a phase stops at its first failed step, the phases that do not need it still
run, so one missing page does not hide the state of the others. Prints one JSON summary on stdout (the test
asserts on it); the servers' logs are ``OUTDIR/server.api.log`` and ``OUTDIR/server.worker.log``.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from playwright.sync_api import (
    Browser,
    expect,
    sync_playwright,
)

from tests.acceptance.console_browser_support import (
    DESK,
    NAVIGATION_MS,
    PHONE,
    STATUS_URL,
    WAIT_MS,
    Flow,
    Recorder,
    goto,
    loaded,
    main_frame_navigations,
    no_live_script,
    no_navigation_while,
    participant,
    tab_to,
)
from tests.acceptance.test_swagger_ui import CHROMIUM_FLAGS, chromium
from tests.integration.fuzz_driver import loopback_up
from tests.support import ServerPair, base_env, cli, cli_json, jpeg_bytes, wait_for

#: untrusted text put where a tenant or a WhatsApp user can put it; each must come back as literal text
SCRIPT_NAME = "<script>alert(1)</script>"
SCRIPT_CONTACT = "<script>alert(2)</script>"
SCRIPT_CAPTION = "<script>alert(3)</script>"
SCRIPT_WEBHOOK = "javascript:alert(4)"
OTHER_NAME = "Other tenant's instance"

ANN = "79990000001@c.us"
SCRIPTED = "79990000002@c.us"
CAT = "79990000003@c.us"
CONTACTS = [
    {"id": ANN, "name": "Ann", "contactName": "Ann", "inAddressBook": True},
    {"id": SCRIPTED, "name": SCRIPT_CONTACT, "contactName": SCRIPT_CONTACT, "inAddressBook": True},
    {"id": CAT, "name": "Cat", "contactName": "Cat", "inAddressBook": True},
]
INCOMING_TEXT = "Incoming status from Ann"
KEYBOARD_TEXT = "Typed by keyboard alone"


def operator_path(browser: Browser, rec: Recorder, flow: Flow) -> None:
    """The desk-sized window: every phase of the operator's path, in one browser context."""
    context = browser.new_context(viewport=DESK)
    context.route("**/*", rec.guard)
    page = context.new_page()
    rec.watch(page)
    navigations = main_frame_navigations(page)
    console = flow.url + "/console"

    def sign_in_and_link() -> None:
        with rec.step("the sign-in page: one form, both ways in"):
            response = goto(page, console)
            assert "frame-ancestors 'none'" in response.headers.get("content-security-policy", "")
            for label in ("Partner token", "Instance ID", "API token"):
                expect(page.get_by_label(label, exact=True)).to_be_visible()
            expect(page.get_by_role("button", name="Sign in", exact=True)).to_have_count(1)
            rec.shot(page, "sign-in")
        with rec.step("sign in with the partner token"):
            page.get_by_label("Partner token", exact=True).fill(flow.partner_token)
            page.get_by_role("button", name="Sign in", exact=True).click()
            expect(page).to_have_url(console + "/instances")
            expect(page.get_by_role("heading", name="Instances", exact=True)).to_be_visible()
            rec.shot(page, "instances-empty")
        with rec.step("create a sandbox instance named <script>alert(1)</script>"):
            page.get_by_label("Engine", exact=True).select_option("sandbox")
            page.get_by_label("Name", exact=True).fill(SCRIPT_NAME)
            page.get_by_role("button", name="Create instance", exact=True).click()
            token = page.locator("code[data-token]")
            expect(token).to_have_text(re.compile(r"^[0-9a-f]{50}$"))
            flow.api_token = token.inner_text()
            flow.instance = int(page.locator("h1 small").inner_text().strip())
            expect(page.locator("h1")).to_contain_text(SCRIPT_NAME)  # the name as literal text
            no_live_script(page)
            rec.shot(page, "instance-created")
        with rec.step("see the QR code while notAuthorized"):
            expect(page.locator("[data-state]")).to_have_attribute("data-state", "notAuthorized")
            loaded(page.get_by_role("img", name=re.compile("QR")))
        with rec.step("the list shows the <script> name as text; its page shows the token no more"):
            goto(page, console + "/instances")
            link = page.get_by_role("link", name=SCRIPT_NAME, exact=True)
            expect(link).to_be_visible()
            no_live_script(page)
            rec.shot(page, "instances")
            link.click()
            expect(page).to_have_url(f"{console}/instances/{flow.instance}")
            expect(page.locator("code[data-token]")).to_have_count(0)
            assert flow.api_token is not None and flow.api_token not in page.content()
        with rec.step("the live section follows the account without a reload (CLI scan, then CLI logout)"):
            state = page.locator("[data-state]")
            qr = page.get_by_role("img", name=re.compile("QR"))
            cli(flow.env, "sandbox", "scan", str(flow.instance))
            no_navigation_while(
                page, navigations, lambda: expect(state).to_have_attribute("data-state", "authorized")
            )
            expect(qr).to_have_count(0)
            cli(flow.env, "sandbox", "logout", str(flow.instance))
            no_navigation_while(
                page, navigations, lambda: expect(state).to_have_attribute("data-state", "notAuthorized")
            )
            loaded(qr)
        with rec.step("import contacts with the CLI, one named <script>alert(2)</script>"):
            book = flow.outdir / "contacts.json"
            book.write_text(json.dumps(CONTACTS))
            cli(flow.env, "sandbox", "contacts", "import", str(flow.instance), str(book))
        with rec.step("Simulate scan → authorized without a reload"):
            with page.expect_navigation():  # the form's own POST and its redirect back
                page.get_by_role("button", name="Simulate scan", exact=True).click()
            flow.facts["state right after the scan"] = page.locator("[data-state]").get_attribute(
                "data-state"
            )
            no_navigation_while(
                page,
                navigations,
                lambda: expect(page.locator("[data-state]")).to_have_attribute("data-state", "authorized"),
            )
            expect(page.get_by_role("img", name=re.compile("QR"))).to_have_count(0)
            rec.shot(page, "authorized")

    def post_picture() -> None:
        with rec.step("the post page: its fields, the contacts as literal text"):
            goto(page, f"{console}/instances/{flow.instance}")
            page.get_by_role("link", name="Post a status", exact=True).click()
            expect(page).to_have_url(f"{console}/instances/{flow.instance}/post")
            for label in ("Text", "Caption", "File", "Link", "Background colour", "Font"):
                expect(page.get_by_label(label, exact=True)).to_be_attached()
            expect(page.get_by_role("checkbox", name="Send as a voice status")).to_be_visible()
            expect(page.get_by_role("group", name="Participants")).to_be_visible()
            # the name as literal text ("/" escaped: Playwright hands the pattern on as /…/)
            named = re.escape(SCRIPT_CONTACT).replace("/", r"\/")
            scripted = page.get_by_role("checkbox", name=re.compile("^" + named + r" \(\+?79990000002\)$"))
            expect(scripted).to_be_visible()
            no_live_script(page)
            rec.shot(page, "post")
        with rec.step("post a picture from a file, caption <script>alert(3)</script>, to two contacts"):
            picture = flow.outdir / "picture.jpg"
            picture.write_bytes(jpeg_bytes(360, 640))
            page.get_by_label("Caption", exact=True).fill(SCRIPT_CAPTION)
            page.get_by_label("File", exact=True).set_input_files(str(picture))
            participant(page, "79990000001").check()
            participant(page, "79990000002").check()
            page.get_by_role("button", name="Post status", exact=True).click()
            page.wait_for_url(STATUS_URL, timeout=NAVIGATION_MS)
            found = STATUS_URL.search(page.url)
            assert found is not None
            flow.id_message = unquote(found.group(1))
            rec.shot(page, "status-posted")
        with rec.step("the status reaches delivered by itself; what was sent is shown"):
            status = page.locator("[data-status]")
            no_navigation_while(
                page, navigations, lambda: expect(status).to_have_attribute("data-status", "delivered")
            )
            sent = page.locator("section", has=page.get_by_role("heading", name="What was sent"))
            loaded(sent.locator(".phone img").first)
            expect(page.locator("main")).to_contain_text(SCRIPT_CAPTION)  # the caption as literal text
            viewers = page.locator("table.viewers tbody tr")
            expect(viewers).to_have_count(2)
            expect(page.locator('svg.views-chart circle[data-series="delivered"]')).not_to_have_count(0)
            no_live_script(page)
            rec.shot(page, "status-delivered")
        with rec.step("the simulated network received it once from each chosen contact (CLI)"):
            rows = cli_json(flow.env, "sandbox", "deliveries", str(flow.instance))
            mine = [row for row in rows if row["idMessage"] == flow.id_message]
            assert sorted(row["participant"] for row in mine) == [ANN, SCRIPTED], rows
            assert all(row["deliveries"] == 1 for row in mine), rows
        with rec.step("a contact views it (statusgate sandbox view)"):
            assert flow.id_message is not None
            cli(flow.env, "sandbox", "view", str(flow.instance), flow.id_message, "--participant", ANN)
        with rec.step("the viewer shows as read and the chart has a read point, without a reload"):
            ann = page.locator("table.viewers tbody tr").filter(has_text=re.compile("Ann|79990000001"))
            scripted_row = page.locator("table.viewers tbody tr").filter(
                has_text=re.compile(re.escape(SCRIPT_CONTACT).replace("/", r"\/") + "|79990000002")
            )

            def read() -> None:
                expect(ann.locator("td").nth(1)).to_have_text(re.compile(r"^\s*read\s*$"))
                expect(ann.locator("td").nth(3)).to_have_text(re.compile(r"\d"))
                expect(page.locator('svg.views-chart circle[data-series="read"]')).not_to_have_count(0)

            no_navigation_while(page, navigations, read)
            expect(scripted_row.locator("td").nth(1)).to_have_text(re.compile(r"^\s*delivered\s*$"))
            # the table beside the chart has the same numbers: 2 delivered and 1 read by the end
            last = page.locator("table.views-table tbody tr").last
            expect(last.locator("td").nth(1)).to_have_text("2")
            expect(last.locator("td").nth(2)).to_have_text("1")
            expect(page.locator('svg.views-chart circle[data-series="read"][data-count="1"]')).to_have_count(
                1
            )
            expect(
                page.locator('svg.views-chart circle[data-series="delivered"][data-count="2"]')
            ).to_have_count(1)
            no_live_script(page)
            rec.shot(page, "status-read")

    def lists() -> None:
        with rec.step("outgoing statuses: the idMessage links to its page"):
            goto(page, f"{console}/instances/{flow.instance}")
            page.get_by_role("link", name="Outgoing statuses", exact=True).click()
            expect(page).to_have_url(f"{console}/instances/{flow.instance}/outgoing")
            assert flow.id_message is not None
            link = page.get_by_role("link", name=flow.id_message)
            expect(link).to_be_visible()
            no_live_script(page)
            rec.shot(page, "outgoing")
            link.click()
            page.wait_for_url(STATUS_URL)
        with rec.step("incoming statuses of contacts"):
            cli(flow.env, "sandbox", "post", str(flow.instance), "--from", ANN, "--text", INCOMING_TEXT)
            incoming = f"{console}/instances/{flow.instance}/incoming"

            def arrived() -> bool:  # the list is not live: look again until the worker has stored it
                goto(page, incoming)
                return INCOMING_TEXT in page.locator("main").inner_text()

            wait_for(arrived, timeout=30, interval=0.5, what=f"{INCOMING_TEXT!r} on {incoming}")
            no_live_script(page)
            rec.shot(page, "incoming")

    def search() -> None:
        with rec.step("the post page: searching the contacts hides the others"):
            goto(page, f"{console}/instances/{flow.instance}/post")
            page.get_by_label("Search contacts", exact=True).fill("Cat")
            expect(participant(page, "79990000003")).to_be_visible()
            expect(participant(page, "79990000001")).to_be_hidden()
            rec.shot(page, "post-search")
            page.get_by_label("Search contacts", exact=True).fill("")
            expect(participant(page, "79990000001")).to_be_visible()

    def webhook() -> None:
        with rec.step("a javascript: webhook URL is refused naming the field, or stored inert"):
            goto(page, f"{console}/instances/{flow.instance}")
            page.get_by_label("Webhook URL", exact=True).fill(SCRIPT_WEBHOOK)
            with page.expect_navigation() as answer:
                page.get_by_role("button", name="Save settings", exact=True).click()
            response = answer.value
            assert response is not None
            if response.status >= 400:
                rec.expected_failures.add(response.url)
                alert = page.get_by_role("alert")
                expect(alert).to_contain_text(re.compile("webhookUrl|Webhook URL", re.IGNORECASE))
                flow.facts["javascript: webhook URL"] = f"refused {response.status}: {alert.inner_text()}"
            else:
                flow.facts["javascript: webhook URL"] = f"stored ({response.status})"
            no_live_script(page)
            rec.shot(page, "webhook-javascript")

    def sign_out() -> None:
        with rec.step("sign out: back at sign-in, the session gone"):
            goto(page, f"{console}/instances/{flow.instance}")
            page.get_by_role("button", name="Sign out", exact=True).click()
            expect(page).to_have_url(console)
            expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
            goto(page, console + "/instances")
            expect(page).to_have_url(re.compile(re.escape(console) + r"(\?ended=1)?$"))
            rec.shot(page, "signed-out")

    def one_instance() -> None:
        with rec.step("a second instance, made by the CLI"):
            made = cli_json(flow.env, "instance", "create", "--name", OTHER_NAME)
            flow.other = int(made["idInstance"])
        with rec.step("sign in with the Instance ID and API token shown at creation"):
            goto(page, console)
            page.get_by_label("Instance ID", exact=True).fill(str(flow.instance))
            assert flow.api_token is not None
            page.get_by_label("API token", exact=True).fill(flow.api_token)
            page.get_by_role("button", name="Sign in", exact=True).click()
            expect(page).to_have_url(f"{console}/instances/{flow.instance}")
            expect(page.locator("h1")).to_contain_text(SCRIPT_NAME)
            expect(page.get_by_role("link", name="Instances", exact=True)).to_have_count(0)
            rec.shot(page, "one-instance")
        with rec.step("another instance's id in the URL: 404, nothing of it shown"):
            other = f"{console}/instances/{flow.other}"
            rec.expected_failures.add(other)
            goto(page, other, status=404)
            shown = page.locator("body").inner_text()
            assert OTHER_NAME not in shown and str(flow.other) not in shown, shown
            for path in ("/live", "/post", "/outgoing", "/incoming"):
                answer = page.request.get(other + path, max_redirects=0)
                assert answer.status == 404, f"{other}{path} answered {answer.status}"
                assert OTHER_NAME not in answer.text()
            rec.shot(page, "other-instance-404")
            goto(page, console + "/instances")  # the list is the partner's: back to its own page
            expect(page).to_have_url(f"{console}/instances/{flow.instance}")
            page.get_by_role("button", name="Sign out", exact=True).click()
            expect(page).to_have_url(console)

    rec.phase("sign in and link", sign_in_and_link)
    rec.phase("post a picture", post_picture, needs=("sign in and link",))
    rec.phase("status lists", lists, needs=("post a picture",))
    rec.phase("contact search", search, needs=("sign in and link",))
    rec.phase("webhook URL", webhook, needs=("sign in and link",))
    rec.phase("sign out", sign_out, needs=("sign in and link",))
    rec.phase("one-instance sign-in", one_instance, needs=("sign out",))
    context.close()


def phone_and_keyboard(browser: Browser, rec: Recorder, flow: Flow) -> None:
    """A 390-px-wide window: no page scrolls sideways; sign-in and posting by keyboard alone."""
    context = browser.new_context(viewport=PHONE)
    context.route("**/*", rec.guard)
    page = context.new_page()
    rec.watch(page)
    console = flow.url + "/console"

    def signed_in() -> None:
        with rec.step("phone: the sign-in page fits"):
            goto(page, console)
            rec.fits(page, "sign-in")
            rec.shot(page, "phone-sign-in")
        with rec.step("phone: sign in by keyboard alone"):
            tab_to(page, page.get_by_label("Partner token", exact=True))
            page.keyboard.type(flow.partner_token)
            page.keyboard.press("Enter")
            expect(page).to_have_url(console + "/instances")
        with rec.step("phone: the instance list fits"):
            expect(page.get_by_role("link", name=SCRIPT_NAME, exact=True)).to_be_visible()
            rec.fits(page, "instance list")
            rec.shot(page, "phone-instances")
        with rec.step("phone: the instance page fits"):
            goto(page, f"{console}/instances/{flow.instance}")
            expect(page.locator("[data-state]")).to_have_attribute("data-state", "authorized")
            rec.fits(page, "instance page")
            rec.shot(page, "phone-instance")

    def keyboard_post() -> None:
        with rec.step("phone: the post page fits"):
            goto(page, f"{console}/instances/{flow.instance}/post")
            expect(page.get_by_role("button", name="Post status", exact=True)).to_be_visible()
            rec.fits(page, "post page")
            rec.shot(page, "phone-post")
        with rec.step("phone: post a text status by keyboard alone"):
            tab_to(page, page.get_by_label("Text", exact=True))
            page.keyboard.type(KEYBOARD_TEXT)
            ann = participant(page, "79990000001")
            tab_to(page, ann)
            page.keyboard.press("Space")
            expect(ann).to_be_checked()
            tab_to(page, page.get_by_role("button", name="Post status", exact=True))
            page.keyboard.press("Enter")
            page.wait_for_url(STATUS_URL, timeout=NAVIGATION_MS)
        with rec.step("phone: the status page fits, the text status delivered"):
            expect(page.locator("[data-status]")).to_have_attribute("data-status", "delivered")
            expect(page.locator("main")).to_contain_text(KEYBOARD_TEXT)
            rec.fits(page, "status page")
            rec.shot(page, "phone-status")

    rec.phase("phone sign-in", signed_in, needs=("sign in and link",))
    rec.phase("phone keyboard post", keyboard_post, needs=("phone sign-in",))
    context.close()


def run(outdir: Path) -> dict[str, Any]:
    env = base_env(outdir / "data")
    # the token before the servers start: no node can have made another one first
    partner_token = cli_json(env, "partner-token")["partnerToken"]
    expect.set_options(timeout=WAIT_MS)
    started = time.monotonic()
    with ServerPair(env, outdir / "server.log") as pair:
        flow = Flow(url=pair.url, env=pair.env, partner_token=partner_token, outdir=outdir)
        rec = Recorder(pair.url + "/", outdir)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
            try:
                operator_path(browser, rec, flow)
                phone_and_keyboard(browser, rec, flow)
            finally:
                browser.close()
    unexpected, expected = rec.console_errors()
    return {
        "steps": rec.steps,
        "failures": rec.failures,
        "elsewhere": rec.elsewhere,
        "console_errors": unexpected,
        "expected_console_errors": expected,
        "page_errors": rec.page_errors,
        "dialogs": rec.dialogs,
        "sideways": rec.sideways,
        "requests": rec.requests,
        "screenshots": rec.shots,
        "facts": flow.facts,
        "partner_token": partner_token,
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    outdir = Path(sys.argv[1])
    outdir.mkdir(parents=True, exist_ok=True)
    loopback_up()  # a new network namespace starts with its loopback down
    print(json.dumps(run(outdir)), flush=True)


if __name__ == "__main__":
    main()
