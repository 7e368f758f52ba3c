"""Reports: indicators computed in code, periods, the bundled sales reports run to HTML (charts drawn, embedded) and
PDF (the month's revenue in its text exactly as the database sums it), definitions of one's own over a configured
database, and `autoglm run` picking the report tool."""

from __future__ import annotations

import base64
import re
import sqlite3
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pypdf
import pytest

from openautoglm import AutoGLM, ScriptedModel
from openautoglm.config import Settings
from openautoglm.errors import ConfigError, NotFound, ToolArgumentError, ToolError
from openautoglm.reports.definition import IndicatorSpec, ReportLibrary, parse_definition
from openautoglm.reports.indicators import Indicator, IndicatorValue, compute_all, indicator_kinds
from openautoglm.reports.narrative import unchecked_figures
from openautoglm.reports.period import resolve
from openautoglm.reports.runner import ReportOutput
from openautoglm.reports.service import Reports

TODAY = date(2026, 11, 30)
PNG = b"\x89PNG\r\n\x1a\n"


def spec(**fields: Any) -> IndicatorSpec:
    return IndicatorSpec(**{"label": fields.get("id", "x"), **fields})


def test_indicators_are_computed_in_code_from_query_rows() -> None:
    tables = {
        "now": [{"revenue": 0.1}, {"revenue": 0.2}],  # floats that do not add up in binary
        "before": [{"revenue": 0.4}],
        "groups": [{"name": "b", "revenue": 30}, {"name": "a", "revenue": 50}, {"name": "c", "revenue": 20}],
        "days": [{"day": f"d{i}", "revenue": v} for i, v in enumerate([10, 20, 30, 40])],
    }
    done = compute_all([
        spec(id="total", kind="total", query="now", column="revenue"),
        spec(id="prev", kind="total", query="before", column="revenue"),
        spec(id="growth", kind="growth", current="total", previous="prev"),
        spec(id="shares", kind="share", query="groups", column="revenue", label_column="name"),
        spec(id="top", kind="ranking", query="groups", column="revenue", label_column="name", limit=2),
        spec(id="bottom", kind="ranking", query="groups", column="revenue", label_column="name", limit=1, order="asc"),
        spec(id="ma", kind="moving_average", query="days", column="revenue", label_column="day", window=3),
    ], tables)
    assert done["total"].value == 0.3  # decimals: not 0.30000000000000004
    assert done["growth"].value == -25.0 and done["growth"].detail["magnitude"] == 25.0
    assert [(r["label"], r["share"]) for r in done["shares"].rows] == [("a", 50.0), ("b", 30.0), ("c", 20.0)]
    assert [(r["rank"], r["label"], r["value"]) for r in done["top"].rows] == [(1, "a", 50), (2, "b", 30)]
    assert done["bottom"].rows[0]["label"] == "c"
    assert [r["value"] for r in done["ma"].rows] == [None, None, 20.0, 30.0] and done["ma"].value == 30.0


def test_an_indicator_kind_is_one_class_and_one_registration() -> None:
    @indicator_kinds.register("maximum_for_test")
    class Maximum(Indicator):
        def compute(self, spec: IndicatorSpec, tables: Any, done: Any) -> IndicatorValue:
            return IndicatorValue(spec, value=max(r[spec.param("column")] for r in tables[spec.param("query")]))

    out = compute_all([spec(id="m", kind="maximum_for_test", query="q", column="v")], {"q": [{"v": 3}, {"v": 9}]})
    assert out["m"].value == 9
    with pytest.raises(ConfigError, match="unknown report indicator 'median'"):
        compute_all([spec(id="m", kind="median")], {})
    with pytest.raises(ConfigError, match="no column 'revenue'"):
        compute_all([spec(id="t", kind="total", query="q", column="revenue")], {"q": [{"units": 1}]})


def test_periods_and_the_period_before() -> None:
    month = resolve("last_month", TODAY)
    assert (month.start, month.end, month.previous_start, month.previous_end) == (
        date(2026, 10, 1), date(2026, 10, 31), date(2026, 9, 1), date(2026, 9, 30))
    week = resolve("last_week", TODAY)  # 2026-11-30 is a Monday
    assert (week.start, week.end, week.previous_start) == (date(2026, 11, 23), date(2026, 11, 29), date(2026, 11, 16))
    assert resolve("上个月", TODAY).start == date(2026, 10, 1)
    assert resolve("2026-02", TODAY).end == date(2026, 2, 28)
    assert resolve("2026-10-05..2026-10-11", TODAY).previous_end == date(2026, 10, 4)
    with pytest.raises(ToolArgumentError, match="cannot read the period"):
        resolve("whenever", TODAY)


def test_a_narrative_figure_not_among_the_indicators_is_caught() -> None:
    done = compute_all([spec(id="total", kind="total", query="q", column="v", format="money")],
                       {"q": [{"v": 1234.5}]})
    assert unchecked_figures("总销售额为 ¥1,234.50。", done) == []
    assert unchecked_figures("总销售额为 ¥1,999.00。", done)


@pytest.fixture(scope="module")
def monthly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReportOutput, Path]]:
    home = tmp_path_factory.mktemp("reports-home")
    reports = Reports(Settings(home=home), today=lambda: TODAY)
    yield reports.run_sync("sales-monthly", "last_month", home / "out"), home / "sales.db"


def test_the_monthly_report_has_its_charts_drawn_into_the_html(monthly: tuple[ReportOutput, Path]) -> None:
    output, _ = monthly
    html = output.html_path.read_text(encoding="utf-8")
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) >= 3 and output.charts == len(images)
    for _alt, data in images:
        png = base64.b64decode(data)
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert png.startswith(PNG) and width > 300 and height > 200 and len(png) > 5_000
    kinds = set(re.findall(r'data-kind="(\w+)"', html))
    assert kinds == {"line", "bar", "pie"}
    assert "月度销售分析报告" in html and "2026-10-01" in html and "<script" not in html


def test_the_pdf_holds_the_months_revenue_as_the_database_sums_it(monthly: tuple[ReportOutput, Path]) -> None:
    output, db = monthly
    with sqlite3.connect(db) as conn:
        (revenue,) = conn.execute("SELECT ROUND(SUM(revenue), 2) FROM sales WHERE date BETWEEN ? AND ?",
                                  ("2026-10-01", "2026-10-31")).fetchone()
        (previous,) = conn.execute("SELECT ROUND(SUM(revenue), 2) FROM sales WHERE date BETWEEN ? AND ?",
                                   ("2026-09-01", "2026-09-30")).fetchone()
    conn.close()
    text = "".join(page.extract_text() for page in pypdf.PdfReader(output.pdf_path).pages)
    assert f"¥{revenue:,.2f}" in text
    growth = round(float((Decimal(str(revenue)) - Decimal(str(previous))) / Decimal(str(previous)) * 100), 2)
    assert f"{growth:+.2f}%" in text
    figures = {f["id"]: f for f in output.key_figures}
    assert figures["revenue"]["value"] == revenue and figures["revenue_growth"]["value"] == growth
    # The narrative quotes the indicators only, and says the same figure.
    assert f"¥{revenue:,.2f}" in output.narrative and not output.notes


def test_a_definition_of_ones_own_over_a_configured_database(tmp_path: Path) -> None:
    shop = tmp_path / "shop.db"
    with sqlite3.connect(shop) as conn:
        conn.execute("CREATE TABLE orders (day TEXT, amount REAL)")
        conn.executemany("INSERT INTO orders VALUES (?, ?)", [("2026-10-02", 10.5), ("2026-10-20", 4.25),
                                                              ("2026-09-15", 5.0)])
    conn.close()
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "shop.yaml").write_text("""
name: shop
title: Shop orders
language: en
database: shop
queries:
  total: {sql: "SELECT SUM(amount) AS amount FROM orders WHERE day BETWEEN :start AND :end"}
  broken: {sql: "SELECT nothing FROM nowhere"}
indicators:
  - {id: amount, kind: total, query: total, column: amount, label: Orders, format: money, key: true}
""", encoding="utf-8")
    settings = Settings(home=tmp_path, sql_databases=[{"name": "shop", "url": f"sqlite:///{shop}"}],
                        reports={"dir": folder})
    reports = Reports(settings, today=lambda: TODAY)
    assert "shop" in reports.library.names() and "sales-monthly" in reports.library.names()
    with pytest.raises(ToolError, match="report 'shop', query 'broken'"):
        reports.run_sync("shop", None, tmp_path / "out")
    # Read-only: a query that writes is refused by the database, not by reading the SQL.
    definition = reports.library.get("shop")
    definition.queries = {"total": definition.queries["total"].model_copy(
        update={"sql": "DELETE FROM orders WHERE day BETWEEN :start AND :end"})}
    with pytest.raises(ToolError):
        reports.runner.run(definition, None, tmp_path / "out")
    with sqlite3.connect(shop) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone() == (3,)
    conn.close()
    with pytest.raises(NotFound, match="the reports are: sales-monthly, sales-weekly, shop"):
        reports.library.get("nope")


def test_a_broken_definition_says_where() -> None:
    with pytest.raises(ConfigError, match=r"x.yaml: .*chart 'c': no indicator 'missing'"):
        parse_definition("name: x\ntitle: X\nqueries: {q: {sql: SELECT 1}}\n"
                         "charts: [{id: c, kind: pie, title: C, series: [{indicator: missing}]}]\n", "x.yaml")
    assert ReportLibrary([]).names() == ["sales-monthly", "sales-weekly"]


async def test_a_request_for_last_months_sales_report_runs_the_report_tool() -> None:
    async with AutoGLM(model=ScriptedModel(["unused"]), settings=Settings(planner="rules")) as app:
        result = await app.run("生成上个月的销售分析报告")
    assert [s.uses for s in result.plan.steps] == ["report.run"], result.plan.dump()
    assert result.plan.steps[0].with_ == {"report": "sales-monthly", "period": "上个月"}
    assert result.status == "succeeded", result.answer
    output = result.steps[0].output
    assert Path(output["pdf"]).is_file() and Path(output["html"]).is_file()
    revenue = output["key_figures"][0]
    assert revenue["id"] == "revenue" and revenue["text"] in result.answer
    assert output["pdf"] in result.answer and "月度销售分析报告" in result.answer


def _tiny(tmp_path: Path, model: Any) -> Reports:
    shop = tmp_path / "shop.db"
    with sqlite3.connect(shop) as conn:
        conn.execute("CREATE TABLE orders (day TEXT, amount REAL)")
        conn.executemany("INSERT INTO orders VALUES (?, ?)", [("2026-10-02", 1200.5), ("2026-09-20", 1000.0)])
    conn.close()
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "tiny.yaml").write_text("""
name: tiny
title: Orders
language: en
database: shop
queries:
  now: {sql: "SELECT SUM(amount) AS amount FROM orders WHERE day BETWEEN :start AND :end"}
  before: {sql: "SELECT SUM(amount) AS amount FROM orders WHERE day BETWEEN :previous_start AND :previous_end"}
indicators:
  - {id: amount, kind: total, query: now, column: amount, label: Orders, format: money, key: true}
  - {id: previous, kind: total, query: before, column: amount, label: Orders before, format: money}
  - {id: growth, kind: growth, current: amount, previous: previous, label: Growth, format: percent, key: true}
""", encoding="utf-8")
    settings = Settings(home=tmp_path, sql_databases=[{"name": "shop", "url": f"sqlite:///{shop}"}],
                        reports={"dir": folder})
    return Reports(settings, today=lambda: TODAY, model=lambda: model)


async def test_a_capable_models_narrative_is_kept_only_when_its_figures_are_the_indicators(tmp_path: Path) -> None:
    grounded = "Orders reached ¥1,200.50 in October, up 20.05% on September's ¥1,000.00."
    invented = "Orders reached ¥1,900.00, the best month of the year."
    model = ScriptedModel([grounded, invented], can_plan=True)
    reports = _tiny(tmp_path, model)
    kept = await reports.run("tiny", "last_month", tmp_path / "a")
    assert kept.narrative == grounded and not kept.notes
    assert "<data>" in model.requests[0].messages[1].content  # the indicators reach the model fenced as data
    refused = await reports.run("tiny", "last_month", tmp_path / "b")
    assert refused.narrative == "Orders: ¥1,200.50. Growth rose 20.05%."
    assert "1900" in refused.notes[0] or "1,900" in refused.notes[0]
    text = "".join(page.extract_text() for page in pypdf.PdfReader(refused.pdf_path).pages)
    assert "1,900" not in text and "¥1,200.50" in text
    # A model that cannot plan (the embedded one) is never asked.
    small = ScriptedModel(["Orders were ¥5."], can_plan=False)
    (tmp_path / "c").mkdir()
    plain = await _tiny(tmp_path / "c", small).run("tiny", "last_month", tmp_path / "c" / "out")
    assert plain.narrative == "Orders: ¥1,200.50. Growth rose 20.05%." and small.requests == []
