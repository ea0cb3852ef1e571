"""No API token — current, rotated or wrong — ever reaches the server's output (nor a database password).

Green puts the token in the URL path, so every access log line, error log and traceback is a place it could
leak. An SDK-driven run touches every method, the error rows (401/403/404/400), a status whose media fails
to prepare and two token rotations; then the server is stopped and every line it wrote is searched.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from tests.acceptance.conftest import (
    MISSING_PICTURE,
    NAMED,
    Instance,
    queue,
    send_status,
    state,
    statistic,
    stop,
)
from tests.support import FileServer, ServerProcess, cli, cli_json, wait_for

#: a path segment after /waInstance<id>/<method>/ — where Green puts the token
TOKEN_SEGMENT = re.compile(r"/waInstance[^/\s]*/[^/\s?]+/([^/\s?#\"']*)")


def answered(api: Any, call: Callable[[Any], Any], code: int) -> Any:
    response = call(api)
    assert response.code == code, (response.code, response.data, response.error)
    return response


def test_no_token_in_server_output(
    server: ServerProcess,
    make_instance: Callable[..., Instance],
    make_client: Callable[..., Any],
    files: FileServer,
    picture_url: str,
) -> None:
    instance = make_instance()
    waiting = make_instance(authorized=False, contacts=None)
    wrong_token = secrets.token_hex(25)
    tokens = [instance.token, waiting.token]
    #: (idInstance, verb, method, HTTP status) of requests that must show in the access log, redacted
    expected: set[tuple[str, str, str, int]] = set()

    def call(api: Any, verb: str, method: str, code: int, action: Callable[[Any], Any]) -> Any:
        expected.add((api.idInstance, verb, method, code))
        return answered(api, action, code)

    api = make_client(instance.id, instance.token, server.url)

    # --- everything that succeeds ---
    sent = send_status(api, picture_url, caption="hello", participants=[NAMED[0]])
    expected.add((api.idInstance, "POST", "sendMediaStatus", 200))
    wait_for(lambda: statistic(api, sent), what="statistics")
    expected.add((api.idInstance, "GET", "getStatusStatistic", 200))
    settings = call(api, "GET", "getSettings", 200, lambda a: a.account.getSettings()).data
    call(api, "POST", "setSettings", 200, lambda a: a.account.setSettings(settings))
    call(api, "GET", "getContacts", 200, lambda a: a.serviceMethods.getContacts(group=False, count=2))
    call(api, "POST", "checkWhatsapp", 200, lambda a: a.serviceMethods.checkWhatsapp(chatId=NAMED[0]))
    call(api, "GET", "showMessagesQueue", 200, lambda a: a.queues.showMessagesQueue())
    call(api, "GET", "clearMessagesQueue", 200, lambda a: a.queues.clearMessagesQueue())
    call(api, "GET", "qr", 200, lambda a: a.account.qr())
    call(api, "GET", "reboot", 200, lambda a: a.account.reboot())
    wait_for(lambda: state(api) == "authorized", what="authorized after the reboot")
    expected.add((api.idInstance, "GET", "getStateInstance", 200))

    waiting_api = make_client(waiting.id, waiting.token, server.url)
    assert call(waiting_api, "GET", "qr", 200, lambda a: a.account.qr()).data["type"] == "qrCode"

    # --- the error rows ---
    call(api, "POST", "setSettings", 400, lambda a: a.account.setSettings({"outgoingWebhook": "maybe"}))
    call(api, "POST", "sendMediaStatus", 400, lambda a: a.statuses.sendMediaStatus("", "status.jpg"))
    call(waiting_api, "GET", "getContacts", 400, lambda a: a.serviceMethods.getContacts())
    call(api, "POST", "sendMessage", 404, lambda a: a.sending.sendMessage(NAMED[0], "hi"))
    wrong = make_client(instance.id, wrong_token, server.url)
    call(wrong, "GET", "getStateInstance", 401, lambda a: a.account.getStateInstance())
    unknown_id = "1000000001" if instance.id != 1000000001 else "1000000002"
    stranger = make_client(unknown_id, instance.token, server.url)
    call(stranger, "GET", "getStateInstance", 403, lambda a: a.account.getStateInstance())
    # the SDK with a trailing slash on host asks for //waInstance…; whatever the answer, no token in the log
    slash = make_client(instance.id, instance.token, server.url + "/")
    assert slash.account.getStateInstance().code is not None

    # --- a status whose media cannot be fetched fails preparation (404 at the file server) ---
    failing = send_status(api, files.url(MISSING_PICTURE), file_name="missing.jpg")
    wait_for(lambda: MISSING_PICTURE in files.requests, what="the fetch of the missing picture")
    wait_for(lambda: all(item["messageID"] != failing for item in queue(api)), what="the failed status")
    assert statistic(api, failing) == []

    # --- rotation through the API: the SDK keeps its token, so it is refused from now on ---
    rotated = call(api, "GET", "updateApiToken", 200, lambda a: a.account.updateApiToken())
    tokens.append(rotated.data["apiTokenInstance"])
    answered(api, lambda a: a.account.getStateInstance(), 401)
    api = make_client(instance.id, tokens[-1], server.url)
    send_status(api, picture_url, caption="after the rotation")

    # --- rotation through the CLI: the server sees it within a second ---
    tokens.append(cli_json(server.env, "instance", "rotate-token", str(instance.id))["apiTokenInstance"])
    wait_for(lambda: api.account.getStateInstance().code == 401, what="the rotated token refused")
    api = make_client(instance.id, tokens[-1], server.url)
    assert state(api) == "authorized"

    # --- status access off: 403 on the status methods only ---
    cli(server.env, "instance", "set", str(instance.id), "--status-access", "off")
    wait_for(lambda: api.statuses.getStatusStatistic(sent).code == 403, what="status access off")
    expected.add((api.idInstance, "GET", "getStatusStatistic", 403))
    call(api, "POST", "sendMediaStatus", 403, lambda a: a.statuses.sendMediaStatus(picture_url, "status.jpg"))
    call(api, "GET", "logout", 200, lambda a: a.account.logout())

    stop(server)  # SIGTERM: a clean exit, every line written
    output = server.output()
    lines = output.splitlines()

    # the test can fail: the requests above are all in the access log, each with the token redacted
    for id_instance, verb, method, code in sorted(expected):
        pattern = re.compile(
            rf'"{verb} /waInstance{id_instance}/{re.escape(method)}/\*\*\*(\?\S*)? HTTP/1\.1" {code}\b'
        )
        if not any(pattern.search(line) for line in lines):
            raise AssertionError(f"no access log line for {verb} {method} → {code}:\n{output[-3000:]}")
    segments = [m.group(1) for line in lines for m in TOKEN_SEGMENT.finditer(line)]
    assert len(segments) >= len(expected)
    assert set(segments) == {"***"}, sorted(set(segments))

    lowered = output.lower()
    for token in [*tokens, wrong_token]:
        assert len(token) == 50
        for piece in (token, token[:16], token[-16:]):
            assert piece not in lowered, f"token {token[:4]}… leaked into the server's output"
    # on PostgreSQL the database URL carries a password: that never shows either
    password = urlsplit(server.env.get("STATUSGATE_DATABASE_URL", "")).password
    if password:
        assert password not in output, "the database password leaked into the server's output"
