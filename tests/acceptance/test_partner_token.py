"""The Partner API's token against real server processes: the file it is kept in, the setting that fixes it,
a rotation seen by another API node, throttled wrong tokens, and an engine the server does not have.

Each test starts the servers it needs (their settings differ), on loopback only.
"""

from __future__ import annotations

import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import PAIR_POSTGRESQL, fresh_store
from tests.support import ServerPair, ServerProcess, base_env, cli, cli_json, wait_for

UNAUTHORIZED = {"code": 401, "description": "Unauthorized"}
THROTTLED = {"code": 429, "description": "Too Many Requests"}


def get_instances(url: str, token: str, client: httpx.Client | None = None) -> Any:
    """``GET /partner/getInstances/{token}``: always HTTP 200 on Green's partner wire; the JSON body."""
    address = f"{url}/partner/getInstances/{token}"
    response = httpx.get(address, timeout=10) if client is None else client.get(address)
    assert response.status_code == 200, response.text
    return response.json()


def one_line_error(result: Any) -> str:
    """A refused command: exit 1, nothing on stdout, one ``statusgate: …`` line on stderr."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("statusgate: "), result.stderr
    line: str = lines[0]
    return line


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def server(data_dir: Path) -> Iterator[ServerProcess]:
    """One ``serve`` (role all) on a SQLite data dir of the test's own, default settings."""
    with ServerProcess(base_env(data_dir), data_dir.parent / "server.log") as process:
        yield process


# --- the generated token -------------------------------------------------------------------------------------


def test_the_generated_token_is_kept_private_and_printed_the_same_every_time(
    server: ServerProcess, data_dir: Path
) -> None:
    # the server makes it on first use (here: a wrong token presented)
    assert get_instances(server.url, "x" * 64) == UNAUTHORIZED
    token_file = data_dir / "partner-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = cli(server.env, "partner-token").stdout.strip()
    assert len(token) >= 32 and token.isascii() and token.isprintable()
    assert token_file.read_text("ascii").strip() == token
    assert [cli(server.env, "partner-token").stdout for _ in range(2)] == [f"{token}\n"] * 2
    assert cli_json(server.env, "partner-token") == {"partnerToken": token}
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600  # still, after every call
    assert sorted(p.name for p in data_dir.iterdir() if "partner-token" in p.name) == ["partner-token"]
    # it is the server's token, and the database keeps only its hash
    assert isinstance(get_instances(server.url, token), list)
    stored = b"".join(p.read_bytes() for p in data_dir.glob("statusgate.db*"))
    assert token.encode() not in stored
    assert token not in server.output()


def test_a_token_fixed_by_the_setting_is_printed_and_not_rotated(data_dir: Path) -> None:
    fixed = secrets.token_urlsafe(32)  # 43 characters
    env = base_env(data_dir, partner_token=fixed)
    assert cli(env, "partner-token").stdout == f"{fixed}\n"
    assert cli_json(env, "partner-token") == {"partnerToken": fixed}
    line = one_line_error(cli(env, "partner-token", "--rotate", check=False))
    assert "STATUSGATE_PARTNER_TOKEN" in line and fixed not in line
    assert cli(env, "partner-token").stdout == f"{fixed}\n"  # the refused rotation changed nothing
    assert not (data_dir / "partner-token").exists()  # nothing to keep: the setting holds it
    with ServerProcess(env, data_dir.parent / "server.log") as server:
        assert isinstance(get_instances(server.url, fixed), list)
        other = fixed[:-1] + ("A" if fixed[-1] != "A" else "B")
        assert get_instances(server.url, other) == UNAUTHORIZED
        assert fixed not in server.output()


def test_a_partner_token_setting_shorter_than_32_characters_is_refused_at_start(data_dir: Path) -> None:
    short = "s" + secrets.token_hex(15)  # 31 characters
    env = base_env(data_dir, partner_token=short, port=0)
    for command in (["serve"], ["partner-token"]):
        line = one_line_error(cli(env, *command, check=False))
        assert "partner_token" in line and "32" in line, line
        assert short not in line  # never echoed, not even a wrong one


# --- rotation across API nodes ---------------------------------------------------------------------------------


def test_a_rotation_is_seen_by_another_api_node_within_a_second(
    data_dir: Path, request: pytest.FixtureRequest
) -> None:
    with fresh_store(PAIR_POSTGRESQL, request) as store:
        # polling with the new token before a node sees it counts as wrong tokens: no throttle here
        env = base_env(data_dir, partner_failures_per_minute=100_000, **store)
        logs = data_dir.parent
        with ServerPair(env, logs / "pair.log") as pair:
            second = ServerProcess(
                env | {"STATUSGATE_ROLE": "api", "STATUSGATE_PUBLIC_URL": pair.url}, logs / "api2.log"
            )
            with second:
                nodes = {"first api": pair.url, "second api": second.url}
                old = cli_json(env, "partner-token")["partnerToken"]
                for url in nodes.values():
                    assert isinstance(get_instances(url, old), list)

                new = cli_json(env, "partner-token", "--rotate")["partnerToken"]
                rotated_at = time.monotonic()  # the database has the new hash before the command returns
                assert new != old
                seen: dict[str, float] = {}
                with httpx.Client(timeout=10) as client:

                    def every_node_takes_the_new_token() -> bool:
                        for name, url in nodes.items():
                            if name not in seen and isinstance(get_instances(url, new, client), list):
                                seen[name] = time.monotonic() - rotated_at
                        return len(seen) == len(nodes)

                    # a generous deadline; the figure printed below is what the "within 1 s" is about
                    wait_for(every_node_takes_the_new_token, timeout=5, interval=0.02, what="the rotation")
                    for name, url in nodes.items():
                        assert get_instances(url, old, client) == UNAUTHORIZED, name
                print(
                    "partner token rotation seen "
                    + ", ".join(f"by the {name} after {delay * 1000:.0f} ms" for name, delay in seen.items())
                )
                output = pair.output() + second.output()
                assert old not in output and new not in output


# --- throttling ----------------------------------------------------------------------------------------------


def test_wrong_partner_tokens_are_throttled_per_client_address(data_dir: Path) -> None:
    env = base_env(data_dir, partner_failures_per_minute=3)
    with ServerProcess(env, data_dir.parent / "server.log") as server:
        token = cli_json(env, "partner-token")["partnerToken"]
        wrong = [secrets.token_hex(32) for _ in range(4)]
        for attempt in wrong[:3]:
            assert get_instances(server.url, attempt) == UNAUTHORIZED
        # past the limit: Green's partner shape (HTTP 200) with code 429, for every method, the right token too
        assert get_instances(server.url, wrong[3]) == THROTTLED
        assert get_instances(server.url, token) == THROTTLED
        created = httpx.post(f"{server.url}/partner/createInstance/{token}", json={"name": "n"}, timeout=10)
        assert (created.status_code, created.json()) == (200, THROTTLED)
        assert not cli_json(env, "instance", "list")  # nothing was made meanwhile
        # another client address (loopback has the whole 127/8) is not held back by this one's failures
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10)
        with other:
            assert isinstance(get_instances(server.url, token, other), list)
        assert not any(t in server.output() for t in [token, *wrong])


# --- engines -----------------------------------------------------------------------------------------------------


def test_create_instance_with_an_engine_the_server_does_not_have_is_a_validation_failure(
    server: ServerProcess,
) -> None:
    token = cli_json(server.env, "partner-token")["partnerToken"]
    url = f"{server.url}/partner/createInstance/{token}"
    # (baileys is one of ours: installed here by make test, it makes an instance like the others)
    for engine in ["telegram", 5, "Baileys"]:
        response = httpx.post(url, json={"name": f"with-{engine}", "engine": engine}, timeout=10)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert set(answer) == {"code", "description"} and answer["code"] == 400, answer
        description: str = answer["description"]
        assert description.startswith("Validation failed. Details: "), description
        # it names the field and what it may be
        assert "'engine'" in description and "sandbox" in description and "baileys" in description, (
            description
        )
    assert get_instances(server.url, token) == []  # none of them was made
