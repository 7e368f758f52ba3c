"""Shared fixtures. Every test gets its own AUTOGLM_HOME, so no test touches the user's data or another test's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "autoglm-home"
    home.mkdir()
    monkeypatch.setenv("AUTOGLM_HOME", str(home))
    for name in ("AUTOGLM_MODEL_PROVIDER", "AUTOGLM_DATABASE_URL", "AUTOGLM_PLANNER"):
        monkeypatch.delenv(name, raising=False)
    yield home
