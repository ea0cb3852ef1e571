"""Migrations on both stores: ``statusgate migrate``, every URL form, one upgrade at a time, a database a newer
release migrated refused by every command, and what the command line says when it cannot open a database:
one line, exit 1, never a traceback, never a password."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from statusgate.cli import main
from statusgate.store import migrate
from statusgate.store.dialects import database_url
from tests.postgres import USER, Cluster
from tests.support import free_port, wait_for

HEAD = migrate.head()
NEWER = "0999"


@pytest.fixture
def empty_url(store_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of an empty database on this run's store."""
    if store_backend == "sqlite":
        (tmp_path / "data").mkdir()
        return f"sqlite:///{tmp_path / 'data' / 'statusgate.db'}"
    cluster: Cluster = request.getfixturevalue("postgres")
    return cluster.url(cluster.new_database(migrated=False), scheme="postgresql")


def _password(url: str) -> str | None:
    return sa.make_url(url).password


def _revision(url: str) -> str | None:
    engine = sa.create_engine(database_url(url), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return migrate.current(conn)
    finally:
        engine.dispose()


def _stamp(url: str, revision: str) -> None:
    """What a newer release leaves behind: a revision this one has never heard of."""
    engine = sa.create_engine(database_url(url), poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def _statusgate(tmp_path: Path, *args: str, python: list[str] | None = None) -> tuple[int, str, str]:
    """Run the command line in a subprocess (in ``tmp_path``, its data dir there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGATE_")}
    env["STATUSGATE_DATA_DIR"] = str(tmp_path / "data")
    command = python or [sys.executable, "-m", "statusgate"]
    result = subprocess.run(
        [*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return result.returncode, result.stdout, result.stderr


def _one_line_failure(code: int, out: str, err: str, password: str | None) -> str:
    assert code == 1, (code, out, err)
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("statusgate: "), err
    if password:
        assert password not in out + err
    return lines[0]


# --- statusgate migrate ------------------------------------------------------------------------------------


def test_migrate_upgrades_then_says_the_database_is_at_head(
    empty_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data_dir = str(tmp_path / "data")
    main(["migrate", "--data-dir", data_dir, "--database-url", empty_url])
    main(["migrate", "--data-dir", data_dir, "--database-url", empty_url])
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"database upgraded from empty to revision {HEAD} (head)",
        f"database at revision {HEAD} (head)",
    ]
    assert err == ""
    assert _revision(empty_url) == HEAD


def test_every_postgresql_url_form_names_the_same_database(
    postgres: Cluster, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = postgres.new_database(migrated=False)
    forms = [postgres.url(name, scheme=scheme) for scheme in ("postgresql", "postgres", "postgresql+psycopg")]
    data_dir = str(tmp_path / "data")
    for url in forms:
        main(["instance", "create", "--authorized", "--json", "--data-dir", data_dir, "--database-url", url])
    main(["instance", "list", "--data-dir", data_dir, "--database-url", forms[0]])
    out, err = capsys.readouterr()
    assert len([line for line in out.splitlines() if "sandbox" in line]) == 3, out
    assert postgres.password not in out + err


def test_sqlite_url_forms_name_the_same_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "data" / "statusgate.db"
    data_dir = str(tmp_path / "data")
    main(["migrate", "--data-dir", data_dir])  # the default: SQLite in the data dir
    for url in (f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}", f"sqlite+pysqlite:///{path}"):
        main(["migrate", "--data-dir", data_dir, "--database-url", url])
    out, _err = capsys.readouterr()
    assert out.splitlines()[1:] == [f"database at revision {HEAD} (head)"] * 3


# --- refusals ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["migrate"], ["instance", "list"], ["serve", "--port", "0"]], ids=lambda c: c[0]
)
def test_a_database_a_newer_release_migrated_is_refused_by_every_command(
    empty_url: str, tmp_path: Path, command: list[str]
) -> None:
    migrate.upgrade_database(empty_url)
    _stamp(empty_url, NEWER)
    line = _one_line_failure(
        *_statusgate(tmp_path, *command, "--database-url", empty_url), _password(empty_url)
    )
    assert f"is at revision {NEWER}, which this statusgate does not know (its newest is {HEAD})" in line
    assert "newer release" in line
    assert _revision(empty_url) == NEWER  # refused before anything changed


#: runs statusgate's command line in an interpreter where the PostgreSQL driver cannot be imported
WITHOUT_PSYCOPG = [
    sys.executable,
    "-c",
    "import sys; sys.modules['psycopg'] = None; from statusgate.cli import main; main(sys.argv[1:])",
]


@pytest.mark.parametrize(
    ("command", "scheme"),
    [
        (["migrate"], "postgresql"),
        (["instance", "list"], "postgres"),
        (["serve", "--port", "0"], "postgresql+psycopg"),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else value,
)
def test_a_missing_driver_is_one_line_naming_the_extra(
    tmp_path: Path, command: list[str], scheme: str
) -> None:
    url = f"{scheme}://{USER}:s3cret-pw@127.0.0.1:{free_port()}/statusgate"
    line = _one_line_failure(
        *_statusgate(tmp_path, *command, "--database-url", url, python=WITHOUT_PSYCOPG), "s3cret-pw"
    )
    assert "statusgate[postgres]" in line, line
    assert f"{scheme}://{USER}:***@127.0.0.1" in line, line


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://{USER}:s3cret-pw@127.0.0.1:{free_port()}/statusgate"  # nobody listens there
    line = _one_line_failure(*_statusgate(tmp_path, "migrate", "--database-url", url), "s3cret-pw")
    assert line.startswith(f"statusgate: database postgresql://{USER}:***@127.0.0.1:"), line


def test_a_wrong_password_is_one_line_without_it(postgres: Cluster, tmp_path: Path) -> None:
    url = postgres.url(postgres.new_database(migrated=False)).replace(postgres.password, "not-the-pw")
    line = _one_line_failure(*_statusgate(tmp_path, "migrate", "--database-url", url), "not-the-pw")
    assert "password authentication failed" in line, line


# --- one upgrade at a time -----------------------------------------------------------------------------------


def test_upgrades_started_together_run_one_at_a_time(empty_url: str) -> None:
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda _: migrate.upgrade_database(empty_url), range(4)))
    assert sorted(str(d) for d in done) == [
        *[f"database at revision {HEAD} (head)"] * 3,
        f"database upgraded from empty to revision {HEAD} (head)",
    ]
    assert _revision(empty_url) == HEAD


_WAITING_FOR_AN_ADVISORY_LOCK = sa.text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def test_an_upgrade_waits_for_the_advisory_lock_on_postgresql(postgres: Cluster) -> None:
    url = postgres.url(postgres.new_database(migrated=False))
    holder = sa.create_engine(url, poolclass=sa.NullPool)
    outcome: list[migrate.Upgraded] = []
    try:
        with holder.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": migrate.UPGRADE_LOCK})
            conn.commit()
            upgrading = threading.Thread(target=lambda: outcome.append(migrate.upgrade_database(url)))
            upgrading.start()

            def waiting() -> bool:
                return bool(conn.execute(_WAITING_FOR_AN_ADVISORY_LOCK).scalar_one())

            wait_for(waiting, what="the upgrade waiting for the lock")
            assert not outcome and not sa.inspect(conn).has_table("alembic_version")
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": migrate.UPGRADE_LOCK})
            conn.commit()
            upgrading.join(timeout=60)
    finally:
        holder.dispose()
    assert [str(o) for o in outcome] == [f"database upgraded from empty to revision {HEAD} (head)"]
