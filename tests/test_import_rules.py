"""The import rules of the package, read off the source with ``ast`` (module-level and function-level imports alike):
no circles anywhere (the planning modules, which had one, also on their own); ``plan``, ``events`` and ``errors``
import nothing of ours (``plan`` only leaves that import nothing themselves: the errors it raises, ``encodable``);
nothing imports the server or the CLI but themselves (the CLI starts the server)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import openautoglm

PACKAGE = Path(openautoglm.__file__).resolve().parent
ROOT = PACKAGE.name


def _modules(package: Path) -> dict[str, tuple[Path, bool]]:
    found: dict[str, tuple[Path, bool]] = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                yield name
        return
    here = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    for alias in node.names:
        # "from . import entities" imports a module; "from .base import Planner" a name of one.
        sub = f"{base}.{alias.name}"
        if sub in known:
            yield sub
        elif base in known:
            yield base


@cache
def import_graph(package: Path = PACKAGE) -> dict[str, frozenset[str]]:
    """Each module of the package -> the modules of the package it imports, wherever in the file."""
    modules = _modules(package)
    known = set(modules)
    graph: dict[str, frozenset[str]] = {}
    for module, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        deps = {t for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
                for t in _targets(module, is_package, node, known)}
        graph[module] = frozenset(deps - {module})
    return graph


def cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_graph_sees_module_and_function_level_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "leaf.py").write_text("import json\n")
    (package / "sub" / "__init__.py").write_text("from . import inner\n")
    (package / "sub" / "inner.py").write_text("def f():\n    from ..leaf import x\n    import pkg.sub\n")
    graph = import_graph(package)
    assert graph["pkg.sub"] == {"pkg.sub.inner"}
    assert graph["pkg.sub.inner"] == {"pkg.leaf", "pkg.sub"}  # imports inside a function count
    assert graph["pkg.leaf"] == frozenset()
    assert cycles(graph) == [["pkg.sub", "pkg.sub.inner"]]
    assert f"{ROOT}.plan" in import_graph()[f"{ROOT}.engine"]
    assert cycles({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}) == [
        ["a", "b", "c"]]


def test_no_circles_among_the_planning_modules() -> None:
    planning = f"{ROOT}.planning"
    graph = {m: frozenset(d for d in deps if within(d, planning)) for m, deps in import_graph().items()
             if within(m, planning)}
    assert cycles(graph) == []


def test_no_circles_anywhere_in_the_package() -> None:
    assert cycles(dict(import_graph())) == []


def test_the_pure_core_imports_nothing_of_ours() -> None:
    graph = import_graph()
    assert graph[f"{ROOT}.events"] == frozenset()
    assert graph[f"{ROOT}.errors"] == frozenset()
    # The plan raises the project's errors and checks text with encodable: leaves that import nothing themselves.
    assert f"{ROOT}.errors" in graph[f"{ROOT}.plan"]
    assert {m: graph[m] for m in graph[f"{ROOT}.plan"] if graph[m]} == {}


def test_nothing_imports_the_server_or_the_cli() -> None:
    allowed = {f"{ROOT}.server": (f"{ROOT}.server", f"{ROOT}.cli"), f"{ROOT}.cli": (f"{ROOT}.cli",)}
    wrong = sorted(f"{m} -> {d}" for m, deps in import_graph().items() for d in deps for entry, ok in allowed.items()
                   if within(d, entry) and not any(within(m, o) for o in ok))
    assert wrong == []
