"""What ``make run`` does: ``statusgate demo`` prints credentials and a curl that posts a status; it works."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.acceptance.conftest import API_TOKEN, ID_MESSAGE, error_body, state, statistic, stop
from tests.support import ServerProcess, base_env, wait_for


@dataclass(frozen=True)
class DemoOutput:
    id_instance: int
    token: str
    api_url: str
    curl: str


def parse_demo_output(output: str) -> DemoOutput:
    """The demo's printed block (see ``statusgate demo``): idInstance, apiUrl, token, one ``curl `` line."""
    id_instance = re.search(r"^statusgate demo instance\b.*\bidInstance (\d+)$", output, re.MULTILINE)
    api_url = re.search(r"^\s+apiUrl / mediaUrl\s+(\S+)$", output, re.MULTILINE)
    token = re.search(r"^\s+apiTokenInstance\s+(\S+)$", output, re.MULTILINE)
    curls = [line for line in output.splitlines() if line.startswith("curl ")]
    assert id_instance and api_url and token, output
    assert len(curls) == 1, output
    assert API_TOKEN.fullmatch(token.group(1)), token.group(1)
    return DemoOutput(int(id_instance.group(1)), token.group(1), api_url.group(1), curls[0])


def run_curl(line: str) -> str:
    """Run the printed command exactly as a user pastes it; returns the idMessage it answers."""
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    answer = json.loads(done.stdout)
    assert set(answer) == {"idMessage"}, answer
    id_message: str = answer["idMessage"]
    assert ID_MESSAGE.fullmatch(id_message), id_message
    return id_message


def start_demo(env: dict[str, str], log: Path) -> tuple[ServerProcess, DemoOutput]:
    demo = ServerProcess(env, log, command="demo").start()
    printed = parse_demo_output(demo.output())  # printed before the server answers /health
    assert printed.api_url == demo.url  # loopback, on the port it was given
    assert printed.curl.count("http://") == 2 and printed.curl.count(f"{demo.url}/") == 2, printed.curl
    return demo, printed


def named_contacts(api: Any) -> set[str]:
    """The demo address book's contacts that have a contactName (the default audience)."""
    response = api.serviceMethods.getContacts()
    assert response.code == 200, response.error
    contacts = response.data
    named = {c["id"] for c in contacts if c["contactName"]}
    assert len(named) == 5, contacts  # README: five named contacts,
    assert len(contacts) > len(named), contacts  # and people without a name in the book
    return named


def reaches_exactly(api: Any, id_message: str, audience: set[str]) -> None:
    def every_one_delivered() -> bool:
        rows = statistic(api, id_message)
        participants = [row["participant"] for row in rows]
        assert len(participants) == len(set(participants)), rows
        assert set(participants) <= audience, rows  # never anyone else
        return set(participants) == audience and all(row["status"] == "delivered" for row in rows)

    wait_for(every_one_delivered, what=f"{id_message} delivered to {sorted(audience)}")


def test_demo_curl_posts_a_status_to_the_named_contacts(
    tmp_path: Path, make_client: Callable[..., Any]
) -> None:
    env = base_env(tmp_path / "data")

    first, printed = start_demo(env, tmp_path / "demo-1.log")
    try:
        api = make_client(printed.id_instance, printed.token, printed.api_url)
        assert state(api) == "authorized"
        audience = named_contacts(api)
        id_message = run_curl(printed.curl)
        reaches_exactly(api, id_message, audience)
    finally:
        stop(first)

    # a second start on the same data: the same instance, a new token; the old one is refused
    second, again = start_demo(env, tmp_path / "demo-2.log")
    try:
        assert again.id_instance == printed.id_instance
        assert again.token != printed.token
        old = make_client(printed.id_instance, printed.token, again.api_url)
        error_body(
            old.account.getStateInstance(),
            401,
            "Unauthorized",
            f"/waInstance{printed.id_instance}/getStateInstance/***",
        )
        api = make_client(again.id_instance, again.token, again.api_url)
        assert state(api) == "authorized"
        assert named_contacts(api) == audience
        reaches_exactly(api, id_message, audience)  # the first run's status is still on record
        reaches_exactly(api, run_curl(again.curl), audience)  # and the reused picture posts again
    finally:
        stop(second)
