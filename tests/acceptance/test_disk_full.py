"""A full disk never fails a status nor blocks its queue: a real, small tmpfs that really fills.

``statusgate serve`` runs in a mount namespace of its own (``unshare --mount``) in which a tmpfs of a few MiB
is mounted over its data dir. The test reaches that tmpfs through ``/proc/<server pid>/root`` (the server's
view of the filesystem), fills it with a filler file and frees it again:

- only the media are on the tmpfs (the database elsewhere): a status whose download finds no room waits and
  is prepared again with backoff, the statuses behind it wait in line, and once there is room both go out, in
  order;
- everything is on the tmpfs: a new status answers 507 (and leaves nothing behind), a preparation in flight
  when the disk filled up neither fails nor holds its lease for ever, and all goes out once there is room;
- the preparation's record itself cannot be written (an in-process run inside the namespace, where the
  database's write-ahead log is emptied first so that no write finds room): it is written once there is.

Linux only, and the test fails (rather than skips) where ``unshare``/``mount`` are not allowed: the CI runs
as root.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import http.server
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from PIL import Image

from tests.support import ROOT, FileServer, ServerProcess, base_env, cli, cli_json, free_port, wait_for

#: an unprivileged user needs a user namespace of its own to mount
UNSHARE = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--mount"]
#: mount a tmpfs of size $1 on $0, copy the seed directory $2 (if any) into it, then become the command "$@"
MOUNT_AND_RUN = (
    'mount -t tmpfs -o size="$1" statusgate-test "$0" && { [ -z "$2" ] || cp -a "$2"/. "$0"/; } && '
)
MOUNT_AND_RUN += 'shift 2 && exec "$@"'
#: the waits while the disk is full: short, so a retry comes quickly
RETRY = {"prepare_retry_base_seconds": 0.2, "prepare_retry_cap_seconds": 1}
FAST = {"poll_interval_seconds": 0.05, "delay_default_ms": 20, **RETRY}
BOOK = [
    {"id": f"7999000000{n}@c.us", "name": f"User {n}", "contactName": f"Friend {n}", "inAddressBook": True}
    for n in range(1, 4)
]
SENT = ("sent", "delivered", "read")


# --- the namespace and its tmpfs ---------------------------------------------------------------------------


def require_tmpfs(tmp_path: Path) -> None:
    """Fail with what is missing if this machine cannot mount a tmpfs in a private mount namespace."""
    target = tmp_path / "probe"
    target.mkdir()
    try:
        probe = subprocess.run(
            [*UNSHARE, "sh", "-c", 'mount -t tmpfs -o size=1m statusgate-test "$0"', str(target)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        problem = probe.stderr.strip() if probe.returncode != 0 else ""
    except OSError as exc:
        problem = str(exc)
    assert not problem, (
        "this test mounts a small tmpfs in a private mount namespace (`unshare --mount` + `mount -t tmpfs`): "
        "run it as root (as the CI does) or where unprivileged user namespaces are allowed "
        f"(`unshare --map-root-user`); here it failed: {problem}"
    )


class TmpfsServer(ServerProcess):
    """``statusgate serve`` inside its own mount namespace, with a tmpfs of ``size`` over ``mount_point``."""

    def __init__(
        self, env: dict[str, str], log_path: Path, mount_point: Path, size: str, seed: Path | None = None
    ) -> None:
        super().__init__(env, log_path)
        self.mount_point = mount_point
        self.size = size
        self.seed = seed

    def argv(self) -> list[str]:
        mount = [*UNSHARE, "sh", "-c", MOUNT_AND_RUN, str(self.mount_point), self.size, str(self.seed or "")]
        return [*mount, *super().argv()]

    @property
    def disk(self) -> Path:
        """The tmpfs as the server sees it (unshare and sh exec: the server keeps the first process's pid)."""
        assert self.proc is not None
        disk = Path(f"/proc/{self.proc.pid}/root") / self.mount_point.relative_to("/")
        stat = os.statvfs(disk)
        assert stat.f_blocks * stat.f_frsize <= 64 << 20, f"{disk} is not the server's small tmpfs"
        return disk


def free_bytes(disk: Path) -> int:
    stat = os.statvfs(disk)
    return stat.f_bavail * stat.f_frsize


def fill(disk: Path, leave: int = 0) -> Path:
    """Take the free space of ``disk`` but ``leave`` bytes with a filler file; all of it when ``leave`` is 0."""
    filler = disk / "filler"
    with filler.open("ab", buffering=0) as out:
        while (free := free_bytes(disk)) > leave:
            try:
                out.write(bytes(min(1 << 20, free - leave)))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    return filler


def noise_jpeg(seed: int, side: int = 800) -> bytes:
    """A picture that does not compress: about 750 KB at 800 px, more than the room the tests leave."""
    pixels = random.Random(seed).randbytes(side * side * 3)
    out = BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


class GatedFileServer:
    """A loopback server for one picture whose answer waits until :meth:`release` (a download in flight)."""

    def __init__(self, body: bytes) -> None:
        self.requested = threading.Event()
        self._released = threading.Event()
        requested, released = self.requested, self._released

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requested.set()
                released.wait(120)
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/gated.jpg"

    def release(self) -> None:
        self._released.set()

    def __enter__(self) -> GatedFileServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


# --- the API -------------------------------------------------------------------------------------------------


class Api:
    def __init__(self, server: ServerProcess, credentials: dict[str, Any]) -> None:
        self.id = credentials["idInstance"]
        self.token = credentials["apiTokenInstance"]
        self.client = httpx.Client(base_url=server.url, timeout=30)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.client.close()

    def call(self, verb: str, method: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(verb, f"/waInstance{self.id}/{method}/{self.token}", **kwargs)

    def get(self, method: str, **params: str) -> Any:
        answer = self.call("GET", method, params=params)
        assert answer.status_code == 200, (method, answer.status_code, answer.text)
        return answer.json()

    def post_media(self, url: str) -> str:
        answer = self.call("POST", "sendMediaStatus", json={"urlFile": url, "fileName": "picture.jpg"})
        assert answer.status_code == 200, answer.text
        id_message: str = answer.json()["idMessage"]
        return id_message

    def post_text(self, text: str) -> httpx.Response:
        return self.call("POST", "sendTextStatus", json={"message": text})

    def outgoing(self) -> dict[str, dict[str, Any]]:
        return {item["idMessage"]: item for item in self.get("getOutgoingStatuses")}

    def status_of(self, id_message: str) -> str | None:
        item = self.outgoing().get(id_message)
        return None if item is None else str(item["statusMessage"])

    def queued_ids(self) -> list[str]:
        return [item["messageID"] for item in self.get("showMessagesQueue")]


def make_instance(env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    credentials: dict[str, Any] = cli_json(env, "instance", "create", "--authorized")
    book = tmp_path / "book.json"
    book.write_text(json.dumps(BOOK), encoding="utf-8")
    cli(env, "sandbox", "contacts", "import", str(credentials["idInstance"]), str(book))
    return credentials


def count(log: str, text: str) -> int:
    return sum(1 for line in log.splitlines() if text in line)


@contextlib.contextmanager
def serving(server: TmpfsServer) -> Iterator[TmpfsServer]:
    try:
        yield server.start()
    finally:
        with contextlib.suppress(Exception):
            server.terminate(timeout=30)
        server.kill()


# --- the tests -----------------------------------------------------------------------------------------------


def test_a_status_whose_media_finds_no_room_waits_and_goes_out_in_order(tmp_path: Path) -> None:
    require_tmpfs(tmp_path)
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    db_path = tmp_path / "db" / "statusgate.db"
    db_path.parent.mkdir()
    # the database stays on the ordinary disk: only the media find no room, every queue write succeeds
    env = base_env(mount_point, database_url=f"sqlite+aiosqlite:///{db_path}", **FAST)
    credentials = make_instance(env, tmp_path)
    server = TmpfsServer(env, tmp_path / "server.log", mount_point, "4m")
    with FileServer() as files, serving(server), Api(server, credentials) as api:
        filler = fill(server.disk, leave=128 << 10)
        first = api.post_media(files.add("/big.jpg", noise_jpeg(1)))
        behind = api.post_text("queued behind a status waiting for disk space")
        assert behind.status_code == 200, behind.text
        second: str = behind.json()["idMessage"]

        waiting = f"status {first} waits for disk space"
        wait_for(
            lambda: api.status_of(first) == "failed" or count(server.output(), waiting) >= 2,
            timeout=30,
            what="two tries at preparing the status on the full disk",
        )
        item = api.outgoing()[first]
        assert item["statusMessage"] == "pending", f"a full disk failed the status: {item}"
        assert "description" not in item, item
        assert api.status_of(second) == "pending"
        assert api.queued_ids() == [first, second]

        filler.unlink()
        wait_for(
            lambda: api.status_of(first) in SENT and api.status_of(second) in SENT,
            timeout=30,
            what="both statuses sent once there is room",
        )
        assert api.get("getStatusStatistic", idMessage=first), "the first status reached nobody"
        assert api.queued_ids() == []

    engine = sa.create_engine(f"sqlite+pysqlite:///file:{db_path}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            sent_at: dict[str, float] = {
                row.id_message: row.sent_at
                for row in conn.execute(sa.text("SELECT id_message, sent_at FROM statuses"))
            }
            journal = conn.execute(
                sa.text(
                    "SELECT e.state, e.description FROM status_events e JOIN statuses s ON s.seq = e.status_seq "
                    "WHERE s.id_message = :id ORDER BY e.event_id"
                ),
                {"id": first},
            ).all()
    finally:
        engine.dispose()
    assert sent_at[first] < sent_at[second], "the status behind went out first"
    states = [state for state, _ in journal]
    assert "failed" not in states, journal
    waits = [description for state, description in journal if state == "queued" and description]
    assert len(waits) >= 2 and all("waiting for disk space" in d for d in waits), journal
    assert states[-3:] == ["ready", "sending", "sent"], states


def test_a_full_database_answers_507_and_nothing_is_lost_or_stuck(tmp_path: Path) -> None:
    require_tmpfs(tmp_path)
    seed = tmp_path / "seed"
    env_seed = base_env(seed)
    credentials = make_instance(env_seed, tmp_path)
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    env = base_env(mount_point, **FAST, fetch_read_timeout_seconds=120, lease_seconds=3)
    server = TmpfsServer(env, tmp_path / "server.log", mount_point, "8m", seed=seed)
    with GatedFileServer(noise_jpeg(2)) as gated, serving(server), Api(server, credentials) as api:
        first = api.post_media(gated.url)
        assert gated.requested.wait(30), "the server never started downloading the picture"

        # the download is in flight: now nothing fits, neither the picture nor the database's next page
        filler = fill(server.disk)
        accepted: list[str] = []
        refused = None
        for n in range(300):  # the database's log may still have room for a few statuses
            answer = api.post_text(f"posted on a full disk #{n}")
            assert answer.status_code in (200, 507), (answer.status_code, answer.text)
            if answer.status_code == 507:
                refused = answer.json()
                break
            accepted.append(answer.json()["idMessage"])
        assert refused is not None, "300 statuses fitted on a full disk"
        assert refused["statusCode"] == 507 and "Insufficient Storage" in refused["message"], refused
        assert api.queued_ids() == [first, *accepted], "reads must go on while the disk is full"

        gated.release()
        wait_for(
            lambda: (
                api.status_of(first) == "failed"
                or f"recording the preparation of {first} failed: the disk is full" in server.output()
                or count(server.output(), f"status {first} waits for disk space") >= 2
            ),
            timeout=30,
            what="the preparation meeting the full disk",
        )
        assert api.status_of(first) == "pending", api.outgoing().get(first)

        filler.unlink()
        wait_for(lambda: api.status_of(first) in SENT, timeout=30, what="the status in flight sent")
        after = api.post_text("posted once there is room again")
        assert after.status_code == 200, after.text
        last: str = after.json()["idMessage"]
        everyone = [first, *accepted, last]
        wait_for(
            lambda: all(api.status_of(id_message) in SENT for id_message in everyone),
            timeout=60,
            what="every accepted status sent",
        )
        assert set(api.outgoing()) == set(everyone), "the refused status left something behind"
        log = server.output()
        order = [log.index(f"status {id_message} of instance") for id_message in everyone]
        assert order == sorted(order), "the statuses did not go out in the order they were queued"


def test_a_preparation_whose_record_finds_no_room_is_recorded_later(tmp_path: Path) -> None:
    """In-process, inside the namespace: the only writer is the test, so the database is surely full."""
    require_tmpfs(tmp_path)
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    script = (
        "import sys; from tests.acceptance.test_disk_full import record_on_full_disk; "
        "record_on_full_disk(sys.argv[1])"
    )
    run = subprocess.run(
        [
            *UNSHARE,
            "sh",
            "-c",
            MOUNT_AND_RUN,
            str(mount_point),
            "8m",
            "",
            sys.executable,
            "-c",
            script,
            str(mount_point),
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("STATUSGATE_")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]


def record_on_full_disk(data_dir: str) -> None:
    """The in-namespace half of the test above (``data_dir`` is the tmpfs); raises AssertionError."""
    warnings: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage())

    logging.getLogger("statusgate").addHandler(Collect(logging.WARNING))
    with GatedFileServer(noise_jpeg(3)) as gated:
        asyncio.run(_record_on_full_disk(Path(data_dir), gated, warnings))


async def _record_on_full_disk(disk: Path, gated: GatedFileServer, warnings: list[str]) -> None:
    from statusgate.domain.models import MediaKind
    from statusgate.domain.posts import MediaPost
    from statusgate.queue.crashpoints import CrashPoints
    from statusgate.services import instances
    from statusgate.settings import Settings
    from statusgate.store import intake, outbox
    from statusgate.wiring.core import Core
    from statusgate.worker.preparation import Preparer
    from statusgate.worker.role import Worker

    # through the environment: settings this code's version may not know are then ignored, not refused
    os.environ.update({f"STATUSGATE_{key.upper()}": str(value) for key, value in RETRY.items()})
    settings = Settings(data_dir=disk, allow_private_urls=True, public_url=f"http://127.0.0.1:{free_port()}")
    core = Core(settings)  # no worker loops: the preparer below is the only writer
    await core.open()
    ctx = core.ctx
    try:
        instance = await instances.create(ctx, authorized=True)
        now = time.time()
        post = MediaPost(gated.url, "a.jpg", MediaKind.IMAGE)
        new = intake.NewStatus(instance.id_instance, "3EB0D15CF011000000A1", post, now, now + 3600)
        await ctx.db.write(intake.enqueue_many, [new])
        preparer = Preparer(
            settings,
            ctx.db,
            Worker(ctx).prepare_media,
            owner="test",
            crash=CrashPoints(""),
            on_done=lambda _instance_id: None,
        )

        async def row() -> outbox.StatusRow:
            found = await ctx.db.read(outbox.get_by_message_id, instance.id_instance, new.id_message)
            assert found is not None
            return found

        async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
            deadline = time.monotonic() + timeout
            while not await check():
                assert time.monotonic() < deadline, f"timed out waiting for {what}: {await row()}, {warnings}"
                await asyncio.sleep(0.05)

        await preparer.start_more()
        await until(lambda: asyncio.to_thread(gated.requested.wait, 0.05), "the download to start")
        # an empty write-ahead log and not a free page left: no write of the database can succeed
        await ctx.db.read(lambda conn: conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").all())
        filler = fill(disk)
        gated.release()
        recording = f"recording the preparation of {new.id_message} failed: the disk is full"

        async def retried() -> bool:
            return sum(recording in line for line in warnings) >= 2

        await until(retried, "two tries at recording that the status waits for disk space")
        current = await row()
        assert current.state.value == "preparing" and current.lease_owner == "test", current
        assert preparer.in_flight == [current.seq], (
            "the heartbeat must keep the lease of a record in progress"
        )

        filler.unlink()

        async def requeued() -> bool:
            return (await row()).state.value != "preparing"

        await until(requeued, "the wait recorded once there is room")
        current = await row()
        assert current.state.value == "queued", current
        assert current.not_before is not None and "waiting for disk space" in (current.description or "")

        async def prepared() -> bool:
            await preparer.start_more()
            return (await row()).state.value == "ready"

        await until(prepared, "the status prepared again")
        current = await row()
        states = [state.value for state, _, _ in await ctx.db.read(outbox.events, current.seq)]
        assert states == ["queued", "preparing", "queued", "preparing", "ready"], states
        assert current.not_before is None and current.media_id, current
    finally:
        await core.close()
