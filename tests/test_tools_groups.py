"""`tools:` in autoglm.yaml chooses the built-in tool groups; configured sources are always in."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from openautoglm import AutoGLM, ScriptedModel, Settings
from openautoglm.config import SQLDatabaseConfig
from openautoglm.errors import ConfigError


def names(settings: Settings) -> set[str]:
    return set(AutoGLM(settings=settings, model=ScriptedModel(["x"])).tools.names())


def test_builtin_means_every_group() -> None:
    every = names(Settings())
    for tool in ("llm.generate", "math.calculate", "time.resolve", "sales.top_products", "sql.query",
                 "weather.forecast", "web.fetch", "knowledge.search"):
        assert tool in every


def test_a_list_of_groups_keeps_only_those_and_the_model(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"

    sqlite3.connect(db).execute("CREATE TABLE items (id INTEGER)").connection.close()
    chosen = names(Settings(tools=["weather", "math"],
                            sql_databases=[SQLDatabaseConfig(name="shop", url=f"sqlite:///{db}")]))
    assert {"weather.forecast", "math.calculate", "llm.generate", "llm.extract"} <= chosen
    assert not {"sales.top_products", "web.fetch", "knowledge.search", "sql.query"} & chosen
    assert "sql.shop.query" in chosen  # configured by name: opted in


def test_an_unknown_group_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"unknown group wether.*weather"):
        names(Settings(tools=["wether"]))
