"""classifier imports nothing of the app, and no module of it imports (even lazily, inside a
function or under TYPE_CHECKING) a module that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

from duban.settings import REPO_ROOT

PACKAGE = REPO_ROOT / "classifier"
APP = ("duban", "bots", "desk", "reports", "routing", "intake", "ledger", "web", "tasks")


def imported(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file (top level or nested)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def graph() -> dict[str, set[str]]:
    modules = {f"classifier.{p.stem}": p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return {name: imported(path) & set(modules) for name, path in modules.items()}


def test_classifier_imports_nothing_of_the_app() -> None:
    for path in PACKAGE.glob("*.py"):
        app = sorted(n for n in imported(path) if n.split(".")[0] in APP)
        assert not app, f"{path.name} imports {app}"


def test_no_import_cycle_inside_classifier() -> None:
    edges = graph()
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        for nxt in sorted(edges[node]):
            if nxt in trail:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif len(trail) < len(edges):
                visit(nxt, [*trail, nxt])

    for start in sorted(edges):
        visit(start, [start])
    assert not cycles, cycles
    assert "classifier.predict" not in edges["classifier.registry"]
