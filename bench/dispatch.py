"""Dispatch throughput and pacing precision: 1,000 instances × 10 statuses on the sandbox.

Set-up (not measured): 1,000 sandbox instances, one named contact each, 10 text statuses queued per
instance while none is authorized, then ``statusgate serve`` as it ships (a subprocess) with the minimum
delay setSettings allows (500 ms, ``delay_min_ms``). At T0 every account is authorized at once (one
transaction, with the network's state events, as 1,000 phones scanning together).

Measured:
- throughput: statuses sent per second from T0 to the last send (goal ≥ 1,000/s), from the statuses' own
  records (``sent_at``);
- pacing lateness at the network, from the simulated network's own records (each status' first arrival, as
  ``statusgate sandbox deliveries`` reports ``firstAt``): for every arrival after an instance's first, the
  gap to the instance's previous arrival minus the delay (goal p99 < 20 ms). A send starts no earlier than
  the delay after the previous attempt ended (the network's own moment where the engine reports it, else
  the call's return), so the requirement is that no gap is shorter than the delay: lateness never
  negative, the smallest gap / delay ≥ 1;
- first-send latency: T0 → an instance's first arrival. The gateway learns of an authorization made by
  another process within ``poll_interval_seconds`` (0.5 s as shipped), so this is reported apart;
- the server's CPU per status sent (user + system, all its threads, T0 to the last send), and with
  ``--profile`` (py-spy, installed separately) the share of it the simulated network's own code takes, to
  tell the gateway's cost apart from the sandbox's.

Reference, in the same run: the simulated network alone. The same posts (``--instances`` accounts ×
``--statuses``) are handed straight to the network in this process, one wave of every account's post at a
time, as the gateway's sends arrive when the accounts are in step: no queue, no pacing, no leases, no
journal. Its posts/s and CPU per post are what the network's own bookkeeping costs on this machine today;
the gateway's figures over them are its overhead as a ratio, which (unlike the absolute figures) holds from
one day's machine to another's.

``--set NAME=VALUE`` passes a setting to the server (e.g. ``--set send_lead_seconds=0.15``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
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
from statusgate.store.schema.sandbox import (  # noqa: E402
    sandbox_accounts,
    sandbox_deliveries,
    sandbox_events,
    sandbox_messages,
)
from statusgate.store.schema.statuses import statuses  # noqa: E402
from statusgate.wiring.core import Core  # noqa: E402
from tests.support import ServerProcess, base_env, wait_for  # noqa: E402

DELAY_MS = 500


async def populate(settings: Settings, count: int, per_instance: int) -> None:
    """``count`` sandbox instances with one named contact each and ``per_instance`` text statuses queued."""
    core = Core(settings)
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


async def network_alone(data: Path, count: int, per_instance: int) -> tuple[float, float]:
    """The reference: posts per second and CPU seconds per post of the simulated network taking the same
    posts directly, ``count`` at once (every account's next post), ``per_instance`` waves."""
    settings = Settings(data_dir=data, delay_default_ms=DELAY_MS)
    await populate(settings, count, 0)
    engine = sa.create_engine(f"sqlite:///{data / 'statusgate.db'}")
    authorize_all(engine)
    with engine.connect() as conn:
        ids = list(
            conn.scalars(sa.select(sandbox_accounts.c.instance_id).order_by(sandbox_accounts.c.instance_id))
        )
    engine.dispose()
    core = Core(settings)
    await core.open()
    network = core.ctx.sandbox
    try:
        cpu_before, started = time.process_time(), time.monotonic()
        for k in range(per_instance):
            await asyncio.gather(
                *(
                    network.deliver(
                        instance_id,
                        f"BENCH{k:02d}{n:08d}",
                        "text",
                        {"type": "text", "post": {"message": f"status {k} of {n}"}},
                        [f"7990{n:08d}@c.us"],
                    )
                    for n, instance_id in enumerate(ids)
                )
            )
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_before
    finally:
        await core.close()
    total = count * per_instance
    return total / elapsed, cpu / total


def wait_all_sent(engine: sa.Engine, total: int) -> None:
    """Until ``total`` statuses are sent (a generous deadline)."""

    def all_sent() -> bool:
        with engine.connect() as conn:
            sent = conn.scalar(
                sa.select(sa.func.count())
                .select_from(statuses)
                .where(statuses.c.state == StatusState.SENT.value)
            )
        return bool(sent == total)

    wait_for(all_sent, timeout=900, interval=0.5, what="all statuses sent")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far, its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_profile(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the server (the thread holding the GIL only) until stopped."""
    command = ["py-spy", "record", "--pid", str(pid), "--gil", "--format", "raw", "--output", str(out)]
    return subprocess.Popen([*command, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def finish_profile(profiler: subprocess.Popen[bytes], out: Path) -> float:
    """The share of samples spent in the simulated network's code (a frame of engines/sandbox* on the stack)."""
    profiler.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
    profiler.wait(timeout=60)
    total = sandbox = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            total += int(count)
            sandbox += int(count) if "engines/sandbox" in stack else 0
    return sandbox / total if total else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--statuses", type=int, default=10)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the server with py-spy (installed separately) to split its CPU between the gateway and "
        "the simulated network",
    )
    parser.add_argument("--keep", type=Path, help="copy the run's database there, for a closer look")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a server setting (repeatable)"
    )
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    total = args.instances * args.statuses
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        started = time.monotonic()
        asyncio.run(
            populate(Settings(data_dir=data, delay_default_ms=DELAY_MS), args.instances, args.statuses)
        )
        print(
            f"set-up: {args.instances} instances, {total} queued statuses in {time.monotonic() - started:.0f} s"
        )
        engine = sa.create_engine(f"sqlite:///{data / 'statusgate.db'}")
        shipped = {"delay_default_ms": DELAY_MS, "poll_interval_seconds": 0.5, "log_level": "WARNING"}
        env = base_env(data, **(shipped | overrides))
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
            assert server.proc is not None
            cpu_before = process_cpu(server.proc.pid)
            profiler = start_profile(server.proc.pid, Path(tmp) / "profile.txt") if args.profile else None
            t0 = authorize_all(engine)

            wait_all_sent(engine, total)
            cpu = process_cpu(server.proc.pid) - cpu_before
            sandbox_share = finish_profile(profiler, Path(tmp) / "profile.txt") if profiler else None
        finally:
            server.terminate()
        with engine.connect() as conn:
            # each status' first arrival at the network (the network counts repeats too: none is expected)
            first_at = sa.func.min(sandbox_deliveries.c.at)
            rows = conn.execute(
                sa.select(sandbox_messages.c.instance_id, first_at.label("first_at"), statuses.c.sent_at)
                .join(sandbox_deliveries, sandbox_deliveries.c.message_row == sandbox_messages.c.row_id)
                .join(statuses, statuses.c.id_message == sandbox_messages.c.message_id)
                .group_by(sandbox_messages.c.instance_id, sandbox_messages.c.message_id, statuses.c.sent_at)
                .order_by(sandbox_messages.c.instance_id, first_at)
            ).all()
            received = conn.execute(sa.select(sa.func.count()).select_from(sandbox_messages)).scalar_one()
            repeats = int(received) - len(rows)
            last_sent = conn.scalar(sa.select(sa.func.max(statuses.c.sent_at)))
        engine.dispose()
        if args.keep:
            shutil.copy(data / "statusgate.db", args.keep)
        alone_rate, alone_cpu = asyncio.run(network_alone(Path(tmp) / "alone", args.instances, args.statuses))
    arrivals: dict[int, list[tuple[float, float]]] = {}
    for instance_id, at, sent_at in rows:
        arrivals.setdefault(instance_id, []).append((at, sent_at))
    gaps: list[float] = []
    #: how late each arrival came after the moment the rule allowed: the previous attempt's end (its sent_at:
    #: the network's own moment where the engine reports it, as the sandbox does, else the call's return)
    #: + delay
    after_rule: list[float] = []
    first: list[float] = []
    for times in arrivals.values():
        first.append(times[0][0] - t0)
        for (at, ended), (later, _) in zip(times, times[1:], strict=False):
            gaps.append(later - at)
            after_rule.append((later - ended - DELAY_MS / 1000) * 1000)
    lateness = [(gap - DELAY_MS / 1000) * 1000 for gap in gaps]
    elapsed = float(last_sent) - t0
    print(
        f"dispatch throughput: {total / elapsed:8.1f} statuses/s ({total} in {elapsed:.2f} s; goal >= 1000/s)"
    )
    print(
        f"pacing lateness at the network (gap between an instance's arrivals - delay, {len(lateness)} gaps): "
        f"p50 {statistics.median(lateness):.1f} ms, p99 {percentile(lateness, 0.99):.1f} ms, "
        f"max {max(lateness):.1f} ms (goal p99 < 20 ms)"
    )
    print(
        f"  of which after the rule's moment (arrival - previous attempt's end - delay): "
        f"p50 {statistics.median(after_rule):.1f} ms, p99 {percentile(after_rule, 0.99):.1f} ms"
    )
    print(
        f"first arrival after authorization: p50 {statistics.median(first) * 1000:.0f} ms, "
        f"p99 {percentile(first, 0.99) * 1000:.0f} ms (bounded by poll_interval_seconds = 0.5 s)"
    )
    print(f"server CPU per status sent: {cpu / total * 1e6:.0f} µs ({cpu:.2f} s of CPU in all)")
    if sandbox_share is not None:
        print(
            f"  of which the simulated network's own (py-spy samples holding the GIL in engines/sandbox*): "
            f"{sandbox_share:.0%}; the gateway's own: {cpu * (1 - sandbox_share) / total * 1e6:.0f} µs"
        )
    print(
        f"reference, the simulated network alone (the same {total} posts handed to it directly, "
        f"{args.instances} at a time): {alone_rate:.1f} posts/s, {alone_cpu * 1e6:.0f} µs of CPU per post"
    )
    print(f"  gateway / network alone, CPU per status: {cpu / total / alone_cpu:.2f}×")
    ratio = min(gaps) / (DELAY_MS / 1000)
    verdict = "yes" if ratio >= 1 else f"NO (min lateness {min(lateness):.1f} ms)"
    print(f"arrivals at least the delay apart: {verdict}; smallest gap / delay = {ratio:.4f}")
    print(f"statuses received more than once: {repeats}")


if __name__ == "__main__":
    main()
