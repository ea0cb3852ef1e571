"""Acceptance: a whatsapp instance on a real server process, real neonize in its engine process, offline.

`statusgate instance create --engine whatsapp`, then `qr` over HTTP: a clear error (WhatsApp cannot be
reached), never a 500 and never a hang. The engine process is pointed at a dead SOCKS5 proxy on loopback
(test-only setting), so nothing leaves the machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support import ServerProcess, base_env, cli_json
from tests.whatsapp_support import DeadSocksProxy, neonize_or_skip

neonize_or_skip()


def api(server: ServerProcess, creds: dict[str, Any], method: str) -> str:
    return f"{server.url}/waInstance{creds['idInstance']}/{method}/{creds['apiTokenInstance']}"


def test_qr_offline_is_a_clear_error(tmp_path: Path) -> None:
    with DeadSocksProxy() as proxy:
        env = base_env(tmp_path / "data", test_whatsapp_proxy=proxy.url, whatsapp_qr_timeout_seconds=15)
        creds = cli_json(env, "instance", "create", "--engine", "whatsapp")
        (listed,) = cli_json(env, "instance", "list")
        assert (listed["engine"], listed["stateInstance"]) == ("whatsapp", "notAuthorized")
        assert (tmp_path / "data" / "sessions" / str(creds["idInstance"])).is_dir()

        with ServerProcess(env, tmp_path / "server.log") as server:
            # the client's timeout is the "never a hang" check: a hanging qr would raise ReadTimeout
            r = httpx.get(api(server, creds, "qr"), timeout=30)
            assert r.status_code == 200, r.text
            assert r.json()["type"] == "error"
            assert r.json()["message"].startswith("could not connect to WhatsApp")
            assert httpx.get(api(server, creds, "getStateInstance")).json() == {
                "stateInstance": "notAuthorized"
            }

            again = httpx.get(api(server, creds, "qr"), timeout=30)  # a new attempt each time, same answer
            assert again.status_code == 200 and again.json()["type"] == "error"

            code = httpx.post(
                api(server, creds, "getAuthorizationCode"), json={"phoneNumber": 79001112233}, timeout=30
            )
            assert code.status_code == 400 and "could not connect to WhatsApp" in code.json()["message"]

            body = {"message": "hi", "participants": ["79001112233@c.us"]}
            refused = httpx.post(api(server, creds, "sendTextStatus"), json=body)
            assert refused.status_code == 400 and "participants" in refused.json()["message"]
            assert server.proc is not None and server.proc.poll() is None
            log = server.output()
        assert "Internal Server Error" not in log
        assert set(proxy.destinations) == {"web.whatsapp.com:443"}
