"""schemathesis against a real server, both inside ``unshare -n``, driven from the server's own OpenAPI document.

Run by ``test_openapi_schemathesis.py`` as ``python -m tests.integration.schemathesis_driver SEED EXAMPLES
--netns``. The server runs here (uvicorn on loopback, the fuzzer's stub resolver and socket guards: a lookup
of any name but the stub's, or a connection beyond loopback, is recorded as a violation); schemathesis runs as
a child process against the server's ``/openapi.json``, pinned to a real instance's id and token. Methods that
would end the run's own access (updateApiToken rotates the token, logout unlinks the phone) are left out.

Prints one JSON summary on stdout: schemathesis's exit code, its JSON report, the violations.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from statusgate.logs import log_config
from statusgate.services import instances
from statusgate.settings import Settings
from statusgate.wiring.core import Core
from statusgate.wiring.server import server_app
from tests.integration.fuzz_driver import guard_the_sockets, loopback_up, stub_resolver, violations

#: operations whose call takes the run's own instance away from it
LEFT_OUT = ("updateApiToken", "logout")


def pinned(spec: dict[str, Any], id_instance: int, token: str) -> dict[str, Any]:
    """The server's document with the run's instance as the only valid id and token: its cases call the
    real instance, and the negative cases that change either must be refused (403, 401)."""
    values = {"idInstance": id_instance, "apiTokenInstance": token}
    for item in spec["paths"].values():
        for parameter in item.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"] in values:
                parameter["schema"] = parameter["schema"] | {"const": values[parameter["name"]]}
    return spec


async def run(seed: int, examples: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="statusgate-schemathesis-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(
        data_dir=work / "data",
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        allow_private_urls=False,
        poll_interval_seconds=0.05,
        delay_default_ms=500,
        sandbox_reboot_seconds=0.1,
        # every request is to reach its method; receiveNotification waits at most a second
        rate_limits="off",
        receive_timeout_min_seconds=0,
        receive_timeout_max_seconds=1,
        log_level="WARNING",
    )
    core = Core(settings, resolver=stub_resolver)
    config = uvicorn.Config(server_app(core), host="127.0.0.1", port=port, log_config=log_config())
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.02)
    credentials = await instances.create(core.ctx, authorized=True)
    async with httpx.AsyncClient() as client:
        spec = (await client.get(f"http://127.0.0.1:{port}/openapi.json")).raise_for_status().json()
    (work / "openapi.json").write_text(
        json.dumps(pinned(spec, credentials.id_instance, credentials.api_token))
    )
    report = work / "report.json"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        str(work / "openapi.json"),
        "--url",
        f"http://127.0.0.1:{port}",
        # every check but two that do not fit Green's wire: an unknown verb is a 404 there, not a 405; and a
        # request can match the schema yet be refused for the instance's state (deleteStatus of an id that
        # is not there, getAuthorizationCode of a linked phone): Green's 400s
        "--checks",
        "all",
        "--exclude-checks",
        "unsupported_method,positive_data_acceptance",
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        # one worker: Hypothesis parses lambdas' source with ast, which CPython 3.11 gets wrong from two
        # threads at once ("AST constructor recursion depth mismatch")
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        *(option for name in LEFT_OUT for option in ("--exclude-operation-id", name)),
    ]
    child = await asyncio.create_subprocess_exec(
        *command, cwd=work, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await child.communicate()
    server.should_exit = True
    await serving
    return {
        "token": credentials.api_token,
        "exit_code": child.returncode,
        "output": output.decode(errors="replace"),
        "report": json.loads(report.read_text()) if report.exists() else None,
        "violations": violations,
    }


def main() -> None:
    seed, examples = int(sys.argv[1]), int(sys.argv[2])
    if "--netns" in sys.argv:
        loopback_up()
    guard_the_sockets()
    summary = asyncio.run(run(seed, examples))
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
