"""schemathesis, from the server's own ``/openapi.json``, against a real server with a real instance, both
inside ``unshare -n`` (tests/integration/schemathesis_driver.py).

Every operation but the two that take the run's instance away is tested, the Partner API's too, in every
phase; no answer is a 500, none is off its documented status codes, content types, headers or schema, no
schema-violating request is accepted (a partner refusal is read from its body), neither token is in a log
line, and nothing looks up a name or connects beyond loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from statusgate.api.methods import METHODS
from statusgate.api.partner import PARTNER_METHODS
from tests.integration.schemathesis_driver import LEFT_OUT
from tests.integration.test_fuzz import namespace_command
from tests.support import ROOT

SEED = 20261202
#: cases per operation and phase: about 30 s on two cores
EXAMPLES = 40


def test_schemathesis_finds_nothing() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGATE_")}
    command = [*namespace_command(), sys.executable, "-m", "tests.integration.schemathesis_driver"]
    result = subprocess.run(
        [*command, str(SEED), str(EXAMPLES), "--netns"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"driver failed ({result.returncode}):\n{result.stderr[-5000:]}"
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    report = summary["report"]
    assert report is not None, summary["output"][-5000:]
    assert summary["exit_code"] == 0 and report["failures"] == [] and report["errors"] == [], summary[
        "output"
    ][-8000:]
    operations = sum(len(m.verbs) for m in METHODS.values()) + len(PARTNER_METHODS)
    served = operations - len(LEFT_OUT)
    assert report["complete"] and report["operations"] == {
        "total": operations,
        "selected": served,
        "tested": served,
        "errored": 0,
        "skipped": 0,
        "skip_reasons": [],
    }, report["operations"]
    assert all(p["status"] == "success" for name, p in report["phases"].items() if name != "stateful")
    # the generated requests reached the methods themselves: each operation answered 200 at least once,
    # but getAuthorizationCode, which a linked phone always refuses
    accepted = {
        operation.split("/")[2]: sum(phase["accepted"] for phase in phases.values())
        for operation, phases in report["valid_rates"].items()
    }
    assert {name for name, count in accepted.items() if count == 0} <= {"getAuthorizationCode"}, accepted
    assert summary["violations"] == [], summary["violations"]
    log = result.stderr
    for token in (summary["token"], summary["partner_token"]):
        assert token not in log and token not in summary["output"]
    assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:4000]
