"""The integration tier runs on both stores: SQLite and PostgreSQL.

Every test that asks for ``make_settings`` runs twice, as ``[sqlite]`` and ``[postgresql]``; on PostgreSQL
its settings name a database of its own, copied from a migrated template in the session's throwaway
cluster (``tests/postgres.py``). The few tests that are about SQLite itself, or never open the database,
run on SQLite only: :data:`SQLITE_ONLY` says which and why.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from statusgate.settings import Settings
from tests import postgres as pg
from tests.postgres import Cluster, postgres  # noqa: F401 - ``postgres`` is the session's cluster (a fixture)

BACKENDS = ("sqlite", "postgresql")

#: what a request is refused for before anything is stored is the same on every store
_REFUSED_BEFORE_THE_STORE = "the request is refused before the store is asked: the same on every store"

#: tests (a module, or ``module::test``) that run on SQLite only, with the reason
SQLITE_ONLY: dict[str, str] = {
    "test_openapi.py": "the document and the pages are made from the settings and the package: no database",
    "test_whatsapp_engine.py": "the whatsapp engine's child processes and session files: no database",
    "test_whatsapp_offline.py": "the whatsapp engine's child processes without a network: no database",
    "test_whatsapp_gateway.py": "the whatsapp engine's child processes behind the gateway; the queue, "
    "statistics and journals they feed run on both stores in the sandbox's tests",
    "test_bad_input.py::test_f1_deeply_nested_json_is_a_validation_error": _REFUSED_BEFORE_THE_STORE,
    "test_bad_input.py::test_f3_query_numbers_are_ascii_digits": _REFUSED_BEFORE_THE_STORE,
    "test_bad_input.py::test_other_non_integers_stay_refused": _REFUSED_BEFORE_THE_STORE,
    "test_bad_input.py::test_f6_malformed_hosts_are_invalid_urls": _REFUSED_BEFORE_THE_STORE,
    "test_bad_input.py::test_f10_unsendable_webhook_tokens_are_refused": _REFUSED_BEFORE_THE_STORE,
    "test_bad_input.py::test_f11_media_is_never_active_content": "the headers files are served with; "
    "uploads are stored and read on both stores by test_upload_and_sweep.py",
}


#: tests that run on PostgreSQL only, with the reason
POSTGRESQL_ONLY: dict[str, str] = {
    "test_ownership.py::test_workers_share_the_instances_fairly_and_hand_them_over_on_stop": "several "
    "workers on one database: on SQLite the role lock allows one worker per database",
    "test_ownership.py::test_each_event_is_applied_once_by_its_instances_owner": "several workers on one "
    "database: on SQLite the role lock allows one worker per database",
    "test_ownership.py::test_preparation_claims_skip_statuses_another_worker_is_claiming": "row locks: a "
    "SQLite transaction holds the whole database's write lock from its start",
    "test_signals.py": "LISTEN/NOTIFY: the processes sharing a SQLite file poll instead",
}


def sqlite_only(module: str, test: str) -> str | None:
    """Why ``module::test`` runs on SQLite only, or None when it runs on every store."""
    return SQLITE_ONLY.get(f"{module}::{test}") or SQLITE_ONLY.get(module)


def pytest_runtest_setup(item: pytest.Item) -> None:
    pg.between_tests()  # the test before is torn down: its databases can go


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_backend" not in metafunc.fixturenames:
        return
    module, test = Path(metafunc.definition.path).name, metafunc.definition.originalname
    if sqlite_only(module, test):
        metafunc.parametrize("store_backend", BACKENDS[:1])
    elif f"{module}::{test}" in POSTGRESQL_ONLY or module in POSTGRESQL_ONLY:
        metafunc.parametrize("store_backend", BACKENDS[1:])
    else:
        metafunc.parametrize("store_backend", BACKENDS)


@pytest.fixture
def make_settings(
    make_settings: Callable[..., Settings], store_backend: str, request: pytest.FixtureRequest
) -> Callable[..., Settings]:
    """tests/conftest.py's settings, on the store of this run (the same database however often called)."""
    if store_backend == "sqlite":
        return make_settings
    cluster: Cluster = request.getfixturevalue("postgres")
    # the plain form users write; statusgate picks its driver (store/dialects.py)
    url = cluster.url(cluster.new_database(), scheme="postgresql")
    sqlite_settings = make_settings

    def make(**overrides: Any) -> Settings:
        return sqlite_settings(**({"database_url": url} | overrides))

    return make
