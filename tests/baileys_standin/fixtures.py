"""The pytest fixtures every Baileys test shares: the engine's install on this machine, Node, and a stand-in
per test module (``standin_for``). A module imports ``baileys_dir`` and ``node`` for pytest to find, and names
its stand-in ``standin = standin_for(SEED)``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from statusgate.engines.baileys import install
from statusgate.settings import Settings
from tests.baileys_standin import driver


@pytest.fixture(scope="module")
def baileys_dir() -> Path:
    engines_dir = Settings().effective_engines_dir
    not_ready = install.not_ready_message(engines_dir)
    if not_ready is not None:
        pytest.skip(f"{not_ready} (make test does)")
    missing = driver.missing_tools()
    if missing is not None:
        pytest.skip(missing)
    return install.install_path(engines_dir)


@pytest.fixture(scope="module")
def node() -> Path:
    try:
        return install.NodeRuntime.from_wheel().node
    except install.InstallError as exc:
        pytest.skip(str(exc))


def standin_for(seed: int, setup: Callable[[driver.StandIn], None] | None = None) -> Any:
    """A module-scoped fixture: a stand-in of ``seed``'s keys (``setup`` run on it first, e.g. to register
    users), checked at the end to have known the answer to every iq Baileys asked."""

    @pytest.fixture(scope="module")
    def standin(
        baileys_dir: Path, node: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[driver.StandIn]:
        with driver.StandIn(node, baileys_dir, seed, tmp_path_factory.mktemp("standin-home")) as server:
            assert server.url.startswith("ws://127.0.0.1:")
            if setup is not None:
                setup(server)
            yield server
            # whatever Baileys asked in these tests, the stand-in knew the answer
            assert server.unanswered_iqs() == []

    return standin
