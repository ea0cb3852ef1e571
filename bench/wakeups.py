"""Wake-ups across processes: a worker's commit → a waiting ``receiveNotification`` on an API node.

``serve --role api`` and ``serve --role worker`` as they ship (``poll_interval_seconds`` 0.5), in two shapes
measured in the same run:

- on **PostgreSQL** (a throwaway cluster, started as ``make test`` starts it: tests/postgres.py), where the
  worker's commit signals the API node at once (``store.signals``: NOTIFY/LISTEN). Goal p99 < 100 ms;
- on **SQLite** (the reference): the same pair on one file, where the API node finds the worker's writes by
  polling.

Each round the client posts a ``sendMediaStatus`` whose ``urlFile`` is one of the server's own links naming
no upload, to an instance that is not authorized, and long-polls ``receiveNotification`` on the API node.
The worker prepares the status, fails it, and journals its ``outgoingMessageStatus`` (``failed``) in the
same transaction. Measured: the notification's ``created_at`` (taken by the worker just before its commit,
same host clock) to the poll returning — an upper bound that includes the commit. Prints p50/p99 of both and
the ratio of the p99s.

Runs standalone: ``.venv/bin/python bench/wakeups.py`` (``--samples``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhooks import percentile  # noqa: E402
from tests import postgres  # noqa: E402
from tests.support import ServerPair, base_env, cli_json  # noqa: E402


def measure(env: dict[str, str], tmp: Path, database_url: str, samples: int) -> list[float]:
    creds = cli_json(env, "instance", "create")
    instance_id, token = int(creds["idInstance"]), creds["apiTokenInstance"]
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    delays: list[float] = []
    with ServerPair(env, tmp / "server.log") as pair, httpx.Client(timeout=60) as client:
        base = f"{pair.url}/waInstance{instance_id}"
        body = {"urlFile": f"{pair.url}/media/none/p.jpg", "fileName": "p.jpg"}
        for _ in range(samples):
            client.post(f"{base}/sendMediaStatus/{token}", json=body).raise_for_status()
            while True:
                got = client.get(f"{base}/receiveNotification/{token}", params={"receiveTimeout": 20}).json()
                returned = time.time()
                if got is not None:
                    break
            receipt = int(got["receiptId"])
            assert got["body"]["typeWebhook"] == "outgoingMessageStatus", got
            with engine.connect() as conn:
                created_at = conn.scalar(
                    sa.text(
                        "SELECT created_at FROM notifications WHERE instance_id = :i AND receipt_id = :r"
                    ),
                    {"i": instance_id, "r": receipt},
                )
            client.delete(f"{base}/deleteNotification/{token}/{receipt}").raise_for_status()
            delays.append(returned - float(created_at))
    engine.dispose()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    cluster = postgres.start()
    try:
        with tempfile.TemporaryDirectory() as tmp_dir:
            for shape in ("postgresql", "sqlite"):
                tmp = Path(tmp_dir) / shape
                env = base_env(tmp / "data", poll_interval_seconds=0.5, log_level="WARNING")
                env["STATUSGATE_ALLOW_PRIVATE_URLS"] = "false"  # as shipped
                if shape == "postgresql":
                    url = cluster.url(cluster.new_database(migrated=False))
                    env["STATUSGATE_DATABASE_URL"] = url
                else:
                    url = f"sqlite:///{tmp / 'data' / 'statusgate.db'}"
                results[shape] = [x * 1000 for x in measure(env, tmp, url, args.samples)]
    finally:
        cluster.stop()
    for shape, label in (("postgresql", "PostgreSQL, signalled"), ("sqlite", "SQLite, polled (reference)")):
        values = results[shape]
        print(
            f"{label:28s} n={len(values)} p50 {percentile(values, 50):7.1f} ms  p99 {percentile(values, 99):7.1f} ms"
            f"  max {max(values):7.1f} ms  mean {statistics.mean(values):7.1f} ms"
        )
    p99 = percentile(results["postgresql"], 99)
    ratio = p99 / percentile(results["sqlite"], 99)
    print(f"ratio of the p99s (PostgreSQL / SQLite): {ratio:.3f}")
    print(f"goal p99 < 100 ms on PostgreSQL: {'yes' if p99 < 100 else 'NO'} ({p99:.1f} ms)")


if __name__ == "__main__":
    main()
