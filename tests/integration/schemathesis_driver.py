"""schemathesis against a real server, both inside ``unshare -n``, driven from the server's own OpenAPI document.

Run by ``test_openapi_schemathesis.py`` as ``python -m tests.integration.schemathesis_driver SEED EXAMPLES
--netns``. The server runs here (uvicorn on loopback, the fuzzer's stub resolver and socket guards: a lookup
of any name but the stub's, or a connection beyond loopback, is recorded as a violation); schemathesis runs as
a child process against the server's ``/openapi.json``, pinned to a real instance's id and token and to the
partner token. Methods that would end the run's own access (updateApiToken rotates the token, logout unlinks
the phone) are left out; deleteInstanceAccount is pinned to an instance made for it, so that its cases delete
that one (once) and never the run's. createInstance is fuzzed as it is: each case it accepts makes one
sandbox instance, a few hundred rows in the run's own data dir.

Prints one JSON summary on stdout: schemathesis's exit code, its JSON report, the violations.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from statusgate.services import instances, partner
from tests.integration.fuzz_driver import drive, loopback_settings, serve_on_loopback, violations

#: operations whose call takes the run's own instance away from it
LEFT_OUT = ("updateApiToken", "logout")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")


def pinned(
    spec: dict[str, Any], id_instance: int, token: str, partner_token: str, doomed: int
) -> dict[str, Any]:
    """The server's document with the run's instance as the only valid id and token, the partner token as
    the only valid one, and ``doomed`` as the only instance deleteInstanceAccount may name: its cases call the
    real instance, and the negative cases that change any of them must be refused (403, 401, 400)."""
    values: dict[str, object] = {
        "idInstance": id_instance,
        "apiTokenInstance": token,
        "partnerToken": partner_token,
    }
    for item in spec["paths"].values():
        for parameter in item.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"] in values:
                parameter["schema"] = parameter["schema"] | {"const": values[parameter["name"]]}
    deleted = spec["components"]["schemas"]["DeleteInstanceAccount"]["properties"]
    deleted["idInstance"] = deleted["idInstance"] | {"const": doomed}
    return spec


async def run(seed: int, examples: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="statusgate-schemathesis-"))
    settings = loopback_settings(
        work / "data",
        # every request is to reach its method; receiveNotification waits at most a second
        rate_limits="off",
        receive_timeout_min_seconds=0,
        receive_timeout_max_seconds=1,
        # the wrong partner tokens of the negative cases are to be answered 401, not all but the first few
        # 429 (which would hide whether the right token is still taken)
        partner_failures_per_minute=1_000_000,
        log_level="WARNING",
    )
    port = settings.port
    core, server, serving = await serve_on_loopback(settings)
    credentials = await instances.create(core.ctx, authorized=True)
    doomed = await instances.create(core.ctx)
    partner_token = await partner.token(core.ctx)
    async with httpx.AsyncClient() as client:
        spec = (await client.get(f"http://127.0.0.1:{port}/openapi.json")).raise_for_status().json()
    (work / "openapi.json").write_text(
        json.dumps(
            pinned(spec, credentials.id_instance, credentials.api_token, partner_token, doomed.id_instance)
        )
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
        # is not there, getAuthorizationCode of a linked phone): Green's 400s. negative_data_rejection runs
        # as schemathesis_hooks' version, which reads a Partner API refusal's status from its body
        "--checks",
        "all",
        "--exclude-checks",
        "unsupported_method,positive_data_acceptance,negative_data_rejection",
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
        *command,
        cwd=work,
        env=os.environ | {"SCHEMATHESIS_HOOKS": str(HOOKS)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await child.communicate()
    server.should_exit = True
    await serving
    return {
        "token": credentials.api_token,
        "partner_token": partner_token,
        "exit_code": child.returncode,
        "output": output.decode(errors="replace"),
        "report": json.loads(report.read_text()) if report.exists() else None,
        "violations": violations,
    }


def main() -> None:
    drive(run)


if __name__ == "__main__":
    main()
