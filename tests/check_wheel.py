"""Check a built wheel holds what an install needs (run by ``make test``): ``python tests/check_wheel.py WHEEL``.

The license, the type marker, the Alembic migrations (store/migrate.py finds them next to itself: env.py, the
script template and every revision), Swagger UI's files, and no file the source tree lacks.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "statusgate"


def problems(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
        meta_text = archive.read(metadata).decode() if metadata else ""
    found: list[str] = []
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        found.append("LICENSE is missing (expected under .dist-info/licenses/)")
    if "License-Expression: Apache-2.0" not in meta_text:
        found.append("METADATA lacks 'License-Expression: Apache-2.0'")
    required = ["statusgate/py.typed", "statusgate/store/migrations/script.py.mako"]
    # /docs serves these from the package
    swagger_ui = (
        "index.html",
        "initializer.js",
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "LICENSE",
        "NOTICE",
    )
    required += [f"statusgate/api/swagger_ui/{name}" for name in swagger_ui]
    # `statusgate engines install baileys` installs from these
    required += [f"statusgate/engines/baileys/child/{name}" for name in ("package.json", "package-lock.json")]
    # the child's own code runs from the package (its Node packages from the install)
    child = sorted((PACKAGE / "engines" / "baileys" / "child").glob("*.mjs"))
    required += [str(p.relative_to(PACKAGE.parent)) for p in child]
    migrations = sorted((PACKAGE / "store" / "migrations").rglob("*.py"))
    required += [str(p.relative_to(PACKAGE.parent)) for p in migrations]
    found += [f"{name} is missing" for name in required if name not in names]
    if not any(name.startswith("statusgate/store/migrations/versions/") for name in required):
        found.append("the source tree has no migration revisions (wrong checkout?)")
    sources = {str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*") if p.is_file()}
    stale = sorted(n for n in names if n.startswith("statusgate/") and n not in sources)
    found += [f"{name} is in the wheel but not in src/ (a stale build?)" for name in stale]
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: check_wheel.py WHEEL", file=sys.stderr)
        return 2
    wheel = Path(argv[0])
    found = problems(wheel)
    for problem in found:
        print(f"{wheel.name}: {problem}", file=sys.stderr)
    if not found:
        print(f"{wheel.name}: LICENSE, py.typed, the migrations and Swagger UI are in the wheel")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
