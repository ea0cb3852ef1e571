"""Accepted sendMediaStatus requests per second, against a bare JSON endpoint on the same server stack.

statusgate runs exactly as it ships, on SQLite in WAL mode with ``synchronous=NORMAL``, so every
``{"idMessage": …}`` answer is committed to the WAL before it is sent and survives a crash of the process
(see store/dialects.py), in two shapes measured in the same run:

- ``--role api`` with a ``--role worker`` process beside it on the same file (goal ≥ 0.7);
- ``--role all``: one process whose worker prepares the queued media meanwhile (goal ≥ 0.5).

The instance is not authorized, so nothing is sent and the queue only grows; each status is still prepared
at once (preparation does not wait for the phone), and as the picture's link names no upload each
preparation fails and is journaled: under ``api`` that is the worker process's work, on the same file and
the same two cores. The load comes from ``wrk`` (installed with apt if missing) on loopback, one connection
pool for every server, same duration, in ``--rounds`` rounds that each measure every server once (a fresh
data dir each time). Prints each round, then the medians of requests/s and of the rounds' ratios against the
bare endpoints (bench/bare_app.py: FastAPI, the goals' reference, and plain Starlette).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import ServerPair, ServerProcess, base_env, cli_json, free_port, wait_for  # noqa: E402


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        sys.exit("bench/accept.py needs wrk (apt-get install wrk)")
    return found


def run_wrk(wrk: str, url: str, body: str, seconds: int, connections: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(body)}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
            "response = function(status, headers, body)\n"
            '  if status ~= 200 then io.stderr:write("non-200: " .. status .. "\\n") end\n'
            "end\n"
        )
    out = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url],
        check=True,
        capture_output=True,
        text=True,
    )
    os.unlink(script.name)
    if "non-200" in out.stderr:
        sys.exit(f"errors during the run: {out.stderr[:500]}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if not match:
        sys.exit(f"cannot read wrk output:\n{out.stdout}")
    return float(match.group(1))


def run_bare(wrk: str, framework: str, body: str, seconds: int, connections: int) -> float:
    port = free_port()
    bare = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "bare_app.py"), str(port), framework],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/waInstance1/sendMediaStatus/x"

        def up() -> bool:
            try:
                return httpx.post(url, content=body).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=30, what=f"bare {framework} app")
        time.sleep(0.5)
        return run_wrk(wrk, url, body, seconds, connections)
    finally:
        bare.terminate()
        bare.wait()


def run_statusgate(wrk: str, shape: str, tmp: Path, seconds: int, connections: int) -> float:
    """Requests/s of ``serve --role api`` (a worker process beside it) or ``--role all`` on a fresh data dir."""
    data = tmp / "data"
    env = base_env(data, poll_interval_seconds=0.5, log_level="WARNING")
    # as shipped: the private-URL guard on; the picture is one of the server's own media links
    env["STATUSGATE_ALLOW_PRIVATE_URLS"] = "false"
    creds = cli_json(env, "instance", "create")
    log = tmp / "server.log"
    server = ServerPair(env, log) if shape == "api" else ServerProcess(env, log)
    server.start()
    try:
        picture = f"{server.url}/media/none/p.jpg"
        body = json.dumps({"urlFile": picture, "fileName": "p.jpg", "caption": "bench"})
        url = f"{server.url}/waInstance{creds['idInstance']}/sendMediaStatus/{creds['apiTokenInstance']}"
        httpx.post(url, content=body, headers={"Content-Type": "application/json"}).raise_for_status()
        return run_wrk(wrk, url, body, seconds, connections)
    finally:
        server.terminate()


SHAPES = ("fastapi", "starlette", "api", "all")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    wrk = ensure_wrk()

    # rounds, each measuring every shape in a rotated order, so that a slow spell of the machine (other
    # tenants, the CPU's clock) falls on one round's figures rather than on one shape's: each ratio is taken
    # within its round, and the medians are reported
    rates: dict[str, list[float]] = {shape: [] for shape in SHAPES}
    body = json.dumps(
        {"urlFile": "http://127.0.0.1:1/media/none/p.jpg", "fileName": "p.jpg", "caption": "bench"}
    )
    for round_no in range(args.rounds):
        order = SHAPES[round_no % len(SHAPES) :] + SHAPES[: round_no % len(SHAPES)]
        for shape in order:
            with tempfile.TemporaryDirectory() as tmp:
                if shape in ("fastapi", "starlette"):
                    rate = run_bare(wrk, shape, body, args.seconds, args.connections)
                else:
                    rate = run_statusgate(wrk, shape, Path(tmp), args.seconds, args.connections)
            rates[shape].append(rate)
        print(
            f"round {round_no + 1}: "
            + ", ".join(f"{shape} {rates[shape][-1]:.0f}" for shape in SHAPES)
            + f" req/s; api {rates['api'][-1] / rates['fastapi'][-1]:.2f},"
            f" all {rates['all'][-1] / rates['fastapi'][-1]:.2f}",
            flush=True,
        )

    def ratio(shape: str, reference: str) -> float:
        return statistics.median(a / b for a, b in zip(rates[shape], rates[reference], strict=True))

    median = {shape: statistics.median(values) for shape, values in rates.items()}
    print(f"medians of {args.rounds} rounds:")
    print(f"bare FastAPI JSON endpoint (the reference):             {median['fastapi']:10.1f} req/s")
    print(f"bare Starlette JSON endpoint:                           {median['starlette']:10.1f} req/s")
    print(f"statusgate --role api (its worker in another process):  {median['api']:10.1f} req/s")
    print(f"statusgate --role all (its worker preparing meanwhile): {median['all']:10.1f} req/s")
    print(
        f"ratio api: {ratio('api', 'fastapi'):.2f} (goal >= 0.7; {ratio('api', 'starlette'):.2f} of Starlette)"
    )
    print(
        f"ratio all: {ratio('all', 'fastapi'):.2f} (goal >= 0.5; {ratio('all', 'starlette'):.2f} of Starlette)"
    )


if __name__ == "__main__":
    main()
