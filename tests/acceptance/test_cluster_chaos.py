"""Many workers on PostgreSQL under chaos (issue 11): 2 ``api`` + 3 ``worker`` processes, 50 sandbox
instances at a 500 ms delay, 500 statuses (text and media), each instance's posted one after another from
one client, alternating API nodes. Meanwhile workers are SIGKILLed at random (and started again), one is
SIGSTOPped past its lease and resumed, and one API node is killed.

At the end every accepted status reached exactly its audience once (the simulated network's own records,
repeats counted: ``statusgate sandbox deliveries``), none was lost, each instance's statuses arrived in the
order their posts were answered, and an instance's consecutive arrivals are at least its delay apart.
Seeded: the same kills in the same order every run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from PIL import Image

from tests.postgres import Cluster
from tests.support import TWO_CONTACTS, ServerProcess, base_env, cli, cli_json, free_port, wait_for

INSTANCES = 50
PER_INSTANCE = 10
DELAY_MS = 500
LEASE_SECONDS = 3.0
MIN_KILLS = 5
CONTACTS = TWO_CONTACTS


def _picture() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


class Cluster5:
    """Two API nodes and three workers on one database and data dir."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.apis = [ServerProcess(env | {"STATUSGATE_ROLE": "api"}, logs / f"api{n}.log") for n in range(2)]
        public = self.apis[0].url
        for api in self.apis:
            api.env["STATUSGATE_PUBLIC_URL"] = public
        self.workers = []
        for n in range(3):
            worker = ServerProcess(
                env | {"STATUSGATE_ROLE": "worker", "STATUSGATE_PUBLIC_URL": public}, logs / f"worker{n}.log"
            )
            worker.port = free_port()
            worker.url = f"http://127.0.0.1:{worker.port}"
            worker.env["STATUSGATE_WORKER_PORT"] = str(worker.port)
            self.workers.append(worker)

    def start(self) -> None:
        for process in [*self.workers, *self.apis]:
            process.start()

    def stop(self) -> None:
        for process in [*self.apis, *self.workers]:
            if process.proc is not None and process.proc.poll() is None:
                os.kill(process.proc.pid, signal.SIGCONT)  # a stopped one must be able to hear SIGTERM
            try:
                process.terminate(timeout=30)
            except Exception:
                process.kill()


def test_workers_killed_stopped_and_an_api_node_killed_lose_and_repeat_nothing(
    tmp_path: Path,
    postgres: Cluster,
) -> None:
    rng = random.Random(20261202)
    url = postgres.url(postgres.new_database(), scheme="postgresql")
    env = base_env(
        tmp_path / "data",
        database_url=url,
        delay_min_ms=DELAY_MS,
        delay_default_ms=DELAY_MS,
        lease_seconds=LEASE_SECONDS,
        poll_interval_seconds=0.1,
    )
    book = tmp_path / "contacts.json"
    book.write_text(json.dumps(CONTACTS), encoding="utf-8")
    instances: list[tuple[int, str]] = []
    for _ in range(INSTANCES):
        created = cli_json(env, "instance", "create", "--authorized")
        instances.append((int(created["idInstance"]), str(created["apiTokenInstance"])))
        cli(env, "sandbox", "contacts", "import", str(instances[-1][0]), str(book))

    cluster = Cluster5(env, tmp_path)
    cluster.start()
    answered: dict[int, list[str]] = {instance_id: [] for instance_id, _ in instances}
    posted = threading.Event()
    chaos_done = threading.Event()
    record: dict[str, Any] = {"kills": 0, "stopped": False, "api_killed": False}
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"), poolclass=sa.NullPool)
    try:
        with httpx.Client(timeout=30) as client:
            first_id, first_token = instances[0]
            uploaded = client.post(
                f"{cluster.apis[0].url}/waInstance{first_id}/uploadFile/{first_token}",
                content=_picture(),
                headers={"Content-Type": "image/jpeg", "GA-Filename": "p.jpg"},
            )
            assert uploaded.status_code == 200, uploaded.text
            picture = uploaded.json()["urlFile"]

            def post_all() -> None:
                with httpx.Client(timeout=30) as poster:
                    count = 0
                    for n in range(PER_INSTANCE):
                        for k, (instance_id, token) in enumerate(instances):
                            if count == INSTANCES * PER_INSTANCE // 2:
                                cluster.apis[1].kill()  # between two requests: nothing is left unanswered
                                record["api_killed"] = True
                            api = cluster.apis[0] if record["api_killed"] else cluster.apis[(n + k) % 2]
                            base = f"{api.url}/waInstance{instance_id}"
                            if n % 2:
                                body = {"urlFile": picture, "fileName": "p.jpg", "caption": f"{n}"}
                                answer = poster.post(f"{base}/sendMediaStatus/{token}", json=body)
                            else:
                                answer = poster.post(
                                    f"{base}/sendTextStatus/{token}", json={"message": f"{n}"}
                                )
                            assert answer.status_code == 200, answer.text
                            answered[instance_id].append(answer.json()["idMessage"])
                            count += 1
                posted.set()

            def chaos() -> None:
                while not chaos_done.is_set():
                    time.sleep(rng.uniform(0.5, 1.5))
                    victim = rng.choice(cluster.workers)
                    assert victim.proc is not None
                    if record["kills"] == 2 and not record["stopped"]:
                        # stalled past its lease: the others take its instances over; resumed, it must
                        # neither post nor record anything for them
                        os.kill(victim.proc.pid, signal.SIGSTOP)
                        time.sleep(LEASE_SECONDS + 2)
                        os.kill(victim.proc.pid, signal.SIGCONT)
                        record["stopped"] = True
                        continue
                    if record["kills"] >= MIN_KILLS and posted.is_set():
                        continue
                    victim.kill()
                    victim.start()
                    record["kills"] += 1  # counted once its successor runs: the end waits for that

            poster = threading.Thread(target=post_all, daemon=True)
            agent = threading.Thread(target=chaos, daemon=True)
            poster.start()
            agent.start()

            def finished() -> bool:
                if not posted.is_set() or record["kills"] < MIN_KILLS or not record["stopped"]:
                    return False
                with engine.connect() as conn:
                    states: dict[str, int] = dict(
                        conn.execute(sa.text("SELECT state, count(*) FROM statuses GROUP BY state")).all()
                    )
                    failed = conn.execute(
                        sa.text(
                            "SELECT id_message, attempts, description FROM statuses WHERE state = 'failed'"
                        )
                    ).all()
                assert not failed, (states, failed)
                return sum(states.values()) == INSTANCES * PER_INSTANCE and set(states) <= {"sent"}

            wait_for(finished, timeout=600, interval=0.5, what="every status sent, with the chaos done")
            chaos_done.set()
            agent.join(timeout=60)
            poster.join(timeout=10)
    finally:
        chaos_done.set()
        cluster.stop()
        engine.dispose()

    assert record["kills"] >= MIN_KILLS and record["stopped"] and record["api_killed"], record
    expected = {c["id"] for c in CONTACTS}
    for instance_id, sent in answered.items():
        assert len(sent) == PER_INSTANCE
        rows: list[dict[str, Any]] = cli_json(env, "sandbox", "deliveries", str(instance_id))
        by_status: dict[str, dict[str, float]] = {}
        for row in rows:
            assert row["deliveries"] == 1, row  # received exactly once, repeats counted
            by_status.setdefault(row["idMessage"], {})[row["participant"]] = row["firstAt"]
        assert set(by_status) == set(sent), f"instance {instance_id}: lost or unknown statuses"
        for recipients in by_status.values():
            assert set(recipients) == expected
        arrivals = [min(by_status[id_message].values()) for id_message in sent]
        assert arrivals == sorted(arrivals), f"instance {instance_id}: out of order"
        gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
        assert min(gaps) >= DELAY_MS / 1000, f"instance {instance_id}: two arrivals {min(gaps):.4f} s apart"


def test_a_worker_stopped_by_sigterm_hands_its_instances_over_at_once(
    tmp_path: Path, postgres: Cluster
) -> None:
    # leases far longer than the test: a takeover seen here is a hand-back, never a lapse
    url = postgres.url(postgres.new_database(), scheme="postgresql")
    env = base_env(tmp_path / "data", database_url=url, lease_seconds=600, poll_interval_seconds=0.1)
    for _ in range(6):
        cli_json(env, "instance", "create", "--authorized")
    cluster = Cluster5(env, tmp_path)
    first, second = cluster.workers[0], cluster.workers[1]
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"), poolclass=sa.NullPool)

    def holdings() -> list[int]:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT count(*) FROM instance_owners WHERE worker_id IS NOT NULL GROUP BY worker_id")
            ).all()
        return sorted(int(row[0]) for row in rows)

    try:
        first.start()
        second.start()
        wait_for(lambda: holdings() == [3, 3], timeout=60, what="two workers holding 3 instances each")
        started = time.monotonic()
        assert first.terminate(timeout=60) in (0, -signal.SIGTERM)
        wait_for(lambda: holdings() == [6], timeout=60, what="the other worker holding all six")
        assert time.monotonic() - started < 60  # the leases (600 s) never lapsed
    finally:
        for worker in (first, second):
            with contextlib.suppress(Exception):
                worker.terminate(timeout=30)
            worker.kill()
        engine.dispose()
