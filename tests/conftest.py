"""Shared fixtures and the test tiers.

Every test gets its own AUTOGLM_HOME, so no test touches the user's data or another test's. The embedded model is
loaded once per session (``embedded_model``); where PostgreSQL and Redis are is in ``service_urls.py``. Tests that
need a service or a heavy part carry its marker, put on here from what the test uses, so ``scripts/test.sh --fast``
can leave those tiers out:

- ``postgres``: the PostgreSQL at 127.0.0.1:5432 (parametrised backends named postgres/postgresql, or a module
  that is only about it)
- ``redis``: the Redis at 127.0.0.1:6379
- ``chromium``: headless Chromium (the web console)
- ``model``: the real embedded model (explicit marks, and the ``embedded_model`` fixture), or e5 run in numpy
- ``process``: starts a separate process: ``autoglm`` or a gateway (the CLI, crash recovery, TLS), an MCP server,
  a Python importing the package afresh
- ``fuzz``: generated inputs by the hundred (schemathesis, hypothesis) against a gateway
- ``ray``: a real local Ray cluster (``ray start``, two nodes on loopback) running steps
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_MODULE_TIERS = {
    "test_tools_sql_postgres": "postgres",
    "test_console": "chromium",
    "test_support_console": "chromium",
    "test_cli": "process",
    "test_durable": "process",
    "test_durable_cli": "process",
    "test_durable_outcomes": "process",
    "test_durable_replicas": "process",
    "test_replicas": "process",
    "test_gateway_tls": "process",
    "test_gateway_cli": "process",
    "test_support_cli": "process",
    "test_mcp_server": "process",
    "test_mcp_client": "process",
    "test_packaging": "process",
    "test_e5_static": "model",  # e5's forward in numpy: tens of CPU seconds a test
    "test_gateway_schemathesis": "fuzz",
    "test_ray_executor": "ray",
}


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "autoglm-home"
    home.mkdir()
    monkeypatch.setenv("AUTOGLM_HOME", str(home))
    for name in ("AUTOGLM_MODEL_PROVIDER", "AUTOGLM_DATABASE_URL", "AUTOGLM_PLANNER"):
        monkeypatch.delenv(name, raising=False)
    yield home


@pytest.fixture(scope="session")
def embedded_model() -> Iterator[Any]:
    """SmolLM2-135M through llama.cpp, loaded once for every test that runs the real model."""
    from openautoglm.models.embedded import EmbeddedModel

    model = EmbeddedModel(n_ctx=2048)
    yield model
    asyncio.run(model.aclose())


def _tiers(item: pytest.Item) -> set[str]:
    tiers = set()
    module = item.module.__name__ if getattr(item, "module", None) else ""
    if module in _MODULE_TIERS:
        tiers.add(_MODULE_TIERS[module])
    callspec = getattr(item, "callspec", None)
    words = " ".join(str(v) for v in callspec.params.values()).lower() if callspec else ""
    words += " " + item.name.lower()
    if "postgres" in words:
        tiers.add("postgres")
    if "redis" in words:
        tiers.add("redis")
    if "_cli_" in item.name or item.name.startswith("test_cli"):
        tiers.add("process")
    if "embedded_model" in getattr(item, "fixturenames", ()):
        tiers.add("model")
    return tiers


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for tier in _tiers(item):
            item.add_marker(getattr(pytest.mark, tier))
