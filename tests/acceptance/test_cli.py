"""The public command line (docs/cli.md) against a real server process on loopback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import ALL, PAIR_POSTGRESQL, fresh_store
from tests.support import FileServer, ServerProcess, base_env, cli, cli_json, jpeg_bytes, wait_for


def api(server: ServerProcess, creds: dict[str, Any], method: str, token: str | None = None) -> str:
    return f"{server.url}/waInstance{creds['idInstance']}/{method}/{token or creds['apiTokenInstance']}"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Where the commands keep their state: the data dir's SQLite file, or a fresh PostgreSQL database."""
    value: str = request.param
    return value


@pytest.fixture
def env(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    with fresh_store(PAIR_POSTGRESQL if backend == "postgresql" else ALL, request) as store:
        yield base_env(tmp_path / "data", engine_timeout_seconds=2, **store)


def test_instance_commands(env: dict[str, str], tmp_path: Path) -> None:
    creds = cli_json(env, "instance", "create", "--name", "shop")
    assert set(creds) == {"idInstance", "apiTokenInstance", "apiUrl", "mediaUrl"}
    assert isinstance(creds["idInstance"], int)
    assert len(creds["apiTokenInstance"]) == 50
    assert creds["apiUrl"] == creds["mediaUrl"]
    listed = cli_json(env, "instance", "list")
    assert listed == [
        {
            "idInstance": creds["idInstance"],
            "name": "shop",
            "engine": "sandbox",
            "stateInstance": "notAuthorized",
            "statusAccess": True,
        }
    ]
    with ServerProcess(env, tmp_path / "server.log") as server:
        assert httpx.get(api(server, creds, "getStateInstance")).json() == {"stateInstance": "notAuthorized"}
        cli(env, "sandbox", "scan", str(creds["idInstance"]))
        wait_for(
            lambda: httpx.get(api(server, creds, "getStateInstance")).json()["stateInstance"] == "authorized"
        )
        rotated = cli_json(env, "instance", "rotate-token", str(creds["idInstance"]))
        assert rotated["idInstance"] == creds["idInstance"]
        assert rotated["apiTokenInstance"] != creds["apiTokenInstance"]
        wait_for(
            lambda: httpx.get(api(server, creds, "getStateInstance")).status_code == 401,
            what="old token refused",
        )
        assert httpx.get(api(server, rotated, "getStateInstance")).status_code == 200
        cli(env, "instance", "set", str(creds["idInstance"]), "--status-access", "off")
        body = {"urlFile": "https://media.example/a.jpg", "fileName": "a.jpg"}
        wait_for(lambda: httpx.post(api(server, rotated, "sendMediaStatus"), json=body).status_code == 403)
        assert cli_json(env, "instance", "list")[0]["statusAccess"] is False
        cli(env, "instance", "delete", str(creds["idInstance"]))
        wait_for(lambda: httpx.get(api(server, rotated, "getStateInstance")).status_code == 403)
    assert cli_json(env, "instance", "list") == []


def test_errors_exit_codes(env: dict[str, str]) -> None:
    # fresh interpreters: the exit codes of `python -m statusgate` itself (elsewhere the CLI runs forked)
    usage = cli(env, "instance", "frobnicate", check=False, fresh=True)
    assert usage.returncode == 2
    missing = cli(env, "sandbox", "scan", "1234567890", check=False, fresh=True)
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0
    assert "1234567890" in missing.stderr
    assert missing.stdout == ""
    failed = cli(env, "instance", "create", "--engine", "sandbox", "--name", "a", "--json", fresh=True)
    dup = cli(env, "instance", "create", "--name", "a", "--json", check=False, fresh=True)
    assert failed.returncode == 0
    assert dup.returncode == 1
    assert dup.stdout == ""


def test_sandbox_commands(env: dict[str, str], tmp_path: Path) -> None:
    creds = cli_json(env, "instance", "create", "--authorized")
    book = tmp_path / "book.json"
    book.write_text(
        json.dumps(
            [
                {"id": "79990000001@c.us", "name": "Ann", "contactName": "Ann W", "inAddressBook": True},
                {"id": "79990000002@c.us", "name": "Bob", "contactName": "", "inAddressBook": True},
                {"id": "79990000003@c.us", "name": "Cy", "contactName": "Cy", "inAddressBook": False},
            ]
        )
    )
    assert "3" in cli(env, "sandbox", "contacts", "import", str(creds["idInstance"]), str(book)).stdout
    with FileServer() as files, ServerProcess(env, tmp_path / "server.log") as server:
        contacts = httpx.get(api(server, creds, "getContacts")).json()
        assert [c["id"] for c in contacts] == ["79990000001@c.us", "79990000002@c.us", "79990000003@c.us"]
        assert contacts[2]["contactName"] == ""  # not in the address book: no saved name
        url = files.add("/a.jpg", jpeg_bytes())
        id_message = httpx.post(
            api(server, creds, "sendMediaStatus"), json={"urlFile": url, "fileName": "a.jpg"}
        ).json()["idMessage"]
        stats_url = api(server, creds, "getStatusStatistic") + f"?idMessage={id_message}"
        wait_for(lambda: httpx.get(stats_url).json(), what="statistics")
        cli(env, "sandbox", "view", str(creds["idInstance"]), id_message, "--participant", "79990000001@c.us")
        wait_for(
            lambda: (
                httpx.get(stats_url).json()
                == [
                    {
                        "participant": "79990000001@c.us",
                        "timestamp": httpx.get(stats_url).json()[0]["timestamp"],
                        "status": "read",
                    }
                ]
            ),
            what="read receipt",
        )
        not_recipient = cli(
            env,
            "sandbox",
            "view",
            str(creds["idInstance"]),
            id_message,
            "--participant",
            "79990000002@c.us",
            check=False,
        )
        assert not_recipient.returncode == 1
        cli(env, "sandbox", "logout", str(creds["idInstance"]))
        wait_for(
            lambda: (
                httpx.get(api(server, creds, "getStateInstance")).json()["stateInstance"] == "notAuthorized"
            )
        )


def test_sandbox_deliveries_counts_what_the_network_received(env: dict[str, str], tmp_path: Path) -> None:
    creds = cli_json(env, "instance", "create", "--authorized")
    id_instance = str(creds["idInstance"])
    people = ["79990000001@c.us", "79990000002@c.us"]
    book = tmp_path / "book.json"
    book.write_text(json.dumps([{"id": p, "name": p[:4], "contactName": p[:4]} for p in people]))
    cli(env, "sandbox", "contacts", "import", id_instance, str(book))
    assert cli_json(env, "sandbox", "deliveries", id_instance) == []
    with ServerProcess(env, tmp_path / "server.log") as server:
        ids = [
            httpx.post(api(server, creds, "sendTextStatus"), json={"message": f"hi {n}"}).json()["idMessage"]
            for n in range(2)
        ]
        stats = api(server, creds, "getStatusStatistic") + f"?idMessage={ids[-1]}"
        wait_for(lambda: httpx.get(stats).json(), what="both sent")
    rows = cli_json(env, "sandbox", "deliveries", id_instance)
    assert [(r["idMessage"], r["participant"], r["deliveries"]) for r in rows] == [
        (id_message, p, 1) for id_message in ids for p in people
    ]
    assert all(set(r) == {"idMessage", "participant", "deliveries", "firstAt"} for r in rows)
    first_at = [r["firstAt"] for r in rows]
    assert all(isinstance(t, float) for t in first_at) and first_at == sorted(first_at)
    # the instance's delay (500 ms here) separates the arrivals of consecutive statuses
    assert first_at[2] - first_at[1] >= 0.5
    lines = cli(env, "sandbox", "deliveries", id_instance).stdout.splitlines()
    assert [line.split()[:3] for line in lines] == [[r["idMessage"], r["participant"], "1"] for r in rows]
    assert float(lines[0].split()[3]) == pytest.approx(first_at[0], abs=1e-6)
    unknown = cli(env, "sandbox", "deliveries", "1234567890", check=False)
    assert unknown.returncode == 1 and unknown.stdout == "" and "1234567890" in unknown.stderr


# on PostgreSQL any number of servers share one database, by design (the cluster tests)
@pytest.mark.parametrize("backend", ["sqlite"])
def test_second_server_on_same_database_refuses(env: dict[str, str], tmp_path: Path) -> None:
    with ServerProcess(env, tmp_path / "one.log"):
        second = subprocess.run(
            [sys.executable, "-m", "statusgate", "serve", "--port", "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "already running" in second.stderr
        assert "SQLite" in second.stderr


def test_sigterm_lets_the_send_in_flight_finish(env: dict[str, str], tmp_path: Path) -> None:
    """SIGTERM during a send that hangs: the server waits for it (it times out, stays queued), exits 0,
    and the status leaves after the restart — nothing lost."""
    creds = cli_json(env, "instance", "create", "--authorized")
    book = tmp_path / "book.json"
    book.write_text(json.dumps([{"id": "79990000001@c.us", "name": "A", "contactName": "A"}]))
    cli(env, "sandbox", "contacts", "import", str(creds["idInstance"]), str(book))
    cli(env, "sandbox", "fail", str(creds["idInstance"]), "--mode", "timeout")
    with FileServer() as files:
        url = files.add("/a.jpg", jpeg_bytes())
        server = ServerProcess(env, tmp_path / "server.log").start()
        id_message = httpx.post(
            api(server, creds, "sendMediaStatus"), json={"urlFile": url, "fileName": "a.jpg"}
        ).json()["idMessage"]
        wait_for(lambda: _sending(env, creds), what="send in flight")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        # uvicorn re-raises SIGTERM once it has shut down gracefully, as Unix servers conventionally do
        assert server.proc.wait(timeout=60) in (0, -signal.SIGTERM)
        log = server.output()
        assert "waiting for 1 send step(s) in flight" in log
        assert "queue stopped (0 send step(s) cut short" in log
        assert "send of " in log  # the hanging send ended (timed out) before the process exited
        assert "Finished server process" in log
        with ServerProcess(env, tmp_path / "server2.log") as again:
            stats = api(again, creds, "getStatusStatistic") + f"?idMessage={id_message}"
            rows = wait_for(lambda: httpx.get(stats).json(), what="sent after restart")
            assert [r["participant"] for r in rows] == ["79990000001@c.us"]


def _sending(env: dict[str, str], creds: dict[str, Any]) -> bool:
    import sqlalchemy as sa

    from statusgate.store.dialects import database_url
    from statusgate.store.schema.statuses import statuses

    postgresql = env.get("STATUSGATE_DATABASE_URL")
    sqlite = f"sqlite:///{Path(env['STATUSGATE_DATA_DIR']) / 'statusgate.db'}"
    engine = sa.create_engine(database_url(postgresql) if postgresql else sqlite, poolclass=sa.NullPool)
    with engine.connect() as conn:
        state = conn.execute(
            sa.select(statuses.c.state).where(statuses.c.instance_id == creds["idInstance"])
        ).scalar()
    engine.dispose()
    return state == "sending"
