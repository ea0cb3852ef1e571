"""The package's shape: no import cycle, and every import points down the layers.

    composition (wiring, cli …) → api | worker → services → store | queue | media | engines | notify → domain

with a few leaf modules (settings, errors, ids, redaction, logs, metrics) that any layer may use. Every import is
counted, also those inside functions and under TYPE_CHECKING: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "statusgate"

#: the leaf modules: they import nothing of the package but each other
LEAVES = {
    "settings",
    "settings_engines",
    "settings_media",
    "settings_access",
    "errors",
    "ids",
    "redaction",
    "logs",
    "metrics",
}
LAYER = {
    "domain": 1,
    "store": 2,
    "queue": 2,
    "media": 2,
    "engines": 2,
    "notify": 2,
    "services": 3,
    "api": 4,
    "worker": 4,
}
#: everything else at the top (wiring, cli, serving, __main__ …) is composition
COMPOSITION = 5
SIBLINGS_ALLOWED = {0, 2, COMPOSITION}
#: the API answers from services: it never runs SQL or talks to an engine itself
API_NEVER = {"store", "engines"}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(["statusgate", *parts])] = path
    return found


def imports(path: Path, name: str, known: set[str]) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*kept, base])
            # "from statusgate.store import outbox" imports the module statusgate.store.outbox
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in known and target != name:
                yield target


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: set(imports(path, name, known)) for name, path in found.items()}


def top(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer(name: str) -> int:
    if top(name) in LEAVES:
        return 0
    return LAYER.get(top(name), COMPOSITION)


def test_no_import_cycle() -> None:
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert cycles == [], f"import cycles: {cycles}"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for name, targets in sorted(graph().items()):
        for target in sorted(targets):
            same_package = top(name) == top(target) and layer(name) > 0
            if same_package:
                continue
            # siblings may use each other in the layers of leaves, infrastructure and composition (the
            # cycle test keeps them apart); api and worker never do
            siblings_allowed = layer(name) == layer(target) and layer(name) in SIBLINGS_ALLOWED
            if layer(target) >= layer(name) and not siblings_allowed:
                wrong.append(f"{name} → {target}")
            if top(name) == "api" and top(target) in API_NEVER:
                wrong.append(f"{name} → {target} (the API layer never touches SQL or a live engine)")
    assert wrong == [], "imports against the layers:\n" + "\n".join(wrong)


def test_the_layer_table_knows_every_package() -> None:
    tops = {top(name) for name in modules()} - {""}
    unknown = tops - set(LAYER) - LEAVES
    # what is left is composition: entry points that may know everything
    assert unknown <= {
        "wiring",
        "cli",
        "cli_common",
        "cli_engines",
        "cli_errors",
        "cli_sandbox",
        "cli_storage",
        "serving",
        "sqlite_file",
        "settings_doc",
        "__main__",
    }, unknown
