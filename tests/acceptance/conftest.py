"""Acceptance tier: a real ``statusgate serve`` subprocess on loopback, driven by the official Green API SDK.

Every module that uses the ``server`` fixture runs once per shape of the server (:data:`SHAPES`): one
``--role all`` process on SQLite, an ``api`` + ``worker`` pair on SQLite, and a pair on a PostgreSQL database
of the module's own (the session's throwaway cluster, tests/postgres.py). A module about SQLite itself narrows
its ``SHAPES`` and says why.

Fixtures are factories where a test needs more than one of a thing. One server runs per test module and
shape (starting one takes about a second). Instances are created with the public CLI: a fresh one for every
test that changes an instance (state, token, settings, queue), one per module for tests that only send and
read their own statuses.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from whatsapp_api_client_python.API import GreenAPI

from tests.postgres import Cluster
from tests.postgres import postgres as postgres  # the session's cluster (a fixture), started on demand
from tests.support import FileServer, ServerPair, ServerProcess, base_env, cli, cli_json, jpeg_bytes

#: the address book every test instance gets, in this order: unnamed contacts and a WhatsApp user who is
#: not a contact (even with a name) sit between the named ones, so filtering is visible
CONTACTS: list[dict[str, Any]] = [
    {"id": "79990000001@c.us", "name": "Ann", "contactName": "Ann (work)", "inAddressBook": True},
    {"id": "79990000002@c.us", "name": "Ben", "contactName": "", "inAddressBook": True},
    {"id": "79990000003@c.us", "name": "Cat", "contactName": "Cat", "inAddressBook": True},
    {"id": "79990000004@c.us", "name": "Dan", "contactName": "Dan", "inAddressBook": False},
    {"id": "79990000005@c.us", "name": "Eve", "contactName": "Eve E.", "inAddressBook": True},
]
NAMED = ["79990000001@c.us", "79990000003@c.us", "79990000005@c.us"]
UNNAMED = "79990000002@c.us"
NOT_A_CONTACT = "79990000004@c.us"
#: a number that is not on the (simulated) network at all
NOT_ON_WHATSAPP = "79990000404@c.us"

ID_MESSAGE = re.compile(r"3EB0[0-9A-F]{16}")
API_TOKEN = re.compile(r"[0-9a-f]{50}")
PICTURE = "/status.jpg"
#: never added to the file server: fetching it answers 404, so a status using it fails preparation
MISSING_PICTURE = "/missing.jpg"
SDK_LOGGER = "whatsapp-api-client-python"


@dataclass(frozen=True)
class Instance:
    """Credentials as ``statusgate instance create --json`` prints them."""

    id: int
    token: str
    api_url: str
    media_url: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Instance:
        return cls(data["idInstance"], data["apiTokenInstance"], data["apiUrl"], data["mediaUrl"])


def error_body(response: Any, code: int, message: str, path: str) -> dict[str, Any]:
    """Check an SDK response is Green's error: HTTP ``code`` and exactly statusCode/timestamp/path/message."""
    assert response.code == code, (response.code, response.data, response.error)
    assert response.data is None
    body: dict[str, Any] = json.loads(response.error)
    assert set(body) == {"statusCode", "timestamp", "path", "message"}, body
    assert body["statusCode"] == code
    assert body["message"] == message
    assert body["path"] == path
    assert body["timestamp"].endswith("Z"), body["timestamp"]
    assert datetime.fromisoformat(body["timestamp"]).utcoffset() == timedelta(0)
    return body


def statistic(api: Any, id_message: str) -> list[dict[str, Any]]:
    """getStatusStatistic through the SDK; must answer 200 with a JSON array."""
    response = api.statuses.getStatusStatistic(id_message)
    assert response.code == 200, (response.code, response.error)
    rows = response.data
    assert isinstance(rows, list), rows  # an empty body would show up as the SDK's string "[]"
    return rows


def queue(api: Any) -> list[dict[str, Any]]:
    response = api.queues.showMessagesQueue()
    assert response.code == 200, (response.code, response.error)
    assert isinstance(response.data, list), response.data
    return response.data


def state(api: Any) -> str:
    response = api.account.getStateInstance()
    assert response.code == 200, (response.code, response.error)
    assert set(response.data) == {"stateInstance"}, response.data
    value: str = response.data["stateInstance"]
    return value


def send_status(api: Any, url: str, file_name: str = "status.jpg", **optional: Any) -> str:
    """sendMediaStatus through the SDK; returns the idMessage after checking the answer's exact shape."""
    response = api.statuses.sendMediaStatus(url, file_name, **optional)
    assert response.code == 200, (response.code, response.error)
    assert set(response.data) == {"idMessage"}, response.data
    id_message: str = response.data["idMessage"]
    assert ID_MESSAGE.fullmatch(id_message), id_message
    return id_message


def stop(server: ServerProcess) -> None:
    """SIGTERM, then check the server shut down cleanly (SIGKILL if it hangs, so nothing is left behind)."""
    try:
        exit_code = server.terminate(timeout=30)
    finally:
        server.kill()
    # uvicorn re-raises the SIGTERM it handled once it has shut down, as Unix servers conventionally do
    assert exit_code in (0, -signal.SIGTERM), (exit_code, server.output()[-3000:])
    assert "Application shutdown complete" in server.output(), server.output()[-3000:]


# --- the server ----------------------------------------------------------------------------------------------


#: one ``--role all`` process on SQLite (the data dir's statusgate.db)
ALL = "all"
#: an ``api`` and a ``worker`` process on one SQLite data dir
PAIR = "api+worker"
#: an ``api`` and a ``worker`` process on a PostgreSQL database of the module's own
PAIR_POSTGRESQL = "api+worker-postgresql"
#: the shapes every module's tests run against, unless the module narrows them: ``SHAPES = (ALL, PAIR)``
#: with ``SHAPES_REASON = "…"``, one line saying why the others make no sense for it
SHAPES = (ALL, PAIR, PAIR_POSTGRESQL)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``shape`` (module-scoped: one server per module and shape) from the module's ``SHAPES``."""
    if "shape" not in metafunc.fixturenames:
        return
    shapes = tuple(getattr(metafunc.module, "SHAPES", SHAPES))
    if not set(shapes) <= set(SHAPES) or not shapes:
        raise pytest.UsageError(
            f"{metafunc.module.__name__}.SHAPES: {shapes!r} is not a choice of {SHAPES!r}"
        )
    if set(shapes) != set(SHAPES) and not getattr(metafunc.module, "SHAPES_REASON", ""):
        raise pytest.UsageError(f"{metafunc.module.__name__} narrows SHAPES: SHAPES_REASON must say why")
    metafunc.parametrize("shape", shapes, indirect=True, scope="module")


@pytest.fixture(scope="module")
def shape(request: pytest.FixtureRequest) -> str:
    """The shape of this module's server, one of :data:`SHAPES`."""
    value: str = request.param
    return value


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, shape: str) -> Path:
    return tmp_path_factory.mktemp(f"statusgate-{shape}") / "data"


@contextlib.contextmanager
def fresh_store(shape: str, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The settings that name a new store for ``shape``: none on SQLite (the data dir's statusgate.db); on
    PostgreSQL a fresh, empty database, migrated by the processes themselves as on a new deployment, and
    dropped on leaving (the session's cluster starts only when a test runs on PostgreSQL)."""
    if shape != PAIR_POSTGRESQL:
        yield {}
        return
    cluster: Cluster = request.getfixturevalue("postgres")
    database = cluster.new_database(migrated=False)
    try:
        # the plain form users write; statusgate picks its driver (store/dialects.py)
        yield {"database_url": cluster.url(database, scheme="postgresql")}
    finally:
        cluster.drop_database(database)


def server_in(shape: str, env: dict[str, str], log: Path) -> ServerProcess:
    """A server of ``shape`` (not started yet); whichever it is, tests speak to its ``url``."""
    return ServerProcess(env, log) if shape == ALL else cast(ServerProcess, ServerPair(env, log))


@pytest.fixture(scope="module")
def store_settings(shape: str, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The settings naming the module's store (:func:`fresh_store`); dropped once its server has stopped."""
    with fresh_store(shape, request) as settings:
        yield settings


@pytest.fixture(scope="module")
def env(data_dir: Path, store_settings: dict[str, str]) -> dict[str, str]:
    # a reboot keeps the instance `starting` long enough for a test to see it, short enough not to wait long
    return base_env(data_dir, sandbox_reboot_seconds=2, **store_settings)


@pytest.fixture(scope="module")
def server(shape: str, env: dict[str, str], data_dir: Path) -> Iterator[ServerProcess]:
    """The server under test in this module's shape; whichever it is, the tests speak to ``server.url``."""
    with server_in(shape, env, data_dir.parent / "server.log") as process:
        # started here; SIGTERM (then SIGKILL if it hangs) at teardown
        yield process


@pytest.fixture(scope="module")
def files() -> Iterator[FileServer]:
    with FileServer() as file_server:
        file_server.add(PICTURE, jpeg_bytes())
        yield file_server


@pytest.fixture(scope="module")
def picture_url(files: FileServer) -> str:
    return files.url(PICTURE)


# --- instances and clients -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def make_instance(server: ServerProcess, data_dir: Path) -> Callable[..., Instance]:
    """``instance create [--authorized]`` and ``sandbox contacts import`` (CONTACTS) through the CLI."""

    def make(*, authorized: bool = True, contacts: list[dict[str, Any]] | None = CONTACTS) -> Instance:
        flags = ["--authorized"] if authorized else []
        instance = Instance.from_json(cli_json(server.env, "instance", "create", *flags))
        if contacts is not None:
            book = data_dir.parent / f"contacts-{instance.id}.json"
            book.write_text(json.dumps(contacts), encoding="utf-8")
            cli(server.env, "sandbox", "contacts", "import", str(instance.id), str(book))
        return instance

    return make


@pytest.fixture(scope="module")
def make_client() -> Iterator[Callable[..., Any]]:
    """``GreenAPI(str(idInstance), token, host=…, media=…)``; sessions closed and SDK log handlers removed after."""
    clients: list[Any] = []
    sdk_logger = logging.getLogger(SDK_LOGGER)
    handlers_before = list(sdk_logger.handlers)

    def make(id_instance: int | str, token: str, url: str) -> Any:
        client = GreenAPI(str(id_instance), token, host=url, media=url)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.session.close()
    # the SDK adds a stderr handler to one shared logger for every client it constructs
    for handler in list(sdk_logger.handlers):
        if handler not in handlers_before:
            sdk_logger.removeHandler(handler)


@pytest.fixture
def instance(make_instance: Callable[..., Instance]) -> Instance:
    """A fresh authorized sandbox instance with the CONTACTS address book."""
    return make_instance()


@pytest.fixture
def api(instance: Instance, server: ServerProcess, make_client: Callable[..., Any]) -> Any:
    """An SDK client of ``instance``."""
    assert instance.api_url == server.url
    return make_client(instance.id, instance.token, server.url)


@pytest.fixture
def bare_instance(make_instance: Callable[..., Instance]) -> Instance:
    """A fresh authorized instance with an empty address book (one CLI call less)."""
    return make_instance(contacts=None)


@pytest.fixture
def bare_api(bare_instance: Instance, server: ServerProcess, make_client: Callable[..., Any]) -> Any:
    return make_client(bare_instance.id, bare_instance.token, server.url)


@pytest.fixture(scope="module")
def shared_instance(make_instance: Callable[..., Instance]) -> Instance:
    """One authorized instance for the tests of a module that change nothing but their own statuses."""
    return make_instance()


@pytest.fixture(scope="module")
def shared_api(shared_instance: Instance, server: ServerProcess, make_client: Callable[..., Any]) -> Any:
    return make_client(shared_instance.id, shared_instance.token, server.url)
