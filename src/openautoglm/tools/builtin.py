"""The tools every installation has, offline: what a first run needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..models.base import ChatModel
from .base import Tool
from .llm import llm_tools


def builtin_tools(model: ChatModel, settings: Settings, knowledge: Callable[[], Any] | None = None) -> list[Tool]:
    """``knowledge`` opens the app's knowledge base on first use (default: one opened from ``settings``)."""
    tools: list[Tool] = []
    tools += llm_tools(model)
    tools += _memory_tools(model, settings, knowledge)  # knowledge.search, knowledge.answer
    tools += _data_tools(settings)  # math.calculate, time.*, sales.*, sql.query, sql.<db>.*
    tools += _net_tools(settings)  # weather.forecast, web.fetch, files.read, <api>.<operationId>
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
    from .openapi import openapi_tools
    from .weather import WeatherTool
    from .web import WebFetchTool

    guard = NetGuard.from_settings(settings)
    tools: list[Tool] = [WeatherTool(guard, settings.weather_geocoding_url, settings.weather_forecast_url),
                         WebFetchTool(guard)]
    if settings.files_root is not None:
        tools.append(FilesReadTool(settings.files_root))
    for api in settings.openapi:
        tools += openapi_tools(api, guard)
    return tools


def _data_tools(settings: Settings) -> list[Tool]:
    from ..data.sales import SalesDatabase, default_path
    from .calculator import CalculatorTool
    from .sales import sales_tools
    from .sql import sql_tools
    from .timetools import system_clock, time_tools, zone

    tools: list[Tool] = [CalculatorTool(), *time_tools(settings.timezone)]
    tz_name = settings.timezone
    tools += sales_tools(SalesDatabase(default_path(settings.data_dir)), lambda: system_clock(zone(tz_name)).date())
    for db in settings.sql_databases:
        tools += sql_tools(db.name, db.url, allow_writes=db.allow_writes, max_rows=db.max_rows,
                           timeout_s=db.timeout_s, allow_superuser=db.allow_superuser, description=db.description)
    return tools
