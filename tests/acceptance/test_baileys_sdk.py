"""Acceptance: a baileys instance on a real server, driven by the official SDK, against the Baileys stand-in.

`statusgate instance create --engine baileys`; the SDK's qr and getAuthorizationCode link it (the stand-in's
phone enters the code); sendTextStatus with participants reaches exactly those that exist (the stand-in
decrypts what each recipient device got), the outgoing journal and statistics say so, a recipient's read
receipt shows in the statistics, and deleteStatus revokes it on the same devices. The engine's Node children
run in the stand-in's network namespace (loopback only); the server's API and worker run here.
"""

from __future__ import annotations

import base64
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import PAIR, PAIR_POSTGRESQL, statistic
from tests.baileys_standin import driver
from tests.baileys_standin.fixtures import standin_for
from tests.support import ServerProcess, base_env, cli_json

SHAPES = (PAIR, PAIR_POSTGRESQL)
SHAPES_REASON = "the baileys engine's children run only in a worker; `all` adds nothing a pair does not show"
SEED = 20261206
DEADLINE = 60.0


standin = standin_for(SEED)


@pytest.fixture(scope="module")
def env(data_dir: Path, store_settings: dict[str, str], standin: driver.StandIn) -> dict[str, str]:
    return base_env(
        data_dir,
        baileys_ws_url=standin.url,
        baileys_test_root_key=standin.root_public_key,
        test_baileys_child_prefix=shlex.join(driver.joined_namespace(standin.process.pid, [])),
        baileys_restart_base_seconds=0.2,
        baileys_start_timeout_seconds=60,
        **store_settings,
    )


def wait_until(check: Callable[[], Any], what: str) -> Any:
    until = time.monotonic() + DEADLINE
    while not (found := check()):
        assert time.monotonic() < until, f"no {what} within {DEADLINE:g} s"
        time.sleep(0.1)
    return found


def test_the_official_sdk_links_a_baileys_instance_and_posts_to_exactly_its_participants(
    server: ServerProcess,
    standin: driver.StandIn,
    make_client: Callable[..., Any],
    shape: str,
) -> None:
    creds = cli_json(server.env, "instance", "create", "--engine", "baileys")
    api = make_client(creds["idInstance"], creds["apiTokenInstance"], server.url)
    number = "1555" + str(creds["idInstance"])[-7:]

    qr = api.account.qr()
    assert qr.code == 200 and qr.data["type"] == "qrCode", qr.data
    assert base64.b64decode(qr.data["message"]).startswith(b"\x89PNG")
    code = api.account.getAuthorizationCode(int(number))
    assert code.code == 200 and code.data["status"] is True, code.data
    standin.command("enter-code", code=code.data["code"], phone=number)
    wait_until(
        lambda: api.account.getStateInstance().data["stateInstance"] == "authorized", "authorized state"
    )
    assert api.account.getSettings().data["wid"] == f"{number}@c.us"

    alice = standin.command("register", phone=f"1777{shape == PAIR_POSTGRESQL:d}000001")
    bob = standin.command("register", phone=f"1777{shape == PAIR_POSTGRESQL:d}000002", devices=[0, 2])
    stranger = f"1777{shape == PAIR_POSTGRESQL:d}000404@c.us"
    alice_id, bob_id = (f"{u['jid'].split('@')[0]}@c.us" for u in (alice, bob))

    sent = api.statuses.sendTextStatus("Hello, Baileys", "#228B22", "SERIF", [alice_id, stranger, bob_id])
    assert sent.code == 200 and set(sent.data) == {"idMessage"}, (sent.code, sent.error)
    id_message = sent.data["idMessage"]

    # the wire id is ours; exactly the devices of those who exist, and our own phone
    status = standin.wait_for_event("status", DEADLINE, id=id_message)
    assert len(status["recipients"]) == 4, status["recipients"]
    assert status["undecryptable"] == [], status["why"]
    texts = {m["extendedTextMessage"]["text"] for m in status["decrypted"].values()}
    assert texts == {"Hello, Baileys"}

    def journal_item() -> dict[str, Any] | None:
        items = {i["idMessage"]: i for i in api.statuses.getOutgoingStatuses().data}
        item = items.get(id_message)
        return item if item and item["statusMessage"] == "sent" else None

    item = wait_until(journal_item, "the status sent in the outgoing journal")
    assert item["extendedTextMessage"]["participants"] == [alice_id, stranger, bob_id]
    assert item["skippedParticipants"] == [stranger]
    rows = {row["participant"]: row["status"] for row in statistic(api, id_message)}
    assert rows == {alice_id: "sent", bob_id: "sent"}  # our own JID is a recipient, never a row

    standin.command(
        "receipt", messageId=id_message, phone=alice["jid"].split("@")[0], type="read", to=status["from"]
    )
    wait_until(
        lambda: {r["participant"]: r["status"] for r in statistic(api, id_message)}.get(alice_id) == "read",
        "alice's read receipt in the statistics",
    )

    # a contact's own status reaches the incoming journal, named by the poster's number
    standin.command(
        "post-status", phone=bob["jid"].split("@")[0], to=number, text="Bob's status", pushName="Bob"
    )

    def incoming_item() -> dict[str, Any] | None:
        items = api.statuses.getIncomingStatuses().data
        return next((i for i in items if i.get("textMessage") == "Bob's status"), None)

    item = wait_until(incoming_item, "bob's status in the incoming journal")
    assert (item["type"], item["chatId"], item["typeMessage"]) == ("incoming", bob_id, "extendedTextMessage")

    deleted = api.statuses.deleteStatus(id_message)
    assert deleted.code == 200, deleted.error
    revoke = standin.wait_for(
        lambda e: (
            e.get("event") == "status" and e.get("from") == status["from"] and e.get("id") != id_message
        ),
        "the revoke",
        DEADLINE,
    )
    assert sorted(revoke["recipients"]) == sorted(status["recipients"])
    (protocol,) = {str(m["protocolMessage"]["key"]["id"]) for m in revoke["decrypted"].values()}
    assert protocol == id_message

    # the default audience: the status waits for the phone's address book, which syncs once the phone
    # shares its app-state key, then goes to its named contacts (the stranger is not one)
    to_book = api.statuses.sendTextStatus("To my contacts")
    assert to_book.code == 200, to_book.error
    book = [
        {"phone": u["jid"].split("@")[0], "fullName": name} for u, name in ((alice, "Alice"), (bob, "Bob"))
    ]
    standin.command("contacts", phone=number, entries=book)
    standin.command("share-app-state-key", jid=status["from"], announceAfterMs=None)
    wait_until(
        lambda: {r["participant"] for r in statistic(api, to_book.data["idMessage"])} == {alice_id, bob_id},
        "the status to the synced address book",
    )
