"""The fuzzer (tests/integration/fuzz_driver.py) against a real server, both inside ``unshare -n``.

Nested JSON, huge and odd numbers, Unicode digits, bad hosts, nulls for every settings key, bad header
values, odd path shapes: no 500, every error in Green's shape, the token in no answer and no log line, and
not one lookup or connection beyond loopback and the stub resolver.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from tests.integration.fuzz_driver import STUB_ZONE
from tests.support import ROOT

STUB_NAMES = list(STUB_ZONE)

SEED = 20261201
REQUESTS = 1500


def namespace_command() -> list[str]:
    unshare = shutil.which("unshare")
    assert unshare is not None, "the fuzz test needs util-linux's unshare (apt-get install util-linux)"
    # as root a plain network namespace; otherwise a user namespace gives the right to make one
    return [unshare, "--net"] if os.geteuid() == 0 else [unshare, "--map-root-user", "--net"]


def test_fuzz_no_500_no_token_no_network() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGATE_")}
    command = [*namespace_command(), sys.executable, "-m", "tests.integration.fuzz_driver", str(SEED)]
    result = subprocess.run(
        [*command, str(REQUESTS), "--netns"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"fuzz driver failed ({result.returncode}):\n{result.stderr[-5000:]}"
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["problems"] == [], "\n".join(summary["problems"][:40])
    assert summary["violations"] == [], summary["violations"]
    assert summary["transport_errors"] == 0
    statuses = {int(code): n for code, n in summary["statuses"].items()}
    assert sum(statuses.values()) >= REQUESTS * 0.9, statuses
    assert not any(code >= 500 for code in statuses), statuses
    # the run reached the validation of every kind of input, and also accepted some requests
    assert statuses.get(400, 0) > REQUESTS / 4 and statuses.get(200, 0) > 0, statuses
    # every name a status asked for went to the stub (never the system resolver), and the guard refused
    # what it answered
    fetches = summary["failed_fetches"]
    assert set(fetches) == set(STUB_NAMES) | {"unknown.name.test"}, fetches
    for host, outcome in fetches.items():
        assert outcome.startswith("failed: "), (host, outcome)
        expected = "does not exist" if host == "unknown.name.test" else "which is not allowed"
        assert expected in outcome, (host, outcome)
    assert set(summary["stub_lookups"]) >= set(fetches)
    assert set(summary["stub_lookups"]) <= {
        "files.loopback.test",
        "intranet.private.test",
        "metadata.google.internal",
        "rebind.test",
        "v6.private.test",
        "unknown.name.test",
        "xn--9ca.test",
    }, summary["stub_lookups"]
    log = result.stderr
    assert summary["token"] not in log
    assert "Exception in ASGI application" not in log
    assert "Task exception was never retrieved" not in log
    assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:4000]
