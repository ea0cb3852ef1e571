"""The console in a real browser (issue 14): Debian's Chromium, driven by Playwright inside ``unshare -n``,
against an ``api`` + ``worker`` pair, through the operator's whole path and the one-instance sign-in, at a
desk's width and a phone's, by mouse and by keyboard alone.

The browser and both servers run in tests/acceptance/console_browser_driver.py, in a network namespace with
nothing but loopback (Chromium resolves names of its own otherwise); this side judges its JSON summary: every
step passed, no request beyond the server, no console error (a missing favicon is one), no page error, no
dialog (every ``<script>`` and ``javascript:`` payload stayed inert), no page wider than the phone. The
screenshots of every page visited are left in the test's tmp dir to look at.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.integration.test_fuzz import namespace_command
from tests.support import ROOT

#: what the driver must have got through, in its words (a step missing from its summary failed or was skipped)
STEPS = [
    "the sign-in page: one form, both ways in",
    "sign in with the partner token",
    "create a sandbox instance named <script>alert(1)</script>",
    "see the QR code while notAuthorized",
    "the list shows the <script> name as text; its page shows the token no more",
    "the live section follows the account without a reload (CLI scan, then CLI logout)",
    "import contacts with the CLI, one named <script>alert(2)</script>",
    "Simulate scan → authorized without a reload",
    "the post page: its fields, the contacts as literal text",
    "post a picture from a file, caption <script>alert(3)</script>, to two contacts",
    "the status reaches delivered by itself; what was sent is shown",
    "the simulated network received it once from each chosen contact (CLI)",
    "a contact views it (statusgate sandbox view)",
    "the viewer shows as read and the chart has a read point, without a reload",
    "outgoing statuses: the idMessage links to its page",
    "incoming statuses of contacts",
    "the post page: searching the contacts hides the others",
    "a javascript: webhook URL is refused naming the field, or stored inert",
    "sign out: back at sign-in, the session gone",
    "a second instance, made by the CLI",
    "sign in with the Instance ID and API token shown at creation",
    "another instance's id in the URL: 404, nothing of it shown",
    "phone: the sign-in page fits",
    "phone: sign in by keyboard alone",
    "phone: the instance list fits",
    "phone: the instance page fits",
    "phone: the post page fits",
    "phone: post a text status by keyboard alone",
    "phone: the status page fits, the text status delivered",
]
#: the whole browser test, servers and browser start included (the issue: under 3 minutes); a deadline
#: past it, so that a slow run still reports what it saw
BUDGET_SECONDS = 180


def _logs(outdir: Path) -> str:
    parts = []
    for name in ("server.api.log", "server.worker.log"):
        path = outdir / name
        text = path.read_text(errors="replace") if path.exists() else "(none)"
        parts.append(f"--- {name} (last 4000 characters) ---\n{text[-4000:]}")
    return "\n".join(parts)


def test_the_console_in_a_real_browser(tmp_path: Path) -> None:
    outdir = tmp_path / "console"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGATE_")}
    command = [
        *namespace_command(),
        sys.executable,
        "-m",
        "tests.acceptance.console_browser_driver",
        str(outdir),
    ]
    started = time.monotonic()
    # a deadline past the budget, so that a slow run still reports what it saw
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=2 * BUDGET_SECONDS
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, (
        f"the browser driver failed ({result.returncode}):\n{result.stderr[-6000:]}\n{_logs(outdir)}"
    )
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    shown = json.dumps({k: v for k, v in summary.items() if k != "partner_token"}, indent=1)
    context = f"screenshots in {outdir}\nsummary: {shown}\n{_logs(outdir)}"

    assert summary["failures"] == [], (
        "\n".join(f"FAILED {f['step']}: {f['error'][:1500]}" for f in summary["failures"]) + "\n" + context
    )
    missing = [step for step in STEPS if step not in summary["steps"]]
    assert missing == [], f"steps not passed: {missing}\n{context}"
    assert summary["elsewhere"] == [], f"requests beyond the server: {summary['elsewhere']}\n{context}"
    assert summary["console_errors"] == [], f"console errors: {summary['console_errors']}\n{context}"
    assert summary["page_errors"] == [], f"page errors: {summary['page_errors']}\n{context}"
    assert summary["dialogs"] == [], f"a payload ran: {summary['dialogs']}\n{context}"
    assert summary["sideways"] == [], f"pages wider than 390 px: {summary['sideways']}\n{context}"
    assert len(summary["screenshots"]) >= len(STEPS) // 2, context
    assert all((outdir / name).stat().st_size > 0 for name in summary["screenshots"]), context
    # the tokens stay out of the logs (the partner token went into a form, the instance's was shown once)
    logs = "".join(
        (outdir / name).read_text(errors="replace") for name in ("server.api.log", "server.worker.log")
    )
    assert summary["partner_token"] not in logs, "the partner token is in a server's log"
    assert "Traceback" not in logs, logs[logs.index("Traceback") - 500 :][:4000]
    # the issue's budget is watched, not asserted (timings are the benchmarks' business): it is printed, and
    # pytest's -rA / the log shows it
    print(f"the browser test took {seconds:.0f} s (budget {BUDGET_SECONDS} s)")
