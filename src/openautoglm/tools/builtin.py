"""The tools every installation has, offline: what a first run needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..errors import ConfigError
from ..models.base import ChatModel
from .base import Tool
from .llm import llm_tools

# The groups `tools:` in autoglm.yaml chooses from (a tool's group is its name's first part); "builtin" means all.
BUILTIN_GROUPS = ("llm", "knowledge", "math", "measure", "finance", "time", "sales", "sql", "weather", "web", "files")
ALL_GROUPS = frozenset({"builtin", "all"})


def builtin_tools(model: ChatModel, settings: Settings, knowledge: Callable[[], Any] | None = None) -> list[Tool]:
    """The built-in tools the settings enable, then the ones configured by name (SQL databases, OpenAPI
    documents): naming those in the configuration is opting in. ``knowledge`` opens the app's knowledge base on
    first use (default: one opened from ``settings``)."""
    tools: list[Tool] = []
    tools += llm_tools(model)
    tools += _memory_tools(model, settings, knowledge)  # knowledge.search, knowledge.answer
    tools += _data_tools(settings)  # math.calculate, measure.convert, finance.interest, time.*, sales.*, sql.query
    tools += _net_tools(settings)  # weather.forecast, web.fetch, files.read
    return enabled(tools, settings.tools) + _configured_tools(settings)  # sql.<db>.*, <api>.<operationId>


def enabled(tools: list[Tool], groups: list[str]) -> list[Tool]:
    """The tools of the chosen groups; ``llm`` always, since every plan can fall back to the model."""
    wanted = set(groups)
    if wanted & ALL_GROUPS:
        return tools
    if unknown := wanted - set(BUILTIN_GROUPS):
        raise ConfigError(f"tools: unknown group {', '.join(sorted(unknown))}; choose from "
                          f"{', '.join(BUILTIN_GROUPS)}, or 'builtin' for all of them")
    keep = wanted | {"llm"}
    return [t for t in tools if t.name.split(".", 1)[0] in keep]


def _configured_tools(settings: Settings) -> list[Tool]:
    from .netguard import NetGuard
    from .openapi import openapi_tools
    from .sql import sql_tools

    tools: list[Tool] = []
    for db in settings.sql_databases:
        tools += sql_tools(db.name, db.url, allow_writes=db.allow_writes, max_rows=db.max_rows,
                           timeout_s=db.timeout_s, allow_superuser=db.allow_superuser, description=db.description)
    if settings.openapi:
        guard = NetGuard.from_settings(settings)
        for api in settings.openapi:
            tools += openapi_tools(api, guard)
    return tools


def _memory_tools(model: ChatModel, settings: Settings, knowledge: Callable[[], Any] | None) -> list[Tool]:
    from ..memory.kb.tools import LazyKnowledgeBase, knowledge_tools

    if knowledge is None:
        from ..memory.kb import KnowledgeBase

        knowledge = LazyKnowledgeBase(lambda: KnowledgeBase.from_settings(settings))
    return knowledge_tools(knowledge, model, settings.knowledge.answer)


def _net_tools(settings: Settings) -> list[Tool]:
    from .files import FilesReadTool
    from .netguard import NetGuard
    from .weather import WeatherTool
    from .web import WebFetchTool

    guard = NetGuard.from_settings(settings)
    tools: list[Tool] = [WeatherTool(guard, settings.weather_geocoding_url, settings.weather_forecast_url),
                         WebFetchTool(guard)]
    if settings.files_root is not None:
        tools.append(FilesReadTool(settings.files_root))
    return tools


def _data_tools(settings: Settings) -> list[Tool]:
    from ..data.sales import SalesDatabase, default_path
    from .calculator import CalculatorTool
    from .finance import finance_tools
    from .sales import sales_tools
    from .timetools import system_clock, time_tools, zone
    from .units import units_tools

    tools: list[Tool] = [CalculatorTool(), *units_tools(settings.currency_rates), *finance_tools(),
                         *time_tools(settings.timezone)]
    tz_name = settings.timezone
    tools += sales_tools(SalesDatabase(default_path(settings.data_dir)), lambda: system_clock(zone(tz_name)).date())
    return tools
