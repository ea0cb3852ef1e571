"""A status travels typed from the request to the engine; showMessagesQueue still shows exactly the fields
its request sent, under Green's names (the request → post → stored → post → body round trip)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest

from statusgate.api.app import build_app
from statusgate.domain.models import MediaKind
from statusgate.domain.posts import MediaPost, TextPost, VoicePost
from statusgate.services.statuses import green_fields
from statusgate.store import posts
from statusgate.wiring.core import Core
from statusgate.worker.role import Worker
from tests.conftest import Gateway

PEOPLE = ["79990000001@c.us", "79990000002@c.us"]
URL = "https://media.example/a"

BODIES: list[tuple[str, dict[str, Any]]] = [
    ("sendTextStatus", {"message": "hi"}),
    (
        "sendTextStatus",
        {"message": "hi", "backgroundColor": "#228B22", "font": "SERIF", "participants": PEOPLE},
    ),
    ("sendTextStatus", {"message": "ünïcode ✓", "participants": []}),
    ("sendMediaStatus", {"urlFile": f"{URL}.jpg", "fileName": "a.jpg"}),
    (
        "sendMediaStatus",
        {"urlFile": f"{URL}.mp4", "fileName": "clip.MP4", "caption": "", "participants": PEOPLE},
    ),
    ("sendMediaStatus", {"urlFile": f"{URL}.mp3", "fileName": "song.mp3", "caption": "listen"}),
    ("sendVoiceStatus", {"urlFile": f"{URL}.ogg", "fileName": "v.ogg"}),
    ("sendVoiceStatus", {"urlFile": f"{URL}.mp3", "fileName": "v.mp3", "backgroundColor": "#FFFFFF"}),
]


@pytest.fixture
async def gw(make_settings: Any) -> AsyncIterator[Gateway]:
    """The API alone (as ``--role api`` with its worker stopped): every status stays in the queue as
    accepted — no preparation can fail one meanwhile (these links lead nowhere)."""
    core = Core(make_settings(allow_private_urls=False))
    await core.open()
    app = build_app(core.ctx)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:9")
    try:
        yield Gateway(core.ctx, cast(Worker, None), client)
    finally:
        await client.aclose()
        await core.close()


async def test_show_messages_queue_shows_each_request_as_sent(gw: Gateway) -> None:
    id_instance, token = await gw.create_instance(authorized=False)
    sent = []
    for method, body in BODIES:
        response = await gw.client.post(gw.path(id_instance, token, method), json=body)
        assert response.status_code == 200, response.text
        sent.append({"messageID": response.json()["idMessage"], "type": method, "body": body})
    # optional fields sent as null are the same as absent
    nulls = {"message": "n", "backgroundColor": None, "font": None, "participants": None}
    response = await gw.client.post(gw.path(id_instance, token, "sendTextStatus"), json=nulls)
    sent.append(
        {"messageID": response.json()["idMessage"], "type": "sendTextStatus", "body": {"message": "n"}}
    )
    listed = (await gw.client.get(gw.path(id_instance, token, "showMessagesQueue"))).json()
    assert listed == sent


@pytest.mark.parametrize(
    "post",
    [
        TextPost("hi"),
        TextPost("hi", "#228B22", "SERIF", ("1@c.us",)),
        MediaPost(URL, "a.jpg", MediaKind.IMAGE, caption="c", participants=()),
        MediaPost(URL, "a.mp4", MediaKind.VIDEO),
        VoicePost(URL, "v.ogg", "#000000"),
    ],
)
def test_stored_form_round_trips(post: TextPost | MediaPost | VoicePost) -> None:
    from statusgate.domain.posts import media_kind, status_type

    kind = media_kind(post)
    back = posts.from_stored(status_type(post), posts.to_stored(post), kind.value if kind else None)
    assert back == post
    # release 0.1 stored exactly the request's fields: the stored JSON is still that
    assert posts.to_stored(post) == green_fields(post)
