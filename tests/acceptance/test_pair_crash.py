"""The api + worker pair on one SQLite data dir: the worker is killed (SIGKILL) at least three times while
100 statuses go out, and the simulated network still receives each exactly once, in order, at least the
instance's delay apart (the network's own records, repeats counted: ``statusgate sandbox deliveries``).

The worker kills itself at the worst moment — right after the engine took a status, before the send is
recorded — every 30 sends (the test-only crash point), so each restart has a send to settle. With
``test_blind_resend`` (later attempts send again without asking the engine) this test finds the duplicates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.support import TWO_CONTACTS, ServerPair, base_env, cli, cli_json, wait_for

STATUSES = 100
DELAY_MS = 50
KILLS = 3
#: each worker process kills itself right after its N-th engine send, before recording it
CRASH_EVERY = 30
CONTACTS = TWO_CONTACTS


def deliveries(env: dict[str, str], id_instance: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = cli_json(env, "sandbox", "deliveries", str(id_instance))
    return rows


def test_killing_the_worker_loses_and_repeats_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = base_env(
        data, delay_min_ms=0, delay_default_ms=DELAY_MS, lease_seconds=2, poll_interval_seconds=0.05
    )
    created = cli_json(env, "instance", "create", "--authorized")
    id_instance, token = int(created["idInstance"]), str(created["apiTokenInstance"])
    book = tmp_path / "contacts.json"
    book.write_text(json.dumps(CONTACTS), encoding="utf-8")
    cli(env, "sandbox", "contacts", "import", str(id_instance), str(book))

    pair = ServerPair(env, tmp_path / "server.log")
    pair.worker.env["STATUSGATE_TEST_CRASH_POINT"] = f"after_engine_send:{CRASH_EVERY}"
    crashes = 0
    with pair:
        base = f"{pair.url}/waInstance{id_instance}"
        with httpx.Client(timeout=30) as client:
            sent = []
            for n in range(STATUSES):
                answer = client.post(f"{base}/sendTextStatus/{token}", json={"message": f"status {n}"})
                assert answer.status_code == 200, answer.text
                sent.append(answer.json()["idMessage"])

            def all_sent() -> bool:
                nonlocal crashes
                assert pair.worker.proc is not None
                if pair.worker.proc.poll() is not None:  # killed itself mid-send: a new worker takes over
                    crashes += 1
                    pair.worker.start()
                journal = client.get(f"{base}/getOutgoingStatuses/{token}").json()
                done = {
                    i["idMessage"] for i in journal if i["statusMessage"] in ("sent", "delivered", "read")
                }
                failed = [i for i in journal if i["statusMessage"] == "failed"]
                assert not failed, failed
                return done >= set(sent)

            wait_for(all_sent, timeout=180, what="every status sent")
    assert crashes >= KILLS, f"the worker was killed {crashes} times"

    rows = deliveries(env, id_instance)
    by_status: dict[str, dict[str, Any]] = {}
    for row in rows:
        assert row["deliveries"] == 1, row  # received exactly once, repeats counted
        by_status.setdefault(row["idMessage"], {})[row["participant"]] = row["firstAt"]
    assert set(by_status) == set(sent)
    for recipients in by_status.values():
        assert set(recipients) == {c["id"] for c in CONTACTS}
    arrivals = [min(by_status[id_message].values()) for id_message in sent]
    assert arrivals == sorted(arrivals), "statuses arrived out of order"
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) >= DELAY_MS / 1000, f"two arrivals {min(gaps):.4f} s apart (delay {DELAY_MS} ms)"
