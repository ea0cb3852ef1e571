"""Exactly-once under SIGKILL: statuses reach exactly their audience, once, however often the server dies.

A real ``statusgate serve`` subprocess on loopback is killed at the named crash points of the send path
(``statusgate.queue.crashpoints``) and at seeded random moments while HTTP clients keep posting statuses.
After a final clean run the simulated network's own records are the oracle. The network keeps no repeat
check: every send that gets through is a new arrival, one row per recipient. So exactly once is measured
at the network: every status the server accepted arrived at each of its audience once (``deliveries == 1``,
repeats counted), and at nobody else; a status cut off mid-send was settled by asking the engine.

The second test has later attempts resend without asking (``test_blind_resend``) and a crash between the
engine's send and the queue's record: the oracle must report the duplicates, which shows the first test
would fail if the recovery did anything but ask the engine whether the first send arrived.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from statusgate.store.schema.sandbox import sandbox_deliveries, sandbox_messages
from statusgate.store.schema.statuses import statuses
from tests.support import FileServer, ServerProcess, base_env, cli, cli_json, jpeg_bytes, wait_for

pytestmark = pytest.mark.slow

SEED = 20261126
#: a number nobody registered on the simulated network: listed in participants, always skipped
GHOST = "79990000404@c.us"
CRASH_ENV = "STATUSGATE_TEST_CRASH_POINT"
#: what the worker logs when a later attempt finds the status already at the network
ALREADY_DELIVERED = "was already delivered (the engine says so"
FAST = {"delay_default_ms": 20, "poll_interval_seconds": 0.05, "lease_seconds": 5, "prepare_concurrency": 4}


# --- the oracle ------------------------------------------------------------------------------------------


def exactly_once_problems(
    expected: Mapping[tuple[int, str], Collection[str]], deliveries: Iterable[tuple[int, str, str]]
) -> list[str]:
    """Compare the network's deliveries ``(instance, message id, recipient)`` with the expected audiences.

    Every expected status must reach each of its recipients exactly once and nobody else; a delivery of a
    status nobody expects is a problem too. Returns one line per problem (empty: exactly once held).
    """
    delivered: dict[tuple[int, str], Counter[str]] = {}
    for instance_id, message_id, recipient in deliveries:
        delivered.setdefault((instance_id, message_id), Counter())[recipient] += 1
    problems: list[str] = []
    for key, audience in sorted(expected.items()):
        got = delivered.get(key, Counter())
        wanted = Counter(audience)
        for recipient in sorted(set(wanted) | set(got)):
            n = got[recipient]
            if recipient not in wanted:
                problems.append(f"unexpected: {key[1]} (instance {key[0]}) reached {recipient} x{n}")
            elif n == 0:
                problems.append(f"lost: {key[1]} (instance {key[0]}) never reached {recipient}")
            elif n > wanted[recipient]:
                problems.append(f"duplicate: {key[1]} (instance {key[0]}) reached {recipient} x{n}")
    for key in sorted(set(delivered) - set(expected)):
        problems.append(f"unknown: {key[1]} (instance {key[0]}) delivered to {dict(delivered[key])}")
    return problems


@dataclass(frozen=True)
class StoredStatus:
    instance_id: int
    id_message: str
    state: str
    caption: str | None
    recipients: list[str] | None
    skipped: list[str] | None
    attempts: int


def read_store(db_path: Path) -> tuple[list[StoredStatus], list[tuple[int, str, str]]]:
    """The queue's statuses and the network's deliveries, read-only; only once the server has stopped."""
    engine = sa.create_engine(f"sqlite+pysqlite:///file:{db_path}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            stored = [
                StoredStatus(
                    r.instance_id,
                    r.id_message,
                    r.state,
                    dict(r.body).get("caption"),
                    r.recipients,
                    r.skipped_participants,
                    r.attempts,
                )
                for r in conn.execute(sa.select(statuses).order_by(statuses.c.seq))
            ]
            rows = conn.execute(
                sa.select(
                    sandbox_messages.c.instance_id,
                    sandbox_messages.c.message_id,
                    sandbox_deliveries.c.recipient,
                )
                .join(sandbox_deliveries, sandbox_deliveries.c.message_row == sandbox_messages.c.row_id)
                .order_by(sandbox_deliveries.c.row_id)
            )
            deliveries = [(r.instance_id, r.message_id, r.recipient) for r in rows]
    finally:
        engine.dispose()
    return stored, deliveries


# --- the world: instances with address books, and a plan of statuses --------------------------------------


@dataclass(frozen=True)
class Account:
    id_instance: int
    token: str
    named: list[str]
    unnamed: str
    stranger: str  # on WhatsApp, not in the address book


@dataclass
class Post:
    index: int
    account: Account
    caption: str
    url: str
    participants: list[str] | None
    expected: list[str]
    id_message: str | None = None
    #: accepted | unanswered (the server died after the request left) | rejected … | error …
    outcome: str = "pending"


def make_account(
    env: dict[str, str], tmp_path: Path, n: int, named: int, *, authorized: bool = True
) -> Account:
    args = ["instance", "create", "--name", f"crash-{n}"] + (["--authorized"] if authorized else [])
    creds = cli_json(env, *args)

    def number(k: int) -> str:
        return f"7999{n:02d}{k:05d}@c.us"

    book: list[dict[str, Any]] = [
        {"id": number(k), "name": f"User {n}.{k}", "contactName": f"Friend {n}.{k}", "inAddressBook": True}
        for k in range(1, named + 1)
    ]
    unnamed = number(90)
    stranger = number(91)
    book.insert(1, {"id": unnamed, "name": f"Nameless {n}", "contactName": "", "inAddressBook": True})
    book.append({"id": stranger, "name": f"Stranger {n}", "contactName": "Not mine", "inAddressBook": False})
    path = tmp_path / f"book-{n}.json"
    path.write_text(json.dumps(book), encoding="utf-8")
    cli(env, "sandbox", "contacts", "import", str(creds["idInstance"]), str(path))
    return Account(
        creds["idInstance"],
        creds["apiTokenInstance"],
        [c["id"] for c in book if c["contactName"] and c["inAddressBook"]],
        unnamed,
        stranger,
    )


def plan_posts(accounts: list[Account], files: FileServer, count: int, rng: random.Random) -> list[Post]:
    urls = [
        files.add(f"/pic-{i}.jpg", jpeg_bytes(color=(40 * i, 200 - 30 * i, 90))) for i in range(len(accounts))
    ]
    posts = []
    for index in range(count):
        a = rng.randrange(len(accounts))
        account = accounts[a]
        participants: list[str] | None = None
        expected = list(account.named)
        if rng.random() < 0.35:
            chosen = rng.sample(account.named, rng.randint(1, len(account.named)))
            if rng.random() < 0.5:
                chosen.append(account.stranger)  # on WhatsApp though not a contact: receives it
            expected = list(chosen)
            participants = [*chosen]
            participants.insert(rng.randint(0, len(participants)), GHOST)
        posts.append(Post(index, account, f"crash-test #{index:03d}", urls[a], participants, expected))
    return posts


# --- clients that keep posting while servers come and go ----------------------------------------------------


class Gate:
    """The URL of the server that is up now; posters wait here while it is down."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._url: str | None = None
        self._generation = 0

    def open(self, url: str) -> None:
        with self._cond:
            self._url = url
            self._generation += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._url = None

    def current(self) -> tuple[int, str | None]:
        with self._cond:
            return self._generation, self._url

    def wait_newer(self, generation: int, timeout: float = 120.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._generation > generation, timeout):
                raise TimeoutError("no server came back")


def post_one(client: httpx.Client, gate: Gate, post: Post) -> None:
    body: dict[str, Any] = {"urlFile": post.url, "fileName": "pic.jpg", "caption": post.caption}
    if post.participants is not None:
        body["participants"] = post.participants
    while True:
        generation, url = gate.current()
        if url is None:
            gate.wait_newer(generation)
            continue
        target = f"{url}/waInstance{post.account.id_instance}/sendMediaStatus/{post.account.token}"
        try:
            answer = client.post(target, json=body)
        except httpx.ConnectError:
            gate.wait_newer(generation)  # the server is down: the request never left, send it to the next one
            continue
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            # the connection dropped mid-request: the server died; the status may or may not exist
            post.outcome = f"unanswered ({type(exc).__name__})"
            return
        except httpx.HTTPError as exc:  # a timeout is not a crash: the server hung
            post.outcome = f"error ({exc!r})"
            return
        if answer.status_code == 200:
            post.id_message = answer.json()["idMessage"]
            post.outcome = "accepted"
        else:
            post.outcome = f"rejected {answer.status_code}: {answer.text}"
        return


def start_posters(
    gate: Gate, posts: list[Post], threads: int, seed: int, gap: float
) -> list[threading.Thread]:
    def run(share: list[Post], rng: random.Random) -> None:
        # no keep-alive: a fresh connection per request, so a refused connection surely sent nothing
        with httpx.Client(timeout=20, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            for post in share:
                post_one(client, gate, post)
                time.sleep(rng.uniform(0, 2 * gap))

    workers = [
        threading.Thread(target=run, args=(posts[k::threads], random.Random(seed + k)), daemon=True)
        for k in range(threads)
    ]
    for worker in workers:
        worker.start()
    return workers


# --- servers that die ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def reaped(server: ServerProcess) -> Iterator[ServerProcess]:
    """Whatever happens, no server outlives the test (SIGKILL does nothing to one that already exited)."""
    try:
        yield server
    finally:
        server.kill()


def launch(server: ServerProcess) -> None:
    """Start; a server that reaches its crash point before it answers /health counts as started."""
    try:
        server.start()
    except AssertionError:
        if server.proc is None or server.proc.poll() is None:
            raise


def crash_at(env: dict[str, str], log: Path, gate: Gate, point: str) -> None:
    """Run a server until it SIGKILLs itself at ``point`` (``name:N``)."""
    with reaped(ServerProcess(env | {CRASH_ENV: point}, log)) as server:
        launch(server)
        gate.open(server.url)
        assert server.proc is not None
        try:
            code = server.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{point} not reached within 60 s\n{server.output()[-3000:]}") from None
        finally:
            gate.close()
    name = point.partition(":")[0]
    assert code == -signal.SIGKILL, f"{point}: exit {code}\n{server.output()[-3000:]}"
    assert f"crash point {name} reached" in server.output(), server.output()[-3000:]


def api_get(client: httpx.Client, account: Account, method: str, **params: str) -> Any:
    answer = client.get(f"/waInstance{account.id_instance}/{method}/{account.token}", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def drain_and_stop(server: ServerProcess, accounts: Iterable[Account], posts: list[Post]) -> None:
    """Wait until every queue is empty and the statistics list each accepted status's audience; stop."""
    with httpx.Client(base_url=server.url, timeout=20) as client:
        for account in accounts:
            wait_for(
                lambda a=account: api_get(client, a, "showMessagesQueue") == [],  # type: ignore[misc]
                timeout=90,
                interval=0.1,
                what=f"empty queue of {account.id_instance}",
            )
        for post in posts:
            if post.id_message is not None:
                rows = api_get(client, post.account, "getStatusStatistic", idMessage=post.id_message)
                assert sorted(r["participant"] for r in rows) == sorted(post.expected), post
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly
    assert server.terminate() in (0, -signal.SIGTERM), server.output()[-3000:]
    assert "Application shutdown complete" in server.output()


def expected_audiences(
    posts: list[Post], stored: list[StoredStatus]
) -> tuple[dict[tuple[int, str], list[str]], list[str]]:
    """The audience of every status that exists (accepted, or unanswered but stored), and what is wrong."""
    problems: list[str] = []
    by_caption = {p.caption: p for p in posts}
    by_id = {s.id_message: s for s in stored}
    expected: dict[tuple[int, str], list[str]] = {}
    for post in posts:
        if post.outcome == "accepted":
            assert post.id_message is not None
            if post.id_message not in by_id:
                problems.append(f"lost: accepted {post.id_message} ({post.caption}) is not in the queue")
    for status in stored:
        found = by_caption.get(status.caption or "")
        if found is None or found.account.id_instance != status.instance_id:
            problems.append(f"stored status nobody posted: {status}")
            continue
        post = found
        if post.id_message is not None and post.id_message != status.id_message:
            problems.append(f"{post.caption} answered {post.id_message} but stored {status.id_message}")
            continue
        if post.id_message is None and not post.outcome.startswith("unanswered"):
            problems.append(f"{post.caption} was {post.outcome} yet stored as {status.id_message}")
        expected[(status.instance_id, status.id_message)] = post.expected
        if status.state != "sent":
            problems.append(f"{status.id_message} ({post.caption}) ended {status.state}")
        if sorted(status.recipients or []) != sorted(post.expected):
            problems.append(
                f"{status.id_message} fixed recipients {status.recipients}, expected {post.expected}"
            )
        if (status.skipped or []) != ([GHOST] if post.participants is not None else []):
            problems.append(f"{status.id_message} skipped {status.skipped}")
    return expected, problems


@pytest.fixture
def files() -> Any:
    with FileServer() as server:
        yield server


def test_every_accepted_status_reaches_its_audience_exactly_once_across_crashes(
    tmp_path: Path, files: FileServer
) -> None:
    rng = random.Random(SEED)
    data = tmp_path / "data"
    env = base_env(data, **FAST)
    # the first CLI run creates the database; the others may then run side by side
    accounts = [make_account(env, tmp_path, 1, 3)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        accounts += pool.map(lambda n: make_account(env, tmp_path, n, n + 1), range(2, 6))
    posts = plan_posts(accounts, files, 200, rng)
    gate = Gate()
    posters = start_posters(gate, posts, threads=4, seed=SEED, gap=0.06)
    logs = tmp_path / "logs"
    logs.mkdir()

    # the named crash points of the send path, each restarted with the next one
    for n, point in enumerate(
        ("after_engine_send:4", "after_claim:3", "after_sent_commit:5", "after_prepare:6")
    ):
        crash_at(env, logs / f"{n}-{point.replace(':', '-')}.log", gate, point)
    # seeded random moments while clients post and statuses are queued and sending
    kills: list[tuple[float, int, dict[str, int]]] = []
    for n in range(2):
        with reaped(ServerProcess(env, logs / f"random-{n}.log")) as server:
            server.start()
            gate.open(server.url)
            delay = rng.uniform(0.15, 0.9)
            time.sleep(delay)
            gate.close()
            server.kill()
        states = Counter(s.state for s in read_store(data / "statusgate.db")[0])
        kills.append((round(delay, 2), sum(p.outcome != "pending" for p in posts), dict(states)))
    # the kills caught statuses on their way (queued, preparing, ready or sending), not an idle server
    assert any(sum(n for state, n in states.items() if state != "sent") for *_, states in kills), kills
    # the final clean run: every poster finishes, every queue drains
    with reaped(ServerProcess(env, logs / "final.log")) as final:
        final.start()
        gate.open(final.url)
        for worker in posters:
            worker.join(timeout=120)
            assert not worker.is_alive(), "a poster is stuck"
        drain_and_stop(final, accounts, posts)

    outcomes = Counter(p.outcome.partition(" ")[0] for p in posts)
    assert set(outcomes) <= {"accepted", "unanswered"}, [p.outcome for p in posts]
    assert outcomes["accepted"] >= 150, outcomes
    stored, deliveries = read_store(data / "statusgate.db")
    expected, problems = expected_audiences(posts, stored)
    problems += exactly_once_problems(expected, deliveries)
    assert problems == [], "\n".join(problems)
    # nobody outside an audience got anything: unnamed contacts and the ghost least of all
    never = {a.unnamed for a in accounts} | {GHOST}
    assert not [d for d in deliveries if d[2] in never]
    # the crashes did hit statuses mid-send, and the recovery asked the engine instead of sending again
    assert sum(s.attempts > 1 for s in stored) >= 2, [s for s in stored if s.attempts > 1]
    assert any(ALREADY_DELIVERED in p.read_text() for p in logs.iterdir())
    unanswered_stored = len(stored) - outcomes["accepted"]
    print(
        f"\nposts {dict(outcomes)}, stored {len(stored)} ({unanswered_stored} unanswered but stored), "
        f"taken up again after a crash {sum(s.attempts > 1 for s in stored)}; "
        f"random kills (delay s, posts answered, states) {kills}"
    )


def test_oracle_detects_the_duplicates_of_a_blind_resend(tmp_path: Path, files: FileServer) -> None:
    data = tmp_path / "data"
    env = base_env(data, test_blind_resend="true", **FAST)
    account = make_account(env, tmp_path, 1, 3, authorized=False)
    posts = plan_posts([account], files, 10, random.Random(SEED))
    gate = Gate()
    # the statuses wait, prepared, for the phone; then the 3rd send dies between engine and commit
    with reaped(ServerProcess(env | {CRASH_ENV: "after_engine_send:3"}, tmp_path / "crash.log")) as server:
        server.start()
        gate.open(server.url)
        with httpx.Client(timeout=20) as client:
            for post in posts:
                post_one(client, gate, post)
        assert all(p.outcome == "accepted" for p in posts), [p.outcome for p in posts]
        cli(env, "sandbox", "scan", str(account.id_instance))
        assert server.proc is not None
        assert server.proc.wait(timeout=60) == -signal.SIGKILL
        assert "crash point after_engine_send reached" in server.output()
    with reaped(ServerProcess(env, tmp_path / "final.log")) as final:
        final.start()
        drain_and_stop(final, [account], posts)
    assert ALREADY_DELIVERED not in final.output()  # it was never asked

    stored, deliveries = read_store(data / "statusgate.db")
    expected, problems = expected_audiences(posts, stored)
    assert problems == []
    found = exactly_once_problems(expected, deliveries)
    third = posts[2]
    assert found == [
        f"duplicate: {third.id_message} (instance {account.id_instance}) reached {r} x2"
        for r in sorted(third.expected)
    ]
    # the network's own count says the same (``statusgate sandbox deliveries``)
    counted = cli_json(env, "sandbox", "deliveries", str(account.id_instance))
    twice = {(row["idMessage"], row["participant"]) for row in counted if row["deliveries"] == 2}
    assert twice == {(third.id_message, r) for r in third.expected}
    assert all(row["deliveries"] in (1, 2) for row in counted), counted
    print(f"\nblind resend: {len(found)} duplicate deliveries of 1 status cut off mid-send")
