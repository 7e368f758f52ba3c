"""The sample sales database and its tools: deterministic data, typed queries, read-only SQL, time tools."""

from __future__ import annotations

import hashlib
import sqlite3
from collections import defaultdict
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pytest

from openautoglm import AutoGLM, ScriptedModel
from openautoglm.data.sales import PRODUCTS, REGIONS, SalesDatabase, daily_sale
from openautoglm.errors import ToolArgumentError, ToolPermissionError
from openautoglm.tools import Tool, ToolContext, ToolRegistry
from openautoglm.tools.sales import sales_tools
from openautoglm.tools.timetools import time_tools

TODAY = date(2026, 11, 22)  # a Sunday


def checksum(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT * FROM sales ORDER BY date, product_id, region_id").fetchall()
        products = conn.execute("SELECT * FROM products ORDER BY id").fetchall()
    conn.close()
    return hashlib.sha256(repr((rows, products)).encode()).hexdigest()


@pytest.fixture
def registry(tmp_path: Path) -> ToolRegistry:
    return ToolRegistry(sales_tools(SalesDatabase(tmp_path / "sales.db", window_days=120), lambda: TODAY))


async def call(registry: ToolRegistry, name: str, **args: Any) -> Any:
    tool: Tool = registry.get(name)
    return await tool(tool.validate(args), ToolContext())


def expected_units(first: date, last: date, region_id: int | None = None) -> dict[str, int]:
    """The truth, straight from the generating function, without SQL."""
    totals: dict[str, int] = defaultdict(int)
    day = first
    while day <= last:
        for p in PRODUCTS:
            for r in REGIONS:
                if region_id in (None, r.id):
                    totals[p.name] += daily_sale(day, p, r)[0]
        day += timedelta(days=1)
    return totals


def test_generation_is_deterministic_and_extends_stably(tmp_path: Path) -> None:
    a = SalesDatabase(tmp_path / "a.db", window_days=30)
    a.ensure(TODAY - timedelta(days=10))
    a.ensure(TODAY)  # a later day: extended, not regenerated
    b = SalesDatabase(tmp_path / "b.db", window_days=30)
    b.ensure(TODAY)
    with sqlite3.connect(a.path) as ca, sqlite3.connect(b.path) as cb:
        query = "SELECT * FROM sales WHERE date >= ? ORDER BY date, product_id, region_id"
        since = (TODAY - timedelta(days=29)).isoformat()
        rows_a, rows_b = ca.execute(query, (since,)).fetchall(), cb.execute(query, (since,)).fetchall()
        assert rows_a == rows_b and len(rows_a) == 30 * len(PRODUCTS) * len(REGIONS)
        assert ca.execute("SELECT value FROM meta WHERE key='last_date'").fetchone()[0] == TODAY.isoformat()
        assert ca.execute("SELECT min(date) FROM sales").fetchone()[0] == (TODAY - timedelta(days=39)).isoformat()
        names = {r[0] for r in ca.execute("SELECT DISTINCT product FROM sales_detail")}
        assert names == {p.name for p in PRODUCTS}
    ca.close()
    cb.close()
    assert a.coverage() == (TODAY - timedelta(days=39), TODAY)


async def test_top_products_of_last_week(registry: ToolRegistry) -> None:
    out = await call(registry, "sales.top_products", start="2026-11-09", end="2026-11-15", limit=3)
    truth = sorted(expected_units(date(2026, 11, 9), date(2026, 11, 15)).items(), key=lambda kv: -kv[1])
    assert [p["product"] for p in out["products"]] == [name for name, _ in truth[:3]]
    assert [p["units"] for p in out["products"]] == [units for _, units in truth[:3]]
    assert [p["rank"] for p in out["products"]] == [1, 2, 3]
    assert set(out["products"][0]) == {"rank", "product", "product_en", "category", "units", "revenue"}
    assert out["start"] == "2026-11-09" and out["end"] == "2026-11-15" and out["by"] == "units"
    assert out["total_units"] == sum(u for _, u in truth)
    # Words work as well as dates: 上周 is the same week.
    words = await call(registry, "sales.top_products", start="上周", limit=3)
    assert words == out
    text = registry.get("sales.top_products").summarize(out)
    assert out["products"][0]["product"] in text and "销量" in text and out["products"][0]["product_en"] in text


async def test_top_products_by_revenue_and_region(registry: ToolRegistry) -> None:
    by_revenue = await call(registry, "sales.top_products", start="本月", by="revenue", limit=12)
    revenues = [p["revenue"] for p in by_revenue["products"]]
    assert revenues == sorted(revenues, reverse=True) and len(revenues) == 12
    assert by_revenue["end"] == "2026-11-30"
    east = await call(registry, "sales.top_products", start="上周", region="East China", limit=12)
    assert east["region"] == "华东"
    truth = expected_units(date(2026, 11, 9), date(2026, 11, 15), region_id=1)
    assert {p["product"]: p["units"] for p in east["products"]} == truth
    assert (await call(registry, "sales.top_products", start="上周", region="华东", limit=12)) == east


async def test_summary_groupings(registry: ToolRegistry) -> None:
    daily = await call(registry, "sales.summary", start="2026-11-01", end="2026-11-14", group_by="day")
    assert [r["key"] for r in daily["rows"]] == [(date(2026, 11, 1) + timedelta(days=i)).isoformat()
                                                 for i in range(14)]
    assert daily["total_units"] == sum(expected_units(date(2026, 11, 1), date(2026, 11, 14)).values())
    for group in ("week", "month", "product", "category", "region"):
        out = await call(registry, "sales.summary", start="2026-11-01", end="2026-11-14", group_by=group)
        assert out["total_units"] == daily["total_units"]
        assert sum(r["units"] for r in out["rows"]) == daily["total_units"]
        assert sum(r["revenue_share"] for r in out["rows"]) == pytest.approx(100, abs=0.1)
    weeks = await call(registry, "sales.summary", start="2026-11-01", end="2026-11-14", group_by="week")
    assert [r["key"] for r in weeks["rows"]] == ["2026-W44", "2026-W45", "2026-W46"]
    regions = await call(registry, "sales.summary", start="上周", group_by="region")
    assert regions["rows"][0]["key"] == "华东" and regions["rows"][0]["key_en"] == "East China"
    text = registry.get("sales.summary").summarize(regions)
    assert "华东 (East China)" in text and "总销量" in text


@pytest.mark.parametrize(("args", "message"), [
    ({"start": "2026-11-09", "end": "2026-11-01"}, "before start"),
    ({"start": "someday"}, "cannot read start"),
    ({"start": "2030-01-01", "end": "2030-01-31"}, "no sales data between"),
    ({"start": "上周", "region": "Atlantis"}, "unknown region 'Atlantis'; the regions are 华东"),
    ({"start": "上周", "limit": 0}, "limit must be between 1 and 50"),
])
async def test_top_products_refuses_clearly(registry: ToolRegistry, args: dict[str, Any], message: str) -> None:
    with pytest.raises(ToolArgumentError, match=message):
        await call(registry, "sales.top_products", **args)


async def test_sql_query_reads_and_refuses_writes(registry: ToolRegistry, tmp_path: Path) -> None:
    query = registry.get("sql.query")
    assert "sales_detail" in query.description and "products(" in query.description
    out = await call(registry, "sql.query", sql="SELECT product, SUM(units) AS units FROM sales_detail "
                     "WHERE date BETWEEN '2026-11-09' AND '2026-11-15' GROUP BY product ORDER BY units DESC")
    assert out["columns"] == ["product", "units"] and out["row_count"] == 12 and not out["truncated"]
    top = await call(registry, "sales.top_products", start="上周", limit=1)
    assert out["rows"][0] == {"product": top["products"][0]["product"], "units": top["products"][0]["units"]}
    few = await call(registry, "sql.query", sql="SELECT * FROM sales", max_rows=5)
    assert few["row_count"] == 5 and few["truncated"]
    before = checksum(tmp_path / "sales.db")
    for attack in ("DELETE FROM sales", "UPDATE sales SET units = 0", "DROP TABLE sales",
                   "INSERT INTO products VALUES (99, 'x', 'x', 'x', 'x', 'x', 1)", "PRAGMA query_only=OFF",
                   f"ATTACH DATABASE '{tmp_path / 'evil.db'}' AS evil", "SELECT 1; DELETE FROM sales"):
        with pytest.raises((ToolPermissionError, ToolArgumentError)):
            await call(registry, "sql.query", sql=attack)
    assert checksum(tmp_path / "sales.db") == before
    assert not (tmp_path / "evil.db").exists()


async def test_time_tools_with_a_fixed_clock() -> None:
    seen: list[tzinfo | None] = []

    def clock(tz: tzinfo | None) -> datetime:
        seen.append(tz)
        return datetime(2026, 11, 22, 23, 30, tzinfo=tz)

    tools = ToolRegistry(time_tools("Asia/Shanghai", clock=clock))
    now = await call(tools, "time.now")
    assert now["date"] == "2026-11-22" and now["weekday"] == "Sunday" and now["weekday_zh"] == "星期日"
    assert now["timezone"] == "Asia/Shanghai" and now["datetime"].endswith("+08:00")
    assert str(seen[-1]) == "Asia/Shanghai"
    utc = await call(tools, "time.now", timezone="UTC")
    assert utc["timezone"] == "UTC" and utc["datetime"].endswith("+00:00")
    resolved = await call(tools, "time.resolve", expression="下周一")
    assert resolved | {"expression": "下周一"} == {"expression": "下周一", "start": "2026-11-23", "end": "2026-11-23",
                                                 "label": "下周一", "days": 1, "today": "2026-11-22",
                                                 "timezone": "Asia/Shanghai", "weekday": "Monday",
                                                 "weekday_zh": "星期一"}
    assert tools.get("time.resolve").summarize(resolved) == "下周一: 2026-11-23 星期一 / Monday"
    assert tools.get("time.resolve").summarize(await call(tools, "time.resolve", expression="上周")) == \
        "上周: 2026-11-09 – 2026-11-15 (7 天 / days)"
    with pytest.raises(ToolArgumentError, match="unknown time zone 'Mars/Olympus'"):
        await call(tools, "time.now", timezone="Mars/Olympus")
    with pytest.raises(ToolArgumentError, match="could not read a date"):
        await call(tools, "time.resolve", expression="at some point")


async def test_the_composite_sales_question_as_a_plan() -> None:
    """上周哪个产品卖得最好？再算一下它比第二名多卖了百分之几 — the two steps a planner makes, run for real."""
    app = AutoGLM(model=ScriptedModel(["unused"]))
    plan = {"steps": [
        {"id": "top", "uses": "sales.top_products", "with": {"start": "上周", "limit": 2}},
        {"id": "pct", "uses": "math.calculate", "with": {
            "expression": "(${top.output.products.0.units} - ${top.output.products.1.units})"
                          " / ${top.output.products.1.units} * 100"}},
    ]}
    result = await app.execute(plan)
    assert result.status == "succeeded", result.answer
    top, pct = result.steps[0].output, result.steps[1].output
    first, second = top["products"][0]["units"], top["products"][1]["units"]
    assert first >= second > 0
    assert pct["result"] == pytest.approx((first - second) / second * 100)
    # Said as the comparison it is, in the plan's language (Chinese): the two products and the percentage.
    assert f"{top['products'][0]['product']}的销量比{top['products'][1]['product']}高" in result.answer
    assert f"{pct['result']:.2f}".rstrip("0").rstrip(".") + "%" in result.answer
    await app.aclose()


def expected_by(group: str, first: date, last: date) -> dict[str, tuple[int, float]]:
    """(units, revenue) per region, category or day, straight from the generating function."""
    out: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    day = first
    while day <= last:
        for p in PRODUCTS:
            for r in REGIONS:
                units, revenue = daily_sale(day, p, r)
                key = {"region": r.name, "category": p.category, "day": day.isoformat(), "product": p.name}[group]
                out[key][0] += units
                out[key][1] += revenue
        day += timedelta(days=1)
    return {k: (int(v[0]), v[1]) for k, v in out.items()}


@pytest.mark.parametrize("group, measure, order", [
    ("region", "units", "desc"), ("day", "revenue", "desc"), ("category", "units", "asc"),
    ("product", "revenue", "desc"),
])
async def test_rank_groups_with_shares(registry: ToolRegistry, group: str, measure: str, order: str) -> None:
    out = await call(registry, "sales.rank", start="上个月", group_by=group, measure=measure, order=order, limit=50)
    truth = expected_by(group, date(2026, 10, 1), date(2026, 10, 31))
    index = 0 if measure == "units" else 1
    ranked = sorted(truth, key=lambda k: truth[k][index], reverse=order == "desc")
    assert [g["key"] for g in out["groups"]] == ranked
    total = sum(v[index] for v in truth.values())
    assert out["total"] == pytest.approx(total, abs=0.05)
    top = out["groups"][0]
    assert top["share"] == pytest.approx(round(100 * truth[top["key"]][index] / total, 2), abs=0.01)
    assert sum(g["share"] for g in out["groups"]) == pytest.approx(100, abs=0.1)
    assert out["total_units"] == sum(v[0] for v in truth.values())


async def test_rank_sentences_name_the_winner_its_figure_and_share(registry: ToolRegistry) -> None:
    tool = registry.get("sales.rank")
    regions = await call(registry, "sales.rank", start="上个月", group_by="region")
    top = regions["groups"][0]
    zh = tool.answer(regions, "zh")
    assert zh.startswith(f"2026-10-01 至 2026-10-31 销量最高的地区是{top['key']}，{top['units']:,} 件")
    assert f"{top['share']:.2f}%" in zh and f"{regions['total']:,} 件" in zh
    en = tool.answer(regions, "en")
    assert f"{top['key_en']} had the most units sold: {top['units']:,} units, {top['share']:.2f}%" in en
    days = await call(registry, "sales.rank", start="上周", group_by="day", measure="revenue", limit=1)
    best = date.fromisoformat(days["groups"][0]["key"])
    assert f"{best.month}月{best.day}日" in tool.answer(days, "zh")
    assert best.strftime("%B") + f" {best.day}" in tool.answer(days, "en")


async def test_top_products_and_summary_sentences(registry: ToolRegistry) -> None:
    top = await call(registry, "sales.top_products", start="上周", by="revenue", limit=2)
    first = top["products"][0]
    sentence = registry.get("sales.top_products").answer(top, "en")
    assert first["product_en"] in sentence and f"{first['units']:,} units" in sentence
    assert first["product"] in registry.get("sales.top_products").answer(top, "zh")
    ytd = await call(registry, "sales.summary", start="今年到目前为止", group_by="month")
    assert ytd["start"] == "2026-01-01" and ytd["end"] == TODAY.isoformat()
    assert f"共卖出 {ytd['total_units']:,} 件" in registry.get("sales.summary").answer(ytd, "zh")
    days = (TODAY - date(2026, 1, 1)).days + 1
    assert ytd["days"] == days and ytd["units_per_day"] == pytest.approx(ytd["total_units"] / days, abs=0.01)
    assert f"日均 {ytd['units_per_day']:,} 件" in registry.get("sales.summary").answer(ytd, "zh")
