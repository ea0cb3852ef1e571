"""Every ``statusgate`` command waits for ``import statusgate.cli`` before it starts: the media pipeline (PyAV,
Pillow, pyvips), httpx and the web stack stay out of it, and out of the commands that have no use for them.

Checked on the modules a fresh interpreter holds afterwards, not on a time: a stray top-level import shows
here whatever the machine's speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: what the media pipeline and the server import: no command that neither fetches nor converts needs them
MEDIA_AND_WEB = ("av", "PIL", "pyvips", "pillow_heif", "httpx", "starlette", "segno")
#: what migrates the database: a command finds a database at the newest revision without it
MIGRATIONS = ("alembic",)

REPORT = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"


def loaded_after(code: str, tmp_path: Path) -> set[str]:
    """The top-level packages a fresh interpreter has imported once ``code`` has run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGATE_")}
    env["STATUSGATE_DATA_DIR"] = str(tmp_path / "data")
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\n{REPORT}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
        cwd=tmp_path,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_the_parser_imports_neither_the_storage_nor_the_media_pipeline(tmp_path: Path) -> None:
    code = "from statusgate.cli import build_parser\nbuild_parser()"
    assert loaded_after(code, tmp_path) & {"sqlalchemy", *MIGRATIONS, *MEDIA_AND_WEB} == set()


def test_a_storage_command_imports_no_media_pipeline(tmp_path: Path) -> None:
    creating = "from statusgate.cli import main\nmain(['instance', 'create', '--authorized', '--json'])"
    loaded = loaded_after(creating, tmp_path)
    assert {"sqlalchemy", *MIGRATIONS} <= loaded  # a new data dir: the database was made and migrated
    assert loaded & set(MEDIA_AND_WEB) == set()

    listing = "from statusgate.cli import main\nmain(['instance', 'list', '--json'])"
    loaded = loaded_after(listing, tmp_path)
    assert "sqlalchemy" in loaded
    assert loaded & {*MIGRATIONS, *MEDIA_AND_WEB} == set()
