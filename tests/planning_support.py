"""Stand-in tools for the planning tests, with the signatures the real ones have (see notes/areas.md), and
deterministic outputs so that a whole run can be checked."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from openautoglm.models.base import ChatModel
from openautoglm.models.scripted import ScriptedModel
from openautoglm.planning.base import PlanningContext
from openautoglm.tools.base import ToolRegistry, tool
from openautoglm.tools.calculator import calculate
from openautoglm.tools.llm import llm_tools
from openautoglm.tools.timetools import time_tools

NOW = datetime(2026, 11, 22, 10, 0).astimezone()  # a Sunday: 上周 is 2026-11-09 .. 2026-11-15


class ProductRow(BaseModel):
    name: str
    units: int
    revenue: float


class TopProducts(BaseModel):
    start: str
    end: str
    by: str
    products: list[ProductRow]


@tool(name="sales.top_products")
def top_products(start: str, end: str, limit: int = 5, by: Literal["units", "revenue"] = "units",
                 region: str | None = None) -> TopProducts:
    """The best-selling products of a period in the sample sales database, ranked by units sold or revenue.

    Args:
        start: first day of the period, YYYY-MM-DD
        end: last day of the period, YYYY-MM-DD
        limit: how many products to list
        by: rank by units sold or by revenue
        region: only sales in this region
    """
    rows = [ProductRow(name="智能手表", units=120, revenue=95000.0), ProductRow(name="蓝牙耳机", units=96,
            revenue=28700.0), ProductRow(name="充电宝", units=80, revenue=12000.0)]
    return TopProducts(start=start, end=end, by=by, products=rows[:limit])


@tool(name="weather.forecast")
def forecast(city: str, date: str | None = None) -> dict[str, Any]:
    """Weather forecast for a city: conditions, temperature and the chance of rain.

    Args:
        city: the city, e.g. 北京 or London
        date: the day, YYYY-MM-DD; default today
    """
    return {"city": city, "date": date, "conditions": "小雨", "high_c": 12, "low_c": 6, "rain_chance": 0.8}


def registry(model: ChatModel | None = None) -> ToolRegistry:
    model = model or ScriptedModel(["好的"])
    return ToolRegistry([*llm_tools(model), tool(calculate, name="math.calculate"), *time_tools(), top_products,
                         forecast])


def context(tools: ToolRegistry | None = None, **kw: Any) -> tuple[PlanningContext, list[tuple[str, dict[str, Any]]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    ctx = PlanningContext(tools=tools or registry(), now=NOW, emit=lambda kind, **d: events.append((str(kind), d)),
                          **kw)
    return ctx, events
