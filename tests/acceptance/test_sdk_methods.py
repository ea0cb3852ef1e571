"""Every method statusgate implements, called through the official SDK against a real server subprocess."""

from __future__ import annotations

import base64
import inspect
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.acceptance.conftest import (
    API_TOKEN,
    CONTACTS,
    ID_MESSAGE,
    NAMED,
    NOT_A_CONTACT,
    NOT_ON_WHATSAPP,
    UNNAMED,
    Instance,
    error_body,
    queue,
    send_status,
    state,
    statistic,
)
from tests.support import FileServer, ServerProcess, cli, wait_for, wav_bytes

ROW_KEYS = {"participant", "timestamp", "status"}


def path(instance: Instance | int | str, method: str) -> str:
    """The path an error body names: the token replaced by ``***``, no query string."""
    id_instance = instance.id if isinstance(instance, Instance) else instance
    return f"/waInstance{id_instance}/{method}/***"


def check_rows(rows: list[dict[str, Any]]) -> set[str]:
    """One row per recipient, each exactly {participant, timestamp (int), status}; returns the recipients."""
    for row in rows:
        assert set(row) == ROW_KEYS, row
        assert isinstance(row["participant"], str) and row["participant"].endswith("@c.us"), row
        assert type(row["timestamp"]) is int, row
        assert abs(row["timestamp"] - time.time()) < 3600, row  # Unix seconds, not ms
        assert row["status"] in {"sent", "delivered", "read"}, row
    participants = [row["participant"] for row in rows]
    assert len(participants) == len(set(participants)), rows
    return set(participants)


def wait_for_recipients(api: Any, id_message: str, expected: set[str]) -> list[dict[str, Any]]:
    """Poll getStatusStatistic until every expected recipient has a row; then there must be no one else."""

    def all_there() -> list[dict[str, Any]] | None:
        rows = statistic(api, id_message)
        return rows if check_rows(rows) >= expected else None

    rows = wait_for(all_there, what=f"statistics of {id_message} listing {sorted(expected)}")
    assert check_rows(rows) == expected, rows
    return rows


# --- statuses ------------------------------------------------------------------------------------------------


def test_send_media_status_answers_an_id_message(bare_api: Any, picture_url: str) -> None:
    api = bare_api
    ids = [
        send_status(api, picture_url),
        send_status(api, picture_url, caption="Hello from the SDK"),
        send_status(api, picture_url, participants=[NAMED[0]]),
        send_status(api, picture_url, caption="", participants=[NAMED[0], NAMED[1]]),
    ]
    assert len(set(ids)) == len(ids)


def test_statistic_lists_the_named_contacts_and_no_one_else(shared_api: Any, picture_url: str) -> None:
    api = shared_api
    id_message = send_status(api, picture_url, caption="to my contacts")
    # unnamed contacts, WhatsApp users who are not contacts and unknown numbers get no row
    wait_for_recipients(api, id_message, set(NAMED))

    def all_delivered() -> list[dict[str, Any]] | None:
        rows = statistic(api, id_message)
        assert check_rows(rows) == set(NAMED), rows
        return rows if all(row["status"] == "delivered" for row in rows) else None

    wait_for(all_delivered, what="delivered receipts")
    assert statistic(api, "3EB0" + "0" * 16) == []  # an id never sent


def test_statistic_with_participants_lists_only_those_that_exist(shared_api: Any, picture_url: str) -> None:
    api = shared_api
    settings = api.account.getSettings()
    assert settings.code == 200, settings.error
    own = settings.data["wid"]
    assert own.endswith("@c.us")
    participants = [NAMED[0], UNNAMED, NOT_A_CONTACT, NOT_ON_WHATSAPP, own]
    id_message = send_status(api, picture_url, caption="some of you", participants=participants)
    # numbers not on WhatsApp are skipped and the account's own number is no recipient; whether a
    # participant is a named contact does not matter
    wait_for_recipients(api, id_message, {NAMED[0], UNNAMED, NOT_A_CONTACT})


def test_text_and_voice_statuses_journals_and_delete(
    api: Any, instance: Instance, server: ServerProcess, files: FileServer
) -> None:
    own = api.account.getSettings().data["wid"]
    voice_url = files.add("/voice.wav", wav_bytes(), "audio/wav")
    text = api.statuses.sendTextStatus("Hello from the SDK", "#228B22", "SERIF")
    assert text.code == 200 and set(text.data) == {"idMessage"}, (text.code, text.error)
    voice = api.statuses.sendVoiceStatus(voice_url, "voice.wav", participants=[NAMED[0], NOT_ON_WHATSAPP])
    assert voice.code == 200 and set(voice.data) == {"idMessage"}, (voice.code, voice.error)
    text_id, voice_id = text.data["idMessage"], voice.data["idMessage"]
    assert ID_MESSAGE.fullmatch(text_id) and ID_MESSAGE.fullmatch(voice_id)
    wait_for_recipients(api, text_id, set(NAMED))
    wait_for_recipients(api, voice_id, {NAMED[0]})

    def outgoing(**query: Any) -> dict[str, dict[str, Any]]:
        response = api.statuses.getOutgoingStatuses(**query)
        assert response.code == 200, response.error
        assert isinstance(response.data, list)
        return {item["idMessage"]: item for item in response.data}

    journal = outgoing()
    assert set(journal) == {text_id, voice_id}
    assert set(outgoing(minutes=60)) == {text_id, voice_id}
    for item in journal.values():
        assert item["type"] == "outgoing" and item["chatId"] == own and item["sendByApi"] is True, item
        assert type(item["timestamp"]) is int, item
        assert item["statusMessage"] in {"sent", "delivered", "read"}, item
    text_item = journal[text_id]
    assert text_item["typeMessage"] == "extendedTextMessage"
    assert text_item["textMessage"] == "Hello from the SDK"
    extended = text_item["extendedTextMessage"]
    assert (extended["text"], extended["backgroundColor"], extended["font"]) == (
        "Hello from the SDK",
        "#228B22",
        "SERIF",
    )
    voice_item = journal[voice_id]
    assert voice_item["typeMessage"] == "audioMessage"
    assert voice_item["participants"] == [NAMED[0], NOT_ON_WHATSAPP]
    assert voice_item["skippedParticipants"] == [NOT_ON_WHATSAPP]
    assert voice_item["downloadUrl"].startswith(server.url + "/")  # served by statusgate itself
    download = httpx.get(voice_item["downloadUrl"], timeout=30)
    assert download.status_code == 200 and download.headers["content-type"].startswith("audio/")

    deleted = api.statuses.deleteStatus(text_id)
    assert deleted.code == 200, deleted.error
    assert deleted.data == "[]"  # how the SDK reads Green's empty 200 body
    error_body(api.statuses.deleteStatus(text_id), 400, "ID message notfound", path(instance, "deleteStatus"))
    assert set(outgoing()) == {voice_id}
    assert check_rows(statistic(api, text_id)) == set(NAMED)  # statistics keep their history

    # a contact posts a status of their own
    cli(server.env, "sandbox", "post", str(instance.id), "--from", NAMED[0], "--text", "hi back")

    def incoming() -> list[dict[str, Any]]:
        response = api.statuses.getIncomingStatuses()
        assert response.code == 200, response.error
        assert isinstance(response.data, list)
        return response.data

    [item] = wait_for(incoming, what="the contact's status in getIncomingStatuses")
    assert item["type"] == "incoming" and isinstance(item["idMessage"], str) and item["idMessage"]
    assert (item["chatId"], item["senderId"], item["senderContactName"]) == (NAMED[0], NAMED[0], "Ann (work)")
    assert item["typeMessage"] == "extendedTextMessage" and item["textMessage"] == "hi back"
    assert item["extendedTextMessage"]["text"] == "hi back"
    assert type(item["timestamp"]) is int


# --- queue ---------------------------------------------------------------------------------------------------


@pytest.fixture
def unlinked(
    make_instance: Callable[..., Instance], make_client: Callable[..., Any], server: ServerProcess
) -> tuple[Instance, Any]:
    """An instance whose phone is not linked yet (its statuses wait in the queue), and a client of it."""
    instance = make_instance(authorized=False)
    return instance, make_client(instance.id, instance.token, server.url)


def test_status_waits_in_the_queue_until_the_qr_is_scanned(
    unlinked: tuple[Instance, Any], server: ServerProcess, picture_url: str
) -> None:
    instance, api = unlinked
    assert state(api) == "notAuthorized"
    participants = [NAMED[0], UNNAMED, NOT_ON_WHATSAPP]
    id_message = send_status(api, picture_url, caption="later", participants=participants)
    assert queue(api) == [
        {
            "messageID": id_message,
            "type": "sendMediaStatus",
            "body": {
                "urlFile": picture_url,
                "fileName": "status.jpg",
                "caption": "later",
                "participants": participants,
            },
        }
    ]
    assert statistic(api, id_message) == []

    cli(server.env, "sandbox", "scan", str(instance.id))
    wait_for(lambda: state(api) == "authorized", what="authorized after the scan")
    wait_for_recipients(api, id_message, {NAMED[0], UNNAMED})
    wait_for(lambda: queue(api) == [], what="the queue to empty")


def test_clear_messages_queue_drops_what_has_not_been_sent(
    unlinked: tuple[Instance, Any], server: ServerProcess, picture_url: str
) -> None:
    instance, api = unlinked
    cleared = send_status(api, picture_url, caption="never seen")
    assert queue(api) == [
        {
            "messageID": cleared,
            "type": "sendMediaStatus",
            "body": {"urlFile": picture_url, "fileName": "status.jpg", "caption": "never seen"},
        }
    ]

    assert messages_count(api) == 1
    response = api.queues.clearMessagesQueue()  # the SDK sends GET
    assert response.code == 200, response.error
    assert response.data == {"isCleared": True}
    assert queue(api) == []

    cli(server.env, "sandbox", "scan", str(instance.id))
    # a status queued after the cleared one; sending is first in, first out, so once this one has reached
    # its audience the cleared one would have been sent already if it were going to be
    marker = send_status(api, picture_url, caption="after the clear")
    wait_for_recipients(api, marker, set(NAMED))
    assert statistic(api, cleared) == []
    assert queue(api) == []
    assert messages_count(api) == 0


def messages_count(api: Any) -> int:
    response = api.queues.getMessagesCount()
    assert response.code == 200, response.error
    assert set(response.data) == {"count"}
    count: int = response.data["count"]
    return count


def test_messages_count_counts_the_queue(
    unlinked: tuple[Instance, Any], server: ServerProcess, picture_url: str
) -> None:
    instance, api = unlinked
    assert messages_count(api) == 0
    for n in range(3):
        send_status(api, picture_url, caption=f"waiting {n}")
    assert messages_count(api) == 3 == len(queue(api))
    cli(server.env, "sandbox", "scan", str(instance.id))
    wait_for(lambda: messages_count(api) == 0, what="the queue to empty")


# --- account -------------------------------------------------------------------------------------------------


def test_wa_settings(
    bare_api: Any,
    make_instance: Callable[..., Instance],
    make_client: Callable[..., Any],
    server: ServerProcess,
) -> None:
    wid = bare_api.account.getSettings().data["wid"]
    got = bare_api.account.getWaSettings()
    assert got.code == 200, got.error
    assert got.data == {
        "avatar": "",
        "phone": wid.removesuffix("@c.us"),
        "stateInstance": "authorized",
        "deviceId": "",
    }
    assert got.data["phone"].isdigit()
    waiting = make_instance(authorized=False)
    got = make_client(waiting.id, waiting.token, server.url).account.getWaSettings()
    assert got.code == 200, got.error
    # as Green: no phone while the account is not authorized
    assert got.data == {"avatar": "", "phone": "", "stateInstance": "notAuthorized", "deviceId": ""}


def test_state_and_settings_round_trip(bare_api: Any, bare_instance: Instance) -> None:
    api, instance = bare_api, bare_instance
    assert state(api) == "authorized"
    got = api.account.getSettings()
    assert got.code == 200, got.error
    settings = got.data
    assert settings["wid"].endswith("@c.us")
    assert settings["delaySendMessagesMilliseconds"] == 500  # STATUSGATE_DELAY_DEFAULT_MS in base_env
    for key in ("outgoingWebhook", "outgoingAPIMessageWebhook", "outgoingMessageWebhook", "incomingWebhook"):
        assert settings[key] == "yes", key  # what Green bots read at start-up

    # getSettings → edit → setSettings with everything (read-only keys included) → getSettings
    changed = settings | {"delaySendMessagesMilliseconds": 1500, "keepOnlineStatus": "yes"}
    saved = api.account.setSettings(changed)
    assert saved.code == 200, saved.error
    assert saved.data == {"saveSettings": True}
    again = api.account.getSettings()
    assert again.code == 200 and again.data == changed

    bad_values = [
        ({"outgoingWebhook": "maybe"}, "'outgoingWebhook' has an invalid format (must be one of [yes, no])"),
        (
            {"delaySendMessagesMilliseconds": 100},
            "'delaySendMessagesMilliseconds' must be greater than or equal to 500",
        ),
        ({"delaySendMessagesMilliseconds": "3000"}, "'delaySendMessagesMilliseconds' must be an integer"),
        ({"noSuchSetting": "yes"}, "'noSuchSetting' is not allowed"),
        ({}, "'value' must have at least 1 key"),
    ]
    for body, reason in bad_values:
        response = api.account.setSettings(body)
        error_body(response, 400, "Validation failed. Details: " + reason, path(instance, "setSettings"))
    assert api.account.getSettings().data == changed  # refused changes left nothing behind


def test_qr_then_scan_then_logout(
    make_instance: Callable[..., Instance], make_client: Callable[..., Any], server: ServerProcess
) -> None:
    instance = make_instance(authorized=False, contacts=None)
    api = make_client(instance.id, instance.token, server.url)
    assert state(api) == "notAuthorized"
    assert api.account.getSettings().data["wid"] == ""  # no linked phone yet
    qr = api.account.qr()
    assert qr.code == 200, qr.error
    assert set(qr.data) == {"type", "message"} and qr.data["type"] == "qrCode"
    with Image.open(io.BytesIO(base64.b64decode(qr.data["message"], validate=True))) as image:
        assert image.format == "PNG"
        image.verify()
    # the methods that need the phone refuse while it is not linked
    not_authorized = "instance is starting or not authorized"
    error_body(api.serviceMethods.getContacts(), 400, not_authorized, path(instance, "getContacts"))
    error_body(
        api.serviceMethods.checkWhatsapp(79990000001), 400, not_authorized, path(instance, "checkWhatsapp")
    )

    cli(server.env, "sandbox", "scan", str(instance.id))
    wait_for(lambda: state(api) == "authorized", what="authorized after the scan")
    qr = api.account.qr()
    assert qr.code == 200 and qr.data == {
        "type": "alreadyLogged",
        "message": "instance account already authorized",
    }

    logout = api.account.logout()
    assert logout.code == 200, logout.error
    assert logout.data == {"isLogout": True}
    assert state(api) == "notAuthorized"
    assert api.account.qr().data["type"] == "qrCode"


def test_reboot_goes_through_starting_back_to_authorized(bare_api: Any) -> None:
    api = bare_api
    assert state(api) == "authorized"
    reboot = api.account.reboot()
    assert reboot.code == 200, reboot.error
    assert reboot.data == {"isReboot": True}
    seen: list[str] = []

    def back() -> bool:
        seen.append(state(api))
        return seen[-1] == "authorized"

    wait_for(back, what="authorized after the reboot")
    assert seen[0] == "starting", seen
    assert set(seen) == {"starting", "authorized"}, seen


def test_update_api_token(bare_api: Any, bare_instance: Instance, make_client: Callable[..., Any]) -> None:
    api, instance = bare_api, bare_instance
    response = api.account.updateApiToken()
    assert response.code == 200, response.error
    assert set(response.data) == {"apiTokenInstance"}
    new_token = response.data["apiTokenInstance"]
    assert API_TOKEN.fullmatch(new_token) and new_token != instance.token
    # the old token stops working at once; the SDK keeps the token it was built with
    error_body(api.account.getStateInstance(), 401, "Unauthorized", path(instance, "getStateInstance"))
    renewed = make_client(instance.id, new_token, instance.api_url)
    assert state(renewed) == "authorized"


# --- service methods -----------------------------------------------------------------------------------------


def test_get_contacts(shared_api: Any) -> None:
    api = shared_api
    book = [
        {
            "id": c["id"],
            "name": c["name"],
            "contactName": c["contactName"] if c["inAddressBook"] else "",
            "type": "user",
        }
        for c in CONTACTS
    ]

    def contacts(**query: Any) -> list[dict[str, Any]]:
        response = api.serviceMethods.getContacts(**query)
        assert response.code == 200, response.error
        assert isinstance(response.data, list)
        return response.data

    assert contacts() == book
    assert contacts(group=False) == book
    assert contacts(group=True) == []
    assert contacts(count=2) == book[:2]
    assert contacts(group=False, count=3) == book[:3]
    assert contacts(count=0) == book  # 0 means all, as an absent count


def test_check_whatsapp(shared_api: Any, shared_instance: Instance) -> None:
    api, instance = shared_api, shared_instance
    # 0.0.55's signature: the SDK prefers chatId and keeps phoneNumber for older code
    parameters = list(inspect.signature(api.serviceMethods.checkWhatsapp).parameters)
    assert parameters == ["phoneNumber", "chatId", "force"]

    def exists(**body: Any) -> bool:
        response = api.serviceMethods.checkWhatsapp(**body)
        assert response.code == 200, response.error
        assert set(response.data) == {"existsWhatsapp"}
        result: bool = response.data["existsWhatsapp"]
        return result

    assert exists(phoneNumber=int(UNNAMED.split("@")[0])) is True
    assert exists(phoneNumber=int(NOT_A_CONTACT.split("@")[0])) is True  # on WhatsApp, not in the book
    assert exists(phoneNumber=int(NOT_ON_WHATSAPP.split("@")[0])) is False
    assert exists(chatId=NAMED[0]) is True
    assert exists(chatId=NOT_ON_WHATSAPP) is False
    assert exists(chatId=NAMED[0], force=True) is True
    # both given: chatId wins
    assert exists(phoneNumber=int(NOT_ON_WHATSAPP.split("@")[0]), chatId=NAMED[0]) is True
    error_body(
        api.serviceMethods.checkWhatsapp(123456789),
        400,
        "Validation failed. Details: bad phone number, valid from 11 to 16 digits",
        path(instance, "checkWhatsapp"),
    )
    error_body(
        api.serviceMethods.checkWhatsapp(),
        400,
        "Validation failed. Details: 'value' must have at least 1 key",
        path(instance, "checkWhatsapp"),
    )


GREEN_CONTACT_INFO_KEYS = {
    "avatar", "name", "contactName", "email", "category", "description", "products", "chatId", "lastSeen",
    "isArchive", "isDisappearing", "isMute", "messageExpiration", "muteExpiration", "isBusiness",
}  # fmt: skip


def test_get_contact_info(shared_api: Any, shared_instance: Instance) -> None:
    api, instance = shared_api, shared_instance

    def info(chat_id: str) -> dict[str, Any]:
        response = api.serviceMethods.getContactInfo(chat_id)
        assert response.code == 200, response.error
        assert set(response.data) == GREEN_CONTACT_INFO_KEYS
        assert response.data["chatId"] == chat_id
        assert response.data["products"] == [] and response.data["isBusiness"] is False
        data: dict[str, Any] = response.data
        return data

    for contact in CONTACTS:
        got = info(contact["id"])
        expected_name = contact["contactName"] if contact["inAddressBook"] else ""
        assert (got["name"], got["contactName"]) == (contact["name"], expected_name), contact
    assert (info(NOT_ON_WHATSAPP)["name"], info(NOT_ON_WHATSAPP)["contactName"]) == ("", "")
    error_body(
        api.serviceMethods.getContactInfo("not-a-chat"),
        400,
        "Validation failed. Details: 'chatId' has an invalid format (must look like 79001234567@c.us)",
        path(instance, "getContactInfo"),
    )
    response = httpx.post(
        f"{api.host}/waInstance{instance.id}/getContactInfo/{instance.token}", json={}, timeout=30
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Validation failed. Details: 'chatId' is required"


# --- error rows ----------------------------------------------------------------------------------------------


def test_error_rows(
    bare_api: Any,
    bare_instance: Instance,
    make_client: Callable[..., Any],
    server: ServerProcess,
    picture_url: str,
) -> None:
    api, instance = bare_api, bare_instance
    wrong_token = "0123456789abcdef" * 3 + "00"
    wrong = make_client(instance.id, wrong_token, server.url)
    for response, method in [
        (wrong.account.getStateInstance(), "getStateInstance"),
        (wrong.statuses.sendMediaStatus(picture_url, "status.jpg"), "sendMediaStatus"),
        (wrong.statuses.getStatusStatistic("3EB0" + "0" * 16), "getStatusStatistic"),
        (wrong.queues.clearMessagesQueue(), "clearMessagesQueue"),
    ]:
        body = error_body(response, 401, "Unauthorized", path(instance, method))
        assert wrong_token not in response.error, body

    unknown_id = "1000000001" if instance.id != 1000000001 else "1000000002"
    for id_instance in (unknown_id, "abc"):
        stranger = make_client(id_instance, instance.token, server.url)
        error_body(
            stranger.account.getStateInstance(), 403, "Forbidden", path(id_instance, "getStateInstance")
        )
        error_body(
            stranger.statuses.sendMediaStatus(picture_url, "status.jpg"),
            403,
            "Forbidden",
            path(id_instance, "sendMediaStatus"),
        )

    # a Green method statusgate does not answer; a wrong token is reported first
    error_body(api.sending.sendMessage(NAMED[0], "hi"), 404, "Not Found", path(instance, "sendMessage"))
    error_body(wrong.sending.sendMessage(NAMED[0], "hi"), 401, "Unauthorized", path(instance, "sendMessage"))

    invalid = [
        (
            api.statuses.sendMediaStatus(picture_url, "status.jpg", "x" * 1025),
            "'caption' length must be less than or equal to 1024 characters long",
        ),
        (
            api.statuses.sendMediaStatus(picture_url, "status.jpg", participants=["+79990000001"]),
            "'participants[0]' has an invalid format (must look like 79001234567@c.us)",
        ),
        (api.statuses.sendMediaStatus("", "status.jpg"), "'urlFile' is not allowed to be empty"),
    ]
    for response, reason in invalid:
        error_body(response, 400, "Validation failed. Details: " + reason, path(instance, "sendMediaStatus"))
    error_body(
        api.statuses.getStatusStatistic(""),
        400,
        "Validation failed. Details: 'idMessage' is not allowed to be empty",
        path(instance, "getStatusStatistic"),
    )
    assert queue(api) == []  # nothing refused was queued


def test_status_access_off_forbids_only_the_status_methods(
    api: Any, instance: Instance, server: ServerProcess, picture_url: str
) -> None:
    sent = send_status(api, picture_url)
    cli(server.env, "instance", "set", str(instance.id), "--status-access", "off")
    # the server sees CLI changes within a second
    wait_for(lambda: api.statuses.getStatusStatistic(sent).code == 403, what="status access off")
    error_body(
        api.statuses.sendMediaStatus(picture_url, "status.jpg"),
        403,
        "Forbidden",
        path(instance, "sendMediaStatus"),
    )
    error_body(api.statuses.getStatusStatistic(sent), 403, "Forbidden", path(instance, "getStatusStatistic"))
    assert state(api) == "authorized"
    assert api.account.getSettings().code == 200
    assert api.queues.showMessagesQueue().code == 200

    cli(server.env, "instance", "set", str(instance.id), "--status-access", "on")
    wait_for(lambda: api.statuses.getStatusStatistic(sent).code == 200, what="status access on")
    wait_for_recipients(api, sent, set(NAMED))


def test_upload_file_then_send_media_status(shared_api: Any, tmp_path: Path) -> None:
    """The SDK's uploadFile (raw body, Content-Type and GA-Filename) → a link on our own media host, which
    sendMediaStatus takes (read from the store, never fetched; tests/integration checks it with the guard on)."""
    api = shared_api
    picture = tmp_path / "beach day.png"
    Image.new("RGB", (60, 100), (10, 120, 200)).save(picture, format="PNG")
    response = api.sending.uploadFile(str(picture))
    assert response.code == 200, (response.code, response.error)
    url = response.data["urlFile"]
    assert set(response.data) == {"urlFile"}
    assert "/media/" in url
    served = httpx.get(url)
    assert served.status_code == 200
    assert served.content == picture.read_bytes()
    assert served.headers["content-type"] == "image/png"
    id_message = send_status(api, url, "beach day.png")
    wait_for_recipients(api, id_message, set(NAMED))
