"""The baileys engine's Node packages: ``make test`` installs them (``statusgate engines install baileys``,
from the pinned lockfile); here they are checked offline, and the installer's bookkeeping (ready, stale,
missing) and its command line are exercised without a registry."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from statusgate.engines.baileys import install
from statusgate.settings import Settings
from tests.integration.test_fuzz import namespace_command
from tests.support import base_env, cli

LOCKED = json.loads((install.CHILD_DIR / "package-lock.json").read_text())


def test_this_machine_has_this_releases_packages() -> None:
    engines_dir = Settings().effective_engines_dir
    assert install.state(engines_dir) is install.InstallState.READY, install.not_ready_message(engines_dir)
    where = install.install_path(engines_dir)
    modules = where / "node_modules"
    baileys = json.loads((modules / "baileys" / "package.json").read_text())
    assert baileys["version"] == "7.0.0-rc14" == LOCKED["packages"]["node_modules/baileys"]["version"]
    # the peer dependency with LGPL binaries is left out (--omit=peer): the engine gives Baileys its thumbnails
    assert LOCKED["packages"]["node_modules/sharp"]["peer"] is True
    assert not (modules / "sharp").exists()
    # every locked package that is not a peer's is there, at its locked version
    for path, locked in LOCKED["packages"].items():
        if path and not locked.get("peer"):
            assert json.loads((where / path / "package.json").read_text())["version"] == locked["version"], (
                path
            )
    # Baileys loads with the Node that came from PyPI, with no network at all
    node = install.NodeRuntime.from_wheel().node
    script = "import('baileys').then(m => console.log(JSON.stringify(Object.keys(m))))"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(where)}
    loaded = subprocess.run(
        [*namespace_command(), str(node), "-e", script],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    exports = set(json.loads(loaded.stdout))
    assert {"makeWASocket", "Browsers", "DisconnectReason", "proto"} <= exports


def test_missing_stale_and_ready(tmp_path: Path) -> None:
    assert install.state(tmp_path) is install.InstallState.MISSING
    assert install.not_ready_message(tmp_path) == (
        "the baileys engine is not installed on this machine: run `statusgate engines install baileys`"
    )
    made = install.install_path(tmp_path)
    made.mkdir()
    (made / install.MARKER).write_text("0" * 64 + "\n")  # what another release's package files hash to
    assert install.state(tmp_path) is install.InstallState.STALE
    assert "installed by another release of statusgate" in (install.not_ready_message(tmp_path) or "")
    (made / install.MARKER).write_text(install.package_hash() + "\n")
    assert install.state(tmp_path) is install.InstallState.READY
    assert install.not_ready_message(tmp_path) is None


def test_the_hash_covers_both_package_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "child"
    copy.mkdir()
    for name in install.PACKAGE_FILES:
        (copy / name).write_bytes((install.CHILD_DIR / name).read_bytes())
    before = install.package_hash()
    monkeypatch.setattr(install, "CHILD_DIR", copy)
    assert install.package_hash() == before
    for name in install.PACKAGE_FILES:
        original = (copy / name).read_bytes()
        (copy / name).write_bytes(original + b"\n")
        assert install.package_hash() != before, name
        (copy / name).write_bytes(original)


def test_engines_commands(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data")
    engines_dir = tmp_path / "engines"
    found = json.loads(cli(env, "engines", "status", "--json", "--engines-dir", str(engines_dir)).stdout)
    assert found == {"baileys": {"state": "missing", "path": str(engines_dir / "baileys")}}
    # nothing is fetched for an install that cannot be made: one line, exit 1
    blocked = tmp_path / "file"
    blocked.write_text("")
    failed = cli(env, "engines", "install", "baileys", "--engines-dir", str(blocked / "engines"), check=False)
    assert failed.returncode == 1 and failed.stderr.startswith("statusgate: cannot install into "), (
        failed.stderr
    )
    assert len(failed.stderr.strip().splitlines()) == 1
    unknown = cli(env, "engines", "install", "whatsapp", check=False)
    assert unknown.returncode == 2
