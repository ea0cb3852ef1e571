"""Notifications end to end: a real ``statusgate serve``, a real webhook receiver, the official SDK and chatbot.

Webhooks go to a :class:`~tests.support.WebhookReceiver` on 127.0.0.1 (short settings: retry after 0.3 s,
give up on an answer after 2 s — short, yet long enough for a busy host to answer a 200 in time). Polling is
what an instance without a ``webhookUrl`` does: the SDK's own ``startReceivingNotifications`` loop
(receiveNotification → handler → deleteNotification) and the ``whatsapp-chatbot-python`` bot, in its own
process, read the same journal.

Every scenario acts one step at a time and waits for that step's notifications before the next, so the
expected sequence is exact: the journal's order is the order things happened in.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import (
    MISSING_PICTURE,
    NAMED,
    NOT_A_CONTACT,
    UNNAMED,
    Instance,
    fresh_store,
    send_status,
    server_in,
    stop,
)
from tests.support import (
    FileServer,
    ServerProcess,
    WebhookReceiver,
    base_env,
    cli,
    cli_json,
    wait_for,
)

WEBHOOK_SETTINGS: dict[str, Any] = {"webhook_retry_seconds": 0.3, "webhook_timeout_seconds": 2}
LEASE_SECONDS = 4
TOKEN = "s3cret"

Key = tuple[str, ...]


@pytest.fixture(scope="module")
def env(data_dir: Path, store_settings: dict[str, str]) -> dict[str, str]:
    """The module's server: the conftest's settings plus short webhook retries and timeouts."""
    return base_env(data_dir, sandbox_reboot_seconds=2, **store_settings, **WEBHOOK_SETTINGS)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(slow_seconds=3.5) as started:
        yield started


# --- the expected sequences ----------------------------------------------------------------------------------


def key(body: dict[str, Any]) -> Key:
    """What identifies a notification: its type and the fields that say what happened to what."""
    kind = str(body["typeWebhook"])
    if kind == "stateInstanceChanged":
        return (kind, body["stateInstance"])
    if kind == "outgoingMessageStatus":
        return (kind, body["idMessage"], body["status"])
    if kind == "outgoingStatusReceipt":
        return (kind, body["idMessage"], body["participant"], body["status"])
    if kind == "incomingStatusReceived":
        text = body["messageData"]["extendedTextMessageData"]["text"]
        return (kind, body["idMessage"], body["senderData"]["sender"], text)
    return (kind,)


def authorized() -> list[Key]:
    return [("stateInstanceChanged", "authorized")]


def sent(id_message: str, recipients: list[str]) -> list[Key]:
    """A status went out: its outgoingMessageStatus, then a delivered receipt per recipient, in order."""
    return [
        ("outgoingMessageStatus", id_message, "sent"),
        *[("outgoingStatusReceipt", id_message, r, "delivered") for r in recipients],
    ]


def failed(id_message: str) -> list[Key]:
    return [("outgoingMessageStatus", id_message, "failed")]


def read(id_message: str, participant: str) -> list[Key]:
    return [("outgoingStatusReceipt", id_message, participant, "read")]


def incoming(id_message: str, sender: str, text: str) -> list[Key]:
    return [("incomingStatusReceived", id_message, sender, text)]


def check_envelope(body: dict[str, Any], instance_id: int) -> None:
    assert body["instanceData"]["idInstance"] == instance_id, body
    assert body["instanceData"]["typeInstance"] == "whatsapp", body
    assert body["instanceData"]["wid"].endswith("@c.us"), body
    assert isinstance(body["timestamp"], int), body


# --- acting on the instance ----------------------------------------------------------------------------------


def text_status(api: Any, text: str, participants: list[str]) -> str:
    response = api.statuses.sendTextStatus(text, participants=participants)
    assert response.code == 200, (response.code, response.error)
    id_message: str = response.data["idMessage"]
    return id_message


def set_webhook(api: Any, url: str, token: str = TOKEN) -> None:
    response = api.account.setSettings({"webhookUrl": url, "webhookUrlToken": token})
    assert response.code == 200, (response.code, response.error)


def pending(api: Any) -> int:
    response = api.queues.getWebhooksCount()
    assert response.code == 200, (response.code, response.error)
    count: int = response.data["count"]
    return count


def view(env: dict[str, str], instance: Instance, id_message: str, participant: str) -> None:
    cli(env, "sandbox", "view", str(instance.id), id_message, "--participant", participant)


def post(env: dict[str, str], instance: Instance, sender: str, text: str) -> str:
    return cli(env, "sandbox", "post", str(instance.id), "--from", sender, "--text", text).stdout.strip()


def wait_delivered(receiver: WebhookReceiver, count: int, what: str) -> list[dict[str, Any]]:
    """Wait until the receiver accepted ``count`` webhooks; all it accepted."""

    def enough() -> list[dict[str, Any]] | None:
        delivered = receiver.snapshot()[0]
        return delivered if len(delivered) >= count else None

    return wait_for(enough, what=f"{count} webhooks ({what})")


# --- webhooks ------------------------------------------------------------------------------------------------


def test_webhooks_arrive_in_order_with_the_bearer_token(
    make_instance: Callable[..., Instance],
    make_client: Callable[..., Any],
    server: ServerProcess,
    receiver: WebhookReceiver,
) -> None:
    instance = make_instance(authorized=False)
    api = make_client(instance.id, instance.token, server.url)
    assert pending(api) == 0
    set_webhook(api, receiver.url)
    assert api.receiving.receiveNotification().code == 400  # with a webhook, polling is refused

    expected: list[Key] = []

    def step(keys: list[Key]) -> None:
        expected.extend(keys)
        wait_delivered(receiver, len(expected), repr(expected[-1]))

    cli(server.env, "sandbox", "scan", str(instance.id))
    step(authorized())
    first = text_status(api, "one", [NAMED[0], NAMED[1]])
    step(sent(first, [NAMED[0], NAMED[1]]))
    second = text_status(api, "two", [UNNAMED])
    step(sent(second, [UNNAMED]))
    view(server.env, instance, first, NAMED[1])
    step(read(first, NAMED[1]))
    posted = post(server.env, instance, NAMED[2], "evening")
    step(incoming(posted, NAMED[2], "evening"))

    delivered, attempts = receiver.snapshot()
    assert [key(body) for body in delivered] == expected
    assert [outcome for _, _, outcome in attempts] == [200] * len(expected)  # each once, nothing retried
    for body in delivered:
        check_envelope(body, instance.id)
    assert {headers.get("Authorization") for _, headers, _ in attempts} == {f"Bearer {TOKEN}"}
    assert {headers.get("Content-Type") for _, headers, _ in attempts} == {"application/json"}
    assert all(int(headers["Content-Length"]) > 0 for _, headers, _ in attempts)  # never chunked
    # delivered notifications leave the journal in groups, right after they were delivered
    wait_for(lambda: pending(api) == 0, what="an empty journal")

    # a token that names its own scheme goes as is
    set_webhook(api, receiver.url, "Basic dXNlcjpwdw==")
    third = text_status(api, "three", [NAMED[0]])
    step(sent(third, [NAMED[0]]))
    _, attempts = receiver.snapshot()
    assert [headers.get("Authorization") for _, headers, _ in attempts[-2:]] == ["Basic dXNlcjpwdw=="] * 2


def test_webhook_retried_after_500s_and_a_timeout_holding_back_later_ones(
    make_instance: Callable[..., Instance],
    make_client: Callable[..., Any],
    server: ServerProcess,
    receiver: WebhookReceiver,
) -> None:
    instance = make_instance()
    api = make_client(instance.id, instance.token, server.url)
    receiver.script = [500, 500, "slow"]  # then 200s; "slow" answers after 3.5 s, the timeout is 2 s
    set_webhook(api, receiver.url)

    id_message = text_status(api, "retry me", [NAMED[0], NAMED[1]])
    expected = sent(id_message, [NAMED[0], NAMED[1]])
    delivered = wait_delivered(receiver, len(expected), "after the retries")
    _, attempts = receiver.snapshot()

    assert [key(body) for body in delivered] == expected
    # the first notification is tried until it succeeds; the later ones wait for it
    head = expected[0]
    assert [(key(body), outcome) for body, _, outcome in attempts] == [
        (head, 500),
        (head, 500),
        (head, "slow"),
        (head, 200),
        (expected[1], 200),
        (expected[2], 200),
    ]
    assert all(body == attempts[0][0] for body, _, _ in attempts[:4])  # the very same body each time
    assert {headers.get("Authorization") for _, headers, _ in attempts} == {f"Bearer {TOKEN}"}
    log = server.output()
    assert "failed (HTTP 500)" in log
    assert "failed (no answer within 2 s)" in log
    wait_for(lambda: pending(api) == 0, what="an empty journal")


def test_nothing_lost_or_reordered_when_the_server_restarts_while_the_receiver_is_down(
    shape: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_client: Callable[..., Any],
    receiver: WebhookReceiver,
) -> None:
    """SIGKILL while the receiver answers 500, SIGTERM while it refuses connections, then it comes back.

    A server (in this module's shape) and a store of the test's own: the module's server keeps running."""
    with contextlib.ExitStack() as cleanup:
        store = cleanup.enter_context(fresh_store(shape, request))
        # on PostgreSQL a SIGKILLed worker's hold on its instances lapses only after lease_seconds (other
        # workers may share the database); short, so the restarted one need not wait the default 30 s
        env = base_env(tmp_path / "data", **store, **WEBHOOK_SETTINGS, lease_seconds=LEASE_SECONDS)
        server = server_in(shape, env, tmp_path / "server.log")
        cleanup.callback(server.kill)  # before the store goes
        book = tmp_path / "contacts.json"
        contacts = [{"id": c, "name": f"n{c[:11]}", "contactName": f"c{c[:11]}"} for c in NAMED]
        book.write_text(json.dumps(contacts))
        server.start()
        instance = Instance.from_json(cli_json(server.env, "instance", "create"))
        cli(server.env, "sandbox", "contacts", "import", str(instance.id), str(book))
        api = make_client(instance.id, instance.token, server.url)
        set_webhook(api, receiver.url)
        cli(server.env, "sandbox", "scan", str(instance.id))
        expected = authorized()
        wait_delivered(receiver, 1, "authorized")

        def journaled(keys: list[Key]) -> None:
            """Wait until this step's notifications wait in the journal (the receiver takes none now)."""
            expected.extend(keys)
            wait_for(lambda: pending(api) == len(expected) - 1, what=repr(expected[-1]))

        # the receiver fails: the notification is retried, the later ones are held back
        receiver.default = 500
        first = text_status(api, "before the crash", [NAMED[0], NAMED[1]])
        journaled(sent(first, [NAMED[0], NAMED[1]]))
        wait_for(lambda: len(receiver.snapshot()[1]) >= 3, what="retries after 500")

        server.kill()
        tried = len(receiver.snapshot()[1])
        server.start()
        wait_for(lambda: len(receiver.snapshot()[1]) > tried, what="a retry by the restarted server")
        view(server.env, instance, first, NAMED[0])
        journaled(read(first, NAMED[0]))

        # the receiver is gone (connections refused) while the server restarts cleanly
        receiver.stop()
        refused = server.output().count("connection refused")
        wait_for(lambda: server.output().count("connection refused") > refused, what="a refused attempt")
        stop(server)
        server.start()
        second = text_status(api, "while nobody listens", [NAMED[2]])
        journaled(sent(second, [NAMED[2]]))
        posted = post(server.env, instance, NAMED[1], "still there?")
        journaled(incoming(posted, NAMED[1], "still there?"))

        # back on the same port: everything arrives, in order, once
        receiver.default = 200
        receiver.start()
        wait_delivered(receiver, len(expected), "after the receiver came back")
        wait_for(lambda: pending(api) == 0, what="an empty journal")
        delivered, attempts = receiver.snapshot()
        assert [key(body) for body in delivered] == expected
        failures = {key(body) for body, _, outcome in attempts if outcome != 200}
        assert failures == {expected[1]}  # only the head was ever tried while the receiver failed
        assert {headers.get("Authorization") for _, headers, _ in attempts} == {f"Bearer {TOKEN}"}
        for body in delivered:
            check_envelope(body, instance.id)


# --- polling -------------------------------------------------------------------------------------------------


def test_sdk_polling_loop_receives_a_scenario_exactly_in_order(
    make_instance: Callable[..., Instance],
    make_client: Callable[..., Any],
    server: ServerProcess,
    files: FileServer,
    picture_url: str,
) -> None:
    """authorize; three statuses, one failing; two views; one incoming status — via the SDK's own loop."""
    instance = make_instance(authorized=False)
    api = make_client(instance.id, instance.token, server.url)
    poller = make_client(instance.id, instance.token, server.url)  # its own session, in its own thread
    received: list[dict[str, Any]] = []

    def on_event(type_webhook: str, body: dict[str, Any]) -> None:
        received.append(body)
        if type_webhook == "incomingStatusReceived":  # the scenario's last event: the loop ends after it
            poller.webhooks.stopReceivingNotifications()

    loop = threading.Thread(target=poller.webhooks.startReceivingNotifications, args=(on_event,), daemon=True)
    loop.start()
    expected: list[Key] = []

    def step(keys: list[Key]) -> None:
        expected.extend(keys)
        wait_for(lambda: len(received) >= len(expected), what=repr(expected[-1]))

    try:
        cli(server.env, "sandbox", "scan", str(instance.id))
        step(authorized())
        picture = send_status(api, picture_url, caption="sunset")  # no participants: the named contacts
        step(sent(picture, NAMED))
        broken = send_status(api, files.url(MISSING_PICTURE))  # the file server answers 404
        step(failed(broken))
        text = text_status(api, "hello", [UNNAMED, NOT_A_CONTACT])
        step(sent(text, [UNNAMED, NOT_A_CONTACT]))
        view(server.env, instance, picture, NAMED[1])
        step(read(picture, NAMED[1]))
        view(server.env, instance, text, UNNAMED)
        step(read(text, UNNAMED))
        posted = post(server.env, instance, NAMED[2], "good morning")
        step(incoming(posted, NAMED[2], "good morning"))
    finally:
        poller.webhooks.stopReceivingNotifications()  # (if the scenario broke off) after the poll in flight
        loop.join(timeout=20)
    assert not loop.is_alive()

    assert [key(body) for body in received] == expected
    for body in received:
        check_envelope(body, instance.id)
    by_key = {key(body): body for body in received}
    went_out = by_key[("outgoingMessageStatus", picture, "sent")]
    assert {k: v for k, v in went_out.items() if k not in ("instanceData", "timestamp")} == {
        "typeWebhook": "outgoingMessageStatus",
        "chatId": "status@broadcast",
        "idMessage": picture,
        "status": "sent",
        "sendByApi": True,
    }
    failure = by_key[("outgoingMessageStatus", broken, "failed")]
    assert "404" in failure["description"], failure
    assert failure["chatId"] == "status@broadcast"
    arrived = by_key[incoming(posted, NAMED[2], "good morning")[0]]
    assert arrived["senderData"] == {
        "chatId": NAMED[2],
        "sender": NAMED[2],
        "senderName": "Eve",
        "senderContactName": "Eve E.",
    }
    assert arrived["messageData"] == {
        "typeMessage": "extendedTextMessage",
        "extendedTextMessageData": {
            "text": "good morning",
            "backgroundColor": "#000000",
            "font": "SANS_SERIF",
        },
    }
    assert pending(api) == 0  # every notification was deleted by the loop
    response = api.receiving.receiveNotification(5)
    assert (response.code, response.data) == (200, None)  # the JSON literal null


# --- whatsapp-chatbot-python ---------------------------------------------------------------------------------

#: a bot as its README writes one; its handler records what it saw and ends ``run_forever`` (its only way
#: out is a KeyboardInterrupt)
CHATBOT = """
import json
import sys
from pathlib import Path

from whatsapp_chatbot_python import GreenAPIBot, Notification

id_instance, token, url, out = sys.argv[1:]
bot = GreenAPIBot(id_instance, token, host=url, media=url)
Path(out + ".ready").touch()


@bot.router.outgoing_message_status()
def on_status(notification: Notification) -> None:
    seen = {
        "typeWebhook": notification.event["typeWebhook"],
        "idMessage": notification.get_id_message(),
        "status": notification.get_status_message(),
    }
    Path(out).write_text(json.dumps(seen))
    raise KeyboardInterrupt


bot.run_forever()
"""


def test_chatbot_outgoing_message_status_handler_fires_for_a_sent_status(
    make_instance: Callable[..., Instance],
    make_client: Callable[..., Any],
    server: ServerProcess,
    picture_url: str,
    tmp_path: Path,
) -> None:
    instance = make_instance()
    api = make_client(instance.id, instance.token, server.url)
    out = tmp_path / "seen.json"
    log = tmp_path / "bot.log"
    with log.open("wb") as log_file:
        bot = subprocess.Popen(
            [sys.executable, "-c", CHATBOT, str(instance.id), instance.token, server.url, str(out)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:

        def started() -> bool:
            assert bot.poll() is None, f"the bot exited with {bot.returncode}: {log.read_text()[-2000:]}"
            return Path(f"{out}.ready").exists()

        wait_for(started, what="the bot's start-up (getSettings, queue drained)")
        id_message = send_status(api, picture_url)
        assert bot.wait(timeout=60) == 0, log.read_text()[-2000:]
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
    assert json.loads(out.read_text()) == {
        "typeWebhook": "outgoingMessageStatus",
        "idMessage": id_message,
        "status": "sent",
    }
