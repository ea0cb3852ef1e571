"""Posting from the console in-process: what the status page says the media pipeline made of a video (its
duration before and after the cut, bytes, pixels), and the form's refusals (the same words as the API's).

A browser drives the whole path in tests/acceptance/test_console_browser.py; this tier checks the numbers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from statusgate.engines.sandbox_network import ImportedContact
from statusgate.services import instances
from tests.conftest import Gateway
from tests.integration.test_console_sessions import ORIGIN, Browser, sign_in_instance
from tests.integration.test_send_media_status import poll
from tests.unit.test_media_probe import make_video

ANN = ImportedContact("79990000001@c.us", "Ann", "Ann", True)
BOB = ImportedContact("79990000002@c.us", "Bob", "Bob", True)
#: a short cut instead of the real 60 s, so the test's video is small
CUT_SECONDS = 2.0


@pytest.fixture
async def gw(start_gateway: Any, make_settings: Any) -> Gateway:
    gateway: Gateway = await start_gateway(make_settings(max_media_seconds=CUT_SECONDS))
    return gateway


async def _signed_in(gw: Gateway) -> tuple[Browser, int, str]:
    created = await instances.create(gw.ctx, authorized=True, name="poster")
    await gw.ctx.sandbox.import_contacts(created.id_instance, (ANN, BOB))
    browser = await sign_in_instance(gw, created.id_instance, created.api_token)
    return browser, created.id_instance, await browser.csrf(f"/console/instances/{created.id_instance}/post")


async def _post(
    browser: Browser, id_instance: int, fields: dict[str, Any], file: tuple[str, bytes, str] | None = None
) -> httpx.Response:
    files = {"file": file or ("", b"", "application/octet-stream")}
    response = await browser.gw.client.post(
        f"/console/instances/{id_instance}/post",
        data=fields,
        files=files,
        headers={"Origin": ORIGIN, "Cookie": f"statusgate_console={browser.cookie}"},
    )
    browser.gw.client.cookies.clear()
    return response


def _cell(page: str, name: str) -> str:
    found = re.search(rf"<td {name}>([^<]*)</td>", page)
    assert found is not None, page
    return found.group(1)


async def test_a_video_is_cut_and_the_page_says_by_how_much(gw: Gateway, tmp_path: Path) -> None:
    browser, id_instance, csrf = await _signed_in(gw)
    video = make_video(tmp_path / "clip.mp4", seconds=5).read_bytes()
    r = await _post(
        browser,
        id_instance,
        {"csrf": csrf, "caption": "five seconds", "participant": BOB.id},
        ("clip.mp4", video, "video/mp4"),
    )
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert re.fullmatch(rf"/console/instances/{id_instance}/statuses/3EB0[0-9A-F]{{16}}", location)

    async def delivered() -> str | None:
        page = (await browser.get(location)).text
        return page if 'data-status="delivered"' in page else None

    page = await poll(delivered, timeout=60, what="the video status delivered")
    duration = re.fullmatch(r"([0-9.]+) s → ([0-9.]+) s \(cut\)", _cell(page, "data-duration"))
    assert duration is not None, _cell(page, "data-duration")
    # the cut ends on a frame of the source at or before the limit (10 frames a second here)
    assert float(duration.group(1)) == 5.0
    assert CUT_SECONDS - 0.5 <= float(duration.group(2)) <= CUT_SECONDS
    assert _cell(page, "data-pixels") == "64 × 64"
    assert re.fullmatch(r"[0-9.]+ (B|KiB) → [0-9.]+ (B|KiB)", _cell(page, "data-bytes"))
    assert "five seconds" in page and 'class="views-chart"' in page
    # exactly the chosen participant got it, and the viewers table says so
    assert re.findall(r'<tr data-viewer="(\w+)"><td>([^<]+)<', page) == [("delivered", BOB.id)]
    # named by the contact's name beside the chat id
    assert f"{BOB.id}<br><small>{BOB.contact_name}</small>" in page


async def test_the_forms_refusals_name_the_field_and_queue_nothing(gw: Gateway) -> None:
    browser, id_instance, csrf = await _signed_in(gw)
    refusals = [
        ({"csrf": csrf}, None, "'Text' is required"),
        ({"csrf": csrf, "text": "x", "link": "https://example.invalid/a.jpg"}, None, "'Text' is for a text"),
        ({"csrf": csrf, "caption": "c"}, ("run.exe", b"MZ", "application/x-msdownload"), "'fileName'"),
        ({"csrf": csrf, "text": "x", "participant": "123@c.us"}, None, "'participants[0]'"),
        ({"csrf": csrf, "text": "x", "colour": "red"}, None, "'backgroundColor'"),
        ({"csrf": csrf, "link": "ftp://example.invalid/a.jpg"}, None, "'urlFile'"),
    ]
    for fields, file, words in refusals:
        r = await _post(browser, id_instance, fields, file)
        assert r.status_code == 400, (fields, r.status_code)
        alert = re.search(r'role="alert">([^<]*)<', r.text)
        assert alert is not None and alert.group(1).startswith("Validation failed. Details: "), r.text
        assert words.replace("'", "&#39;") in alert.group(1), (words, alert.group(1))
    # without the session's CSRF token, nothing is read further
    r = await _post(browser, id_instance, {"csrf": "not-it", "text": "x"})
    assert r.status_code == 403
    outgoing = await gw.client.get(
        f"/waInstance{id_instance}/getOutgoingStatuses/{await _token(gw, id_instance)}"
    )
    assert outgoing.json() == []


async def _token(gw: Gateway, id_instance: int) -> str:
    return (await instances.rotate_token(gw.ctx, id_instance)).api_token
