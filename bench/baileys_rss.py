"""Resident memory of the baileys engine per linked account, both process models in one run: one Node child
per account (the default), and ``--per-process`` accounts sharing one (``baileys_accounts_per_process``),
against the loopback stand-in for WhatsApp's chat server (tests/baileys_standin).

Each run links ``--accounts`` accounts through the real engine on a throwaway SQLite store, sends each a text
status to two stand-in users, then reads every Node process' VmRSS from /proc; an account's share is its
processes' total over the accounts. The reference is a bare Node process that only loads Baileys (what every
process pays before it holds an account). Prints the figures and the ratios; goals: none, the figures go in
docs/engines.md.

    .venv/bin/python bench/baileys_rss.py [--accounts 6] [--per-process 6]
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from statusgate.domain.models import EngineName  # noqa: E402
from statusgate.domain.ownership import Fence  # noqa: E402
from statusgate.domain.posts import OutgoingStatus, TextPost  # noqa: E402
from statusgate.domain.states import InstanceState  # noqa: E402
from statusgate.engines.baileys import install  # noqa: E402
from statusgate.engines.baileys.engine import BaileysEngine  # noqa: E402
from statusgate.services import instances  # noqa: E402
from statusgate.settings import Settings  # noqa: E402
from statusgate.store import ownership  # noqa: E402
from statusgate.wiring.core import Core  # noqa: E402
from tests.baileys_standin import driver  # noqa: E402

WORKER = "bench-rss"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def bare_baileys_rss(node: Path, baileys_dir: Path, standin: driver.StandIn) -> int:
    """A Node process that loads Baileys (and pino) as the child does, then idles: its RSS."""
    script = (
        "const { createRequire } = require('node:module');"
        f"const req = createRequire({str(baileys_dir / 'package.json')!r});"
        "Promise.all([import(req.resolve('baileys')), import(req.resolve('pino'))])"
        ".then(() => { console.log('ready'); setInterval(() => {}, 1000); });"
    )
    command = driver.joined_namespace(standin.process.pid, [str(node), "-e", script])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        return rss_kib(process.pid)
    finally:
        process.kill()
        process.wait()


async def linked_rss(
    standin: driver.StandIn, home: Path, accounts: int, per_process: int, run: int
) -> dict[int, int]:
    """Link ``accounts`` accounts with ``per_process`` to a Node process, send a status from each: the RSS
    (KiB) of each of their processes, by pid."""
    settings = Settings(
        data_dir=home / f"data-{run}",
        baileys_ws_url=standin.url,
        baileys_test_root_key=standin.root_public_key,
        test_baileys_child_prefix=shlex.join(driver.joined_namespace(standin.process.pid, [])),
        baileys_start_timeout_seconds=60,
        baileys_accounts_per_process=per_process,
    )
    people = [standin.command("register", phone=f"188800{run}000{n}") for n in (1, 2)]
    recipients = [f"{p['jid'].split('@')[0]}@c.us" for p in people]
    core = Core(settings)
    await core.open()
    fences: dict[int, Fence] = {}
    engine = BaileysEngine(settings, core.ctx.db)
    await engine.start(fences.get)
    try:
        ids = [
            (await instances.create(core.ctx, engine=EngineName.BAILEYS)).id_instance for _ in range(accounts)
        ]
        for lease in await core.ctx.db.write(ownership.claim, WORKER, 600, accounts + 10):
            fences[lease.instance_id] = Fence(WORKER, lease)
        for n, instance_id in enumerate(ids):
            await engine.qr(instance_id)
            code = engine.accounts[instance_id].qr_code
            standin.command("scan", qr=code, phone=f"1777{run}00{n:04d}", device=1)
            until = time.monotonic() + 60
            while await engine.state(instance_id) is not InstanceState.AUTHORIZED:
                assert time.monotonic() < until, "not authorized in 60 s"
                await asyncio.sleep(0.05)
            post = OutgoingStatus(f"BENCHRSS{run}{instance_id:07d}", TextPost("memory"))
            await engine.send_status(instance_id, post, recipients)
        await asyncio.sleep(2.0)  # let each child settle after its login and send
        pids = set()
        for instance_id in ids:
            child = engine.accounts[instance_id].child
            assert child is not None and child.pid is not None
            pids.add(child.pid)
        return {pid: rss_kib(pid) for pid in sorted(pids)}
    finally:
        await engine.close()
        await core.close()


async def measure(accounts: int, per_process: int, node: Path, baileys_dir: Path, home: Path) -> None:
    with driver.StandIn(node, baileys_dir, 20261208, home / "standin") as standin:
        own = await linked_rss(standin, home, accounts, 1, 1)
        shared = await linked_rss(standin, home, accounts, per_process, 2)
        bare = bare_baileys_rss(node, baileys_dir, standin)
    own_each = sum(own.values()) / accounts
    shared_each = sum(shared.values()) / accounts
    print(f"accounts: {accounts}; bare Node with Baileys loaded: {bare / 1024:.1f} MiB")
    print(
        f"1 per process: {len(own)} processes, RSS (MiB) {', '.join(f'{s / 1024:.1f}' for s in own.values())}; "
        f"median {statistics.median(own.values()) / 1024:.1f}; per account {own_each / 1024:.1f} MiB"
    )
    print(
        f"{per_process} per process: {len(shared)} processes, RSS (MiB) "
        f"{', '.join(f'{s / 1024:.1f}' for s in shared.values())}; per account {shared_each / 1024:.1f} MiB"
    )
    print(f"ratio per account, {per_process} per process / 1 per process: {shared_each / own_each:.2f}")
    print(f"ratio per account, 1 per process / bare: {own_each / bare:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=6)
    parser.add_argument("--per-process", type=int, default=6, help="accounts per Node process, second run")
    args = parser.parse_args()
    engines_dir = Settings().effective_engines_dir
    not_ready = install.not_ready_message(engines_dir)
    if not_ready:
        sys.exit(not_ready)
    node = install.NodeRuntime.from_wheel().node
    with tempfile.TemporaryDirectory() as home:
        asyncio.run(
            measure(args.accounts, args.per_process, node, install.install_path(engines_dir), Path(home))
        )


if __name__ == "__main__":
    main()
