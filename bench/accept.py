"""Accepted sendMediaStatus requests per second, against the same framework's bare JSON endpoint.

statusgate runs exactly as it ships: ``statusgate serve`` on SQLite in WAL mode with ``synchronous=NORMAL``,
so every ``{"idMessage": …}`` answer is committed to the WAL before it is sent and survives a crash of the
process (see store/db.py); its workers run too (they prepare the queued media meanwhile). The instance is
not authorized, so the queue only grows. The load comes from ``wrk`` (installed with apt if missing) on
loopback, one connection pool for both servers, same duration.

Prints requests/s of both and the ratio (goal ≥ 0.5).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import ServerProcess, base_env, cli_json, free_port, wait_for  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    wrk = ensure_wrk()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        env = base_env(data, poll_interval_seconds=0.5)
        # as shipped: the private-URL guard on; the picture is one of the server's own media links
        env["STATUSGATE_ALLOW_PRIVATE_URLS"] = "false"
        creds = cli_json(env, "instance", "create")
        server = ServerProcess(env, Path(tmp) / "server.log").start()
        try:
            picture = f"{server.url}/media/none/p.jpg"
            body = json.dumps({"urlFile": picture, "fileName": "p.jpg", "caption": "bench"})
            url = f"{server.url}/waInstance{creds['idInstance']}/sendMediaStatus/{creds['apiTokenInstance']}"
            httpx.post(url, content=body, headers={"Content-Type": "application/json"}).raise_for_status()
            statusgate_rps = run_wrk(wrk, url, body, args.seconds, args.connections)
        finally:
            server.terminate()

        port = free_port()
        bare = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "bare_app.py"), str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            bare_url = f"http://127.0.0.1:{port}/waInstance1/sendMediaStatus/x"

            def up() -> bool:
                try:
                    return httpx.post(bare_url, content=body).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(up, timeout=30, what="bare app")
            time.sleep(0.5)
            bare_rps = run_wrk(wrk, bare_url, body, args.seconds, args.connections)
        finally:
            bare.terminate()
            bare.wait()

    print(f"statusgate sendMediaStatus (durable, as shipped): {statusgate_rps:10.1f} req/s")
    print(f"bare FastAPI JSON endpoint (reference):          {bare_rps:10.1f} req/s")
    print(f"ratio: {statusgate_rps / bare_rps:.2f} (goal >= 0.5)")


if __name__ == "__main__":
    main()
