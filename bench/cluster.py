"""Dispatch on PostgreSQL with 1, 2 and 3 workers, in the same run: throughput and each worker's share.

For each worker count, on a fresh database of a throwaway cluster (started as ``make test`` starts it:
tests/postgres.py): ``--instances`` sandbox instances (one named contact each), ``--statuses`` text statuses
queued per instance while none is authorized, then N ``statusgate serve --role worker`` processes as they
ship (500 ms delay, the minimum). Once the workers' shares have settled (every instance owned, no worker
above the rounded-up fair share), every account is authorized at once (T0).

Measured: statuses sent per second from T0 to the last send; each worker's share of the instances against
the fair one (instances / workers; goal within ±20 %); 2 and 3 workers against 1 (goal: 2 workers ≥ 1.3×
one — PostgreSQL shares the machine's two cores with the workers); statuses received more than once
(expected 0).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dispatch import DELAY_MS, authorize_all, populate, wait_all_sent  # noqa: E402
from statusgate.settings import Settings  # noqa: E402
from statusgate.store.schema.instances import instance_owners  # noqa: E402
from statusgate.store.schema.sandbox import sandbox_messages  # noqa: E402
from statusgate.store.schema.statuses import statuses  # noqa: E402
from tests import postgres  # noqa: E402
from tests.support import ServerProcess, base_env, free_port, wait_for  # noqa: E402


def shares(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(sa.func.count())
            .select_from(instance_owners)
            .where(instance_owners.c.worker_id.is_not(None))
            .group_by(instance_owners.c.worker_id)
        ).all()
    return sorted(int(row[0]) for row in rows)


def run(
    cluster: postgres.Cluster, tmp: Path, workers: int, count: int, per_instance: int
) -> dict[str, float]:
    url = cluster.url(cluster.new_database(migrated=False))
    data = tmp / f"w{workers}" / "data"
    settings = Settings(data_dir=data, database_url=url, delay_default_ms=DELAY_MS)
    asyncio.run(populate(settings, count, per_instance))
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    env = base_env(
        data,
        database_url=url,
        delay_default_ms=DELAY_MS,
        poll_interval_seconds=0.5,
        role="worker",
        log_level="WARNING",
    )
    processes = []
    for n in range(workers):
        port = free_port()
        process = ServerProcess(env | {"STATUSGATE_WORKER_PORT": str(port)}, tmp / f"w{workers}-{n}.log")
        process.port, process.url = port, f"http://127.0.0.1:{port}"
        processes.append(process)
    total = count * per_instance
    try:
        for process in processes:
            process.start()

        def settled() -> bool:
            held = shares(engine)
            return len(held) == workers and sum(held) == count and max(held) <= -(-count // workers)

        wait_for(settled, timeout=120, interval=0.5, what="the workers' shares settled")
        held = shares(engine)
        t0 = authorize_all(engine)

        wait_all_sent(engine, total)
    finally:
        for process in processes:
            process.terminate()
    with engine.connect() as conn:
        last_sent = float(conn.scalar(sa.select(sa.func.max(statuses.c.sent_at))) or t0)
        received = int(conn.execute(sa.select(sa.func.count()).select_from(sandbox_messages)).scalar_one())
        distinct = int(
            conn.execute(sa.select(sa.func.count(sa.distinct(sandbox_messages.c.message_id)))).scalar_one()
        )
    engine.dispose()
    fair = count / workers
    return {
        "rate": total / (last_sent - t0),
        "min_share": min(held) / fair,
        "max_share": max(held) / fair,
        "repeats": received - distinct,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--statuses", type=int, default=5)
    args = parser.parse_args()
    results: dict[int, dict[str, float]] = {}
    cluster = postgres.start()
    try:
        with tempfile.TemporaryDirectory() as tmp_dir:
            for workers in (1, 2, 3):
                results[workers] = run(cluster, Path(tmp_dir), workers, args.instances, args.statuses)
                r = results[workers]
                print(
                    f"{workers} worker(s): {r['rate']:7.1f} statuses/s; shares {r['min_share']:.2f}-"
                    f"{r['max_share']:.2f} of fair; received twice: {r['repeats']:.0f}",
                    flush=True,
                )
    finally:
        cluster.stop()
    one = results[1]["rate"]
    print(
        f"2 workers / 1: {results[2]['rate'] / one:.2f} (goal >= 1.3); 3 workers / 1: {results[3]['rate'] / one:.2f}"
    )
    worst = max(abs(r[k] - 1) for r in results.values() for k in ("min_share", "max_share"))
    print(f"shares within ±20 % of fair: {'yes' if worst <= 0.2 else 'NO'} (worst {worst:.0%} off)")


if __name__ == "__main__":
    main()
