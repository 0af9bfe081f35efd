"""The import graph: no cycles between modules, and the layers import one way.

Every ``.py`` file of the project's packages is parsed with ``ast`` (nothing is imported).
Every import counts — at module level and inside functions, since a lazy import is still
a dependency — except those under ``if TYPE_CHECKING:``, which never run. ``from pkg
import name`` counts as an import of ``pkg.name`` when that is a module. Importing
``a.b.c`` does not count as importing the package ``a.b`` (its ``__init__``), so a package
that re-exports its submodules is not a cycle with each of them.
"""

from __future__ import annotations

import ast
import tomllib
from functools import cache
from pathlib import Path

from duban.settings import REPO_ROOT


def _packages() -> tuple[str, ...]:
    """The distribution's top-level packages, as pyproject.toml lists them for setuptools."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return tuple(pattern.rstrip("*") for pattern in include)


PACKAGES = _packages()

# Layer rule: what each lower package may import of the project (itself always allowed).
ALLOWED = {
    "ledger": set(),
    "classifier": set(),
    "intake": {"ledger", "classifier.normalise"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        root = REPO_ROOT / package
        if not (root / "__init__.py").exists():
            continue
        for path in sorted(root.rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _is_package(module: str) -> bool:
    return _files()[module].name == "__init__.py"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes_that_run(tree: ast.AST) -> list[ast.AST]:
    """Every node except the bodies of ``if TYPE_CHECKING:`` (their ``else`` runs)."""
    found: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        found.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def _project(name: str) -> str | None:
    """The project module ``name`` stands for (its nearest existing module), or None."""
    files = _files()
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in files:
            return candidate
        parts.pop()
    return None


def _imports_of(module: str) -> set[str]:
    path = _files()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if _is_package(module) else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in _nodes_that_run(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (found := _project(alias.name)) is not None:
                    targets.add(found)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found = submodule if submodule in _files() else _project(base)
                if found is not None:
                    targets.add(found)
    targets.discard(module)
    return targets


@cache
def graph() -> dict[str, frozenset[str]]:
    return {module: frozenset(_imports_of(module)) for module in _files()}


def _components(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _cycle_in(component: list[str], edges: dict[str, frozenset[str]]) -> list[str]:
    """One concrete cycle inside a component, to name in the failure."""
    members = set(component)
    start = component[0]
    path = [start]
    seen = {start}
    node = start
    while True:
        following = sorted(edges[node] & members)
        back = [m for m in following if m == start]
        if back and len(path) > 1:
            return [*path, start]
        step = next((m for m in following if m not in seen), None)
        if step is None:
            return [*path, following[0]] if following else path
        path.append(step)
        seen.add(step)
        node = step


def test_the_graph_sees_lazy_imports_and_skips_type_checking() -> None:
    """The parser itself: a lazy import inside a function counts; TYPE_CHECKING does not."""
    edges = graph()
    assert "routing.pipeline" in edges["routing.jobs"]
    assert "routing.rules" not in edges["routing.context"]  # only under TYPE_CHECKING
    assert "ledger.db" in edges["routing.context"]


def test_no_import_cycles() -> None:
    edges = graph()
    cycles = [" -> ".join(_cycle_in(members, edges)) for members in _components(edges)]
    assert not cycles, "import cycles (a module imports one that imports it back):\n" + "\n".join(
        cycles
    )


def test_lower_layers_import_nothing_above_them() -> None:
    problems = []
    for module, targets in sorted(graph().items()):
        package = module.split(".")[0]
        if package not in ALLOWED:
            continue
        allowed = ALLOWED[package]
        for target in sorted(targets):
            if target.split(".")[0] == package:
                continue
            if not any(target == a or target.startswith(a + ".") for a in allowed):
                problems.append(f"{module} imports {target}")
    assert not problems, "layer rule broken:\n" + "\n".join(problems)


def _guards_in(path: Path) -> list[str]:
    """Lines where a project import sits under ``except ImportError`` or in ``__import__``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            caught = {ast.unparse(h.type) for h in node.handlers if h.type is not None} & {
                "ImportError",
                "ModuleNotFoundError",
                "(ImportError, ModuleNotFoundError)",
            }
            if caught and any(
                isinstance(inner, (ast.Import, ast.ImportFrom))
                and any(
                    _project(name) is not None
                    for name in (
                        [a.name for a in inner.names]
                        if isinstance(inner, ast.Import)
                        else [inner.module or ""]
                    )
                )
                for statement in node.body
                for inner in ast.walk(statement)
            ):
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} except ImportError")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
        ):
            found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} __import__")
    return found


def test_no_import_guards_around_the_project_itself() -> None:
    """Everything ships as one distribution: a missing module of ours is a bug to see."""
    found = {}
    for path in _files().values():
        if guards := _guards_in(path):
            found[str(path.relative_to(REPO_ROOT))] = guards
    guards = [guard for file in sorted(found) for guard in found[file]]
    assert not guards, "import guards around our own packages:\n" + "\n".join(guards)
