"""Notifications out of statusgate: webhook drain rate, and long-poll latency.

(a) **Drain.** 10,000 notifications of one instance wait in its journal (journaled while the server is down,
    as a status run would leave them: per status an ``outgoingMessageStatus`` and four receipts). Then the
    server starts, ``setSettings`` points ``webhookUrl`` at a loopback receiver, and we time how long until
    the receiver has all of them. The receiver is a minimal asyncio HTTP/1.1 server in its own process
    (keep-alive, answers ``200`` at once) that checks every body arrives in journal order. Goal ≥ 200/s.

(b) **Latency.** A client long-polls ``receiveNotification`` (and deletes what it gets) on a polling
    instance that is not authorized, so what it sends only queues. Each round we queue a text status, wait
    until the poll is parked in the server, then call ``clearMessagesQueue``: the server journals the
    status' ``outgoingMessageStatus`` (``failed``, "removed by clearMessagesQueue") in that request's
    transaction, and the waiting poll must return it. Two figures per round, same host clock:
      - *journal → return*: the notification's ``created_at`` in the database (sub-second; the body's
        ``timestamp`` is whole seconds) to the poll returning. ``created_at`` is taken just before the
        committing transaction, so this includes the commit — an upper bound. Goal p99 < 100 ms.
      - *trigger → return*: just before the ``clearMessagesQueue`` request is sent to the poll returning
        (adds the request's own HTTP round and routing): an upper bound of the upper bound.

Runs standalone: ``.venv/bin/python bench/webhooks.py`` (``--notifications``, ``--samples``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import ServerProcess, base_env, cli_json, free_port, wait_for  # noqa: E402

RECEIPTS_PER_STATUS = 4  # three delivered, one read
PARTICIPANTS = [f"7999000000{i}@c.us" for i in range(1, 4)]


# --- the journal as a run of statuses leaves it --------------------------------------------------------------


def scripted(count: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """``count`` notifications: per status ``outgoingMessageStatus`` sent, 3 delivered and 1 read receipt."""
    made = 0
    status = 0
    while True:
        status += 1
        id_message = f"3EB0{status:016X}"
        steps: list[tuple[str, dict[str, Any]]] = [
            ("outgoingMessageStatus", {"idMessage": id_message, "status": "sent"})
        ]
        for p in PARTICIPANTS:
            steps.append(
                ("outgoingStatusReceipt", {"idMessage": id_message, "participant": p, "status": "delivered"})
            )
        steps.append(
            (
                "outgoingStatusReceipt",
                {"idMessage": id_message, "participant": PARTICIPANTS[0], "status": "read"},
            )
        )
        for step in steps:
            yield step
            made += 1
            if made == count:
                return


def key_of(type_: str, facts: dict[str, Any]) -> tuple[str, str, str, str]:
    return (type_, facts["idMessage"], facts.get("participant", ""), facts["status"])


def journal(env: dict[str, str], instance_id: int, count: int) -> float:
    """Append ``count`` notifications with the journal's own function, in one transaction; seconds taken."""
    from statusgate.domain.notifications import (
        Notification,
        Outcome,
        OutgoingStatusChanged,
        StatusReceiptChanged,
    )
    from statusgate.domain.states import ReceiptStatus
    from statusgate.settings import Settings
    from statusgate.store import notifications
    from statusgate.store.db import Database

    settings = Settings(data_dir=Path(env["STATUSGATE_DATA_DIR"]))
    db = Database(settings.effective_database_url)

    def append_all(conn: Any) -> None:
        now = time.time()
        for type_, facts in scripted(count):
            fact: Notification = (
                OutgoingStatusChanged(instance_id, facts["idMessage"], Outcome(facts["status"]), now)
                if type_ == "outgoingMessageStatus"
                else StatusReceiptChanged(
                    instance_id, facts["idMessage"], facts["participant"], ReceiptStatus(facts["status"]), now
                )
            )
            assert notifications.journal(conn, fact) is not None

    started = time.perf_counter()
    db.write_now(append_all)
    took = time.perf_counter() - started
    asyncio.run(db.dispose())
    return took


# --- (a) the receiver: its own process --------------------------------------------------------------------------


def run_receiver(port: int, count: int) -> None:
    """Answer 200 to every POST (HTTP/1.1 keep-alive); print one JSON line when ``count`` bodies arrived."""
    expected = [key_of(t, f) for t, f in scripted(count)]
    got: list[float] = []
    out_of_order: list[int] = []
    done = asyncio.Event()
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = json.loads(await reader.readexactly(length))
                index = len(got)
                got.append(time.time())
                facts = {k: body.get(k, "") for k in ("idMessage", "participant", "status")}
                if index >= count or key_of(body["typeWebhook"], facts) != expected[index]:
                    out_of_order.append(index)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                if len(got) == count:
                    done.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        print("ready", flush=True)
        async with server:
            await done.wait()
            await asyncio.sleep(0.2)  # anything after the last one would be a duplicate
            for writer in list(writers):
                writer.close()  # its handler sees the end of the stream and returns
            await asyncio.sleep(0.05)
        result = {
            "count": len(got),
            "first": got[0],
            "last": got[count - 1],
            "in_order": not out_of_order and len(got) == count,
            "problems": out_of_order[:10],
        }
        print(json.dumps(result), flush=True)

    asyncio.run(main())


def cpu_seconds(server: ServerProcess) -> float:
    """User + system CPU time the server process has used so far (Linux /proc)."""
    assert server.proc is not None
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_drain(tmp: Path, count: int) -> dict[str, Any]:
    env = base_env(tmp / "drain", poll_interval_seconds=0.5, log_level="WARNING")  # the shipped poll interval
    creds = cli_json(env, "instance", "create", "--authorized")
    instance_id = int(creds["idInstance"])
    journal_seconds = journal(env, instance_id, count)

    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--receiver", str(port), str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout is not None
    assert receiver.stdout.readline().strip() == "ready"
    server = ServerProcess(env, tmp / "drain-server.log").start()
    try:
        base = f"{server.url}/waInstance{instance_id}"
        token = creds["apiTokenInstance"]
        waiting = httpx.get(f"{base}/getWebhooksCount/{token}").json()["count"]
        assert waiting == count, waiting
        cpu_before = cpu_seconds(server)
        started = time.time()
        r = httpx.post(f"{base}/setSettings/{token}", json={"webhookUrl": f"http://127.0.0.1:{port}/hook"})
        r.raise_for_status()
        line = receiver.stdout.readline()
        if not line:
            sys.exit(f"receiver ended early:\n{server.output()[-3000:]}")
        result: dict[str, Any] = json.loads(line)
        cpu = cpu_seconds(server) - cpu_before
        left = httpx.get(f"{base}/getWebhooksCount/{token}").json()["count"]
    finally:
        server.terminate()
        receiver.kill()
        receiver.wait()
    result |= {"journal_seconds": journal_seconds, "started": started, "left": left, "cpu": cpu}
    return result


# --- (b) long-poll latency --------------------------------------------------------------------------------------


def bench_latency(tmp: Path, samples: int) -> tuple[list[float], list[float]]:
    env = base_env(tmp / "poll", poll_interval_seconds=0.5, log_level="WARNING")
    creds = cli_json(env, "instance", "create")  # not authorized: statuses only queue
    instance_id = int(creds["idInstance"])
    token = creds["apiTokenInstance"]
    db_path = Path(env["STATUSGATE_DATA_DIR"]) / "statusgate.db"
    server = ServerProcess(env, tmp / "poll-server.log").start()
    base = f"{server.url}/waInstance{instance_id}"
    parked = threading.Event()
    stop = threading.Event()
    returned: queue.Queue[tuple[float, float, str]] = queue.Queue()

    def poll() -> None:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                parked.set()
                got = client.get(f"{base}/receiveNotification/{token}", params={"receiveTimeout": 5}).json()
                at = time.time()
                parked.clear()
                if got is None:
                    continue
                receipt = int(got["receiptId"])
                row = db.execute(
                    "SELECT created_at FROM notifications WHERE instance_id = ? AND receipt_id = ?",
                    (instance_id, receipt),
                ).fetchone()
                client.delete(f"{base}/deleteNotification/{token}/{receipt}").raise_for_status()
                returned.put((at, float(row[0]), got["body"]["typeWebhook"]))
        db.close()

    poller = threading.Thread(target=poll, daemon=True)
    journal_to_return: list[float] = []
    trigger_to_return: list[float] = []
    try:
        with httpx.Client(timeout=30) as client:
            poller.start()
            for i in range(samples):
                client.post(
                    f"{base}/sendTextStatus/{token}", json={"message": f"round {i}"}
                ).raise_for_status()
                wait_for(parked.is_set, timeout=30, interval=0.001, what="a parked receiveNotification")
                time.sleep(0.05)  # the request reaches the server and waits there
                triggered = time.time()
                client.get(f"{base}/clearMessagesQueue/{token}").raise_for_status()
                at, created_at, type_ = returned.get(timeout=30)
                assert type_ == "outgoingMessageStatus", type_
                journal_to_return.append(at - created_at)
                trigger_to_return.append(at - triggered)
    finally:
        stop.set()
        server.terminate()
        poller.join(timeout=10)
    return journal_to_return, trigger_to_return


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notifications", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--receiver", nargs=2, type=int, metavar=("PORT", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver(*args.receiver)
        return

    print(f"host: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        drain = bench_drain(tmp, args.notifications)
        n = drain["count"]
        total = drain["last"] - drain["started"]
        steady = drain["last"] - drain["first"]
        rate = n / total
        print(
            f"(a) webhook drain: {n} notifications journaled in {drain['journal_seconds']:.2f} s; "
            f"delivered {total:.2f} s after setSettings (first after {drain['first'] - drain['started']:.2f} s)"
        )
        print(
            f"    rate {rate:.0f}/s from setSettings, {(n - 1) / steady:.0f}/s first-to-last (goal >= 200/s)"
        )
        cpu_ms = drain["cpu"] * 1000 / n
        print(
            f"    server CPU {drain['cpu']:.2f} s = {cpu_ms:.2f} ms per notification "
            f"(one unshared core: ~{1000 / cpu_ms:.0f}/s)"
        )
        print(f"    in journal order: {drain['in_order']}; left in the journal: {drain['left']}")
        print(f"    goal met: {'yes' if rate >= 200 and drain['in_order'] and drain['left'] == 0 else 'NO'}")

        journal_ms, trigger_ms = ([x * 1000 for x in xs] for xs in bench_latency(tmp, args.samples))
        for name, values in (("journal -> return", journal_ms), ("trigger -> return", trigger_ms)):
            print(
                f"(b) {name}: n={len(values)} p50 {percentile(values, 50):.1f} ms  p99 "
                f"{percentile(values, 99):.1f} ms  max {max(values):.1f} ms  mean {statistics.mean(values):.1f} ms"
            )
        p99 = percentile(journal_ms, 99)
        print(f"    goal p99 < 100 ms (journal -> return): {'yes' if p99 < 100 else 'NO'} ({p99:.1f} ms)")


if __name__ == "__main__":
    main()
