"""Dispatch throughput and pacing precision: 1,000 instances × 10 statuses on the sandbox.

Set-up (not measured): 1,000 sandbox instances, one named contact each, 10 text statuses queued per
instance while none is authorized, then ``statusgate serve`` as it ships (a subprocess) with the minimum
delay setSettings allows (500 ms, ``delay_min_ms``). At T0 every account is authorized at once (one
transaction, with the network's state events, as 1,000 phones scanning together).

Measured, from the statuses' own transition journal (``status_events``):
- throughput: statuses sent per second from T0 to the last send (goal ≥ 1,000/s);
- pacing lateness: for every send after an instance's first, actual start − planned start, where planned =
  previous send's start + delay (goal p99 < 20 ms);
- first-send latency: T0 → an instance's first send. The gateway learns of an authorization made by another
  process within ``poll_interval_seconds`` (0.5 s as shipped), so this is reported apart.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from statusgate.domain.posts import TextPost  # noqa: E402
from statusgate.domain.states import InstanceState, StatusState  # noqa: E402
from statusgate.engines.sandbox_network import ImportedContact  # noqa: E402
from statusgate.services import instances, posting  # noqa: E402
from statusgate.settings import Settings  # noqa: E402
from statusgate.store.schema import sandbox_accounts, sandbox_events, status_events, statuses  # noqa: E402
from statusgate.wiring.core import Core  # noqa: E402
from tests.support import ServerProcess, base_env, wait_for  # noqa: E402

DELAY_MS = 500


async def populate(data_dir: Path, count: int, per_instance: int) -> None:
    core = Core(Settings(data_dir=data_dir, delay_default_ms=DELAY_MS))
    await core.open()
    ctx = core.ctx
    for n in range(count):
        creds = await instances.create(ctx)
        await ctx.sandbox.import_contacts(
            creds.id_instance, [ImportedContact(f"7990{n:08d}@c.us", f"U{n}", f"Contact {n}", True)]
        )
        instance = await instances.get(ctx, creds.id_instance)
        for k in range(per_instance):
            await posting.queue_status(ctx, instance, TextPost(f"status {k} of {n}"))
    await core.close()


def authorize_all(engine: sa.Engine) -> float:
    with engine.begin() as conn:
        now = time.time()
        ids = list(conn.scalars(sa.select(sandbox_accounts.c.instance_id)))
        conn.execute(
            sandbox_accounts.update().values(state=InstanceState.AUTHORIZED.value, state_changed_at=now)
        )
        conn.execute(
            sandbox_events.insert(),
            [{"instance_id": i, "kind": "state", "payload": {"state": "authorized"}, "at": now} for i in ids],
        )
    return now


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--statuses", type=int, default=10)
    args = parser.parse_args()
    total = args.instances * args.statuses
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        started = time.monotonic()
        asyncio.run(populate(data, args.instances, args.statuses))
        print(
            f"set-up: {args.instances} instances, {total} queued statuses in {time.monotonic() - started:.0f} s"
        )
        engine = sa.create_engine(f"sqlite:///{data / 'statusgate.db'}")
        env = base_env(data, delay_default_ms=DELAY_MS, poll_interval_seconds=0.5)
        server = ServerProcess(env, Path(tmp) / "server.log").start()
        try:

            def ready() -> bool:
                with engine.connect() as conn:
                    left = conn.scalar(
                        sa.select(sa.func.count())
                        .select_from(statuses)
                        .where(statuses.c.state != StatusState.READY.value)
                    )
                return left == 0

            wait_for(ready, timeout=600, interval=0.5, what="all statuses prepared")
            t0 = authorize_all(engine)

            def all_sent() -> bool:
                with engine.connect() as conn:
                    sent = conn.scalar(
                        sa.select(sa.func.count())
                        .select_from(statuses)
                        .where(statuses.c.state == StatusState.SENT.value)
                    )
                return bool(sent == total)

            wait_for(all_sent, timeout=900, interval=0.5, what="all statuses sent")
        finally:
            server.terminate()
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(statuses.c.instance_id, statuses.c.seq, status_events.c.at)
                .join(status_events, status_events.c.status_seq == statuses.c.seq)
                .where(status_events.c.state == StatusState.SENDING.value)
                .order_by(statuses.c.instance_id, statuses.c.seq)
            ).all()
            last_sent = conn.scalar(sa.select(sa.func.max(statuses.c.sent_at)))
    starts: dict[int, list[float]] = {}
    for instance_id, _seq, at in rows:
        starts.setdefault(instance_id, []).append(at)
    lateness: list[float] = []
    first: list[float] = []
    for times in starts.values():
        first.append(times[0] - t0)
        lateness.extend((b - (a + DELAY_MS / 1000)) * 1000 for a, b in zip(times, times[1:], strict=False))
    elapsed = float(last_sent) - t0
    print(
        f"dispatch throughput: {total / elapsed:8.1f} statuses/s ({total} in {elapsed:.2f} s; goal >= 1000/s)"
    )
    print(
        f"pacing lateness (actual - planned start, {len(lateness)} sends): p50 {statistics.median(lateness):.1f} ms, "
        f"p99 {percentile(lateness, 0.99):.1f} ms, max {max(lateness):.1f} ms (goal p99 < 20 ms)"
    )
    print(
        f"first send after authorization: p50 {statistics.median(first) * 1000:.0f} ms, "
        f"p99 {percentile(first, 0.99) * 1000:.0f} ms (bounded by poll_interval_seconds = 0.5 s)"
    )
    minimum_gap = min(lateness) if lateness else 0.0
    print(f"no send started early: {'yes' if minimum_gap >= 0 else f'NO (min {minimum_gap:.1f} ms)'}")


if __name__ == "__main__":
    main()
