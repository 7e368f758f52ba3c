"""Typed tools over the bundled sample sales database (``settings.data_dir / "sales.db"``), easy for rules or a
weak model to fill. ``start``/``end`` take ISO dates or date words (上周, 本月, last week); ``end`` may be left out
when ``start`` names a whole period.

Output shapes (for planners)::

    sales.top_products(start="2026-11-09", end="2026-11-15", limit=5, by="units", region=None)
    -> {"start": "2026-11-09", "end": "2026-11-15", "by": "units", "region": None,
        "total_units": 10769, "total_revenue": 2559181.73,
        "products": [{"rank": 1, "product": "无线耳机", "product_en": "Wireless Earbuds", "category": "电子产品",
                      "units": 1784, "revenue": 497384.97}, ...]}
       # ${top.output.products.0.product}, ${top.output.products.0.units}, ${top.output.products.1.units}

    sales.summary(start, end, group_by="day"|"week"|"month"|"product"|"category"|"region", region=None)
    -> {"start": ..., "end": ..., "group_by": "product", "region": None, "total_units": 10769,
        "total_revenue": 2559181.73,
        "rows": [{"key": "无线耳机", "key_en": "Wireless Earbuds", "units": 1784, "revenue": 497384.97,
                  "revenue_share": 19.44}, ...]}
       # day/week/month rows are in time order (key "2026-11-09", "2026-W46", "2026-11"); the others by revenue.

    sql.query(sql, max_rows=100) -> {"columns": [...], "rows": [{...}], "row_count": n, "truncated": false}
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal

from ..data.sales import REGIONS, SCHEMA_SUMMARY, SalesDatabase
from ..errors import ToolArgumentError
from ..timeparse import parse_period
from .base import FunctionTool, Tool
from .sql import SQLiteReader, SQLQueryTool

Today = Callable[[], date]
GROUPS = ("day", "week", "month", "product", "category", "region")
# Each grouping as SQL: the key, its English name (NULL when the key is a date) and the order of summary rows.
GROUP_KEYS = {
    "day": ("s.date", "NULL", "key"),
    "week": ("strftime('%Y', s.date, '-3 days', 'weekday 4') || '-W' || "
             "printf('%02d', (strftime('%j', s.date, '-3 days', 'weekday 4') - 1) / 7 + 1)", "NULL", "key"),
    "month": ("substr(s.date, 1, 7)", "NULL", "key"),
    "product": ("p.name", "p.name_en", "revenue DESC"),
    "category": ("p.category", "p.category_en", "revenue DESC"),
    "region": ("r.name", "r.name_en", "revenue DESC"),
}


def _money(value: float) -> str:
    return f"¥{value:,.2f}"


# The period a question that names none is answered for (its answer states the dates).
DEFAULT_PERIOD = "最近30天"


def resolve_range(start: str | None, end: str | None, today: date, tool_name: str) -> tuple[date, date]:
    """ISO dates or date words → (first day, last day); no start: the last 30 days."""
    start = start or DEFAULT_PERIOD

    def read(text: str, which: str) -> tuple[date, date]:
        text = str(text).strip()
        try:
            day = date.fromisoformat(text)
            return day, day
        except ValueError:
            pass
        period = parse_period(text, datetime.combine(today, datetime.min.time()))
        if period is None:
            raise ToolArgumentError(f"{tool_name}: cannot read {which}={text!r} as a date; give YYYY-MM-DD or words "
                                    "such as 上周, 本月, last week")
        return period.start, period.end

    first, first_end = read(start, "start")
    last = read(end, "end")[1] if end else first_end
    if last < first:
        raise ToolArgumentError(f"{tool_name}: end {last} is before start {first}")
    return first, last


def _region_id(region: str | None, tool_name: str) -> int | None:
    if region is None or not str(region).strip() or str(region).strip().lower() in ("all", "全部", "全国"):
        return None
    wanted = str(region).strip().lower().removesuffix("地区").removesuffix("区")
    for r in REGIONS:
        if wanted in (r.name.lower(), r.name_en.lower(), r.name_en.lower().removesuffix(" china")):
            return r.id
    known = ", ".join(f"{r.name} ({r.name_en})" for r in REGIONS)
    raise ToolArgumentError(f"{tool_name}: unknown region {region!r}; the regions are {known}")


class SalesData:
    """The database file and a clock; the tools ask it for rows."""

    def __init__(self, db: SalesDatabase, today: Today) -> None:
        self.db = db
        self.today = today
        self.reader = SQLiteReader(db.path)

    def ready(self) -> date:
        today = self.today()
        self.db.ensure(today)
        return today

    def check_coverage(self, first: date, last: date, tool_name: str) -> None:
        covered_first, covered_last = self.db.coverage()
        if last < covered_first or first > covered_last:
            raise ToolArgumentError(
                f"{tool_name}: no sales data between {first} and {last}; the sample database covers "
                f"{covered_first} to {covered_last}")

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        return list(self.reader.query(sql, 10_000, params, tool_name="sales")["rows"])


class _SalesTool(FunctionTool):
    # A sales question names sales, units, money or products: "How many annual leave days…" shares only
    # "many days" with the per-day figures of sales.summary. A superlative alone is no sales word: "病假最多可以请几天"
    # asks a policy's limit, not a ranking.
    domain = frozenset({"sales", "quantity", "money", "product", "region"})

    def summarize(self, output: Any) -> str:
        if isinstance(output, dict) and "products" in output:
            return summarize_top(output)
        if isinstance(output, dict) and "rows" in output and "group_by" in output:
            return summarize_summary(output)
        return super().summarize(output)

    def answer(self, output: Any, lang: str) -> str | None:
        if isinstance(output, dict) and "products" in output:
            return answer_top(output, lang)
        if isinstance(output, dict) and "rows" in output and "group_by" in output:
            return answer_summary(output, lang)
        return None


def answer_top(output: dict[str, Any], lang: str) -> str:
    products, by = output["products"], output["by"]
    where = f"{output['region']} " if output.get("region") else ""
    span = f"{output['start']} 至 {output['end']} " if lang == "zh" else f"from {output['start']} to {output['end']}"
    if not products:
        return f"{span}{where}没有销售记录。" if lang == "zh" else f"There were no sales {span}."

    def one(p: dict[str, Any]) -> str:
        if lang == "zh":
            return f"{p['product']}，销量 {p['units']:,} 件，销售额 {_money(p['revenue'])}"
        return f"{p['product_en']} ({p['units']:,} units, {_money(p['revenue'])})"

    if lang == "zh":
        text = f"{span}{where}{'销量' if by == 'units' else '销售额'}最高的产品是{one(products[0])}"
        return text + (f"；第二名是{one(products[1])}。" if len(products) > 1 else "。")
    text = f"The best seller by {'units' if by == 'units' else 'revenue'} {span} was {one(products[0])}"
    return text + (f"; second was {one(products[1])}." if len(products) > 1 else ".")


def answer_summary(output: dict[str, Any], lang: str) -> str:
    where = f"{output['region']} " if output.get("region") else ""
    units, revenue = f"{output['total_units']:,}", _money(output["total_revenue"])
    rows = output["rows"] if output["group_by"] in ("product", "category", "region") else []
    days = output.get("days") or 0
    if lang == "zh":
        text = f"{output['start']} 至 {output['end']} {where}共卖出 {units} 件，销售额 {revenue}"
        if days > 1:
            text += f"（{days} 天，日均 {output['units_per_day']:,} 件、{_money(output['revenue_per_day'])}）"
        if rows:
            text += f"；销售额最高的是{rows[0]['key']}（{_money(rows[0]['revenue'])}，占 {rows[0]['revenue_share']}%）"
        return text + "。"
    text = f"From {output['start']} to {output['end']}, {units} units were sold for {revenue} in total"
    if days > 1:
        text += f" ({days} days: {output['units_per_day']:,} units and {_money(output['revenue_per_day'])} a day)"
    if rows:
        top = rows[0]
        text += f"; the largest share was {top.get('key_en') or top['key']} ({top['revenue_share']}% of revenue)"
    return text + "."


def summarize_top(output: dict[str, Any]) -> str:
    by_zh = "销量" if output["by"] == "units" else "销售额"
    where = f"{output['region']} " if output.get("region") else ""
    head = (f"{output['start']} 至 {output['end']} {where}按{by_zh}排名前 {len(output['products'])} 的产品"
            f" (top products by {output['by']}, {output['start']} – {output['end']}):")
    lines = [head]
    for p in output["products"]:
        lines.append(f"{p['rank']}. {p['product']} ({p['product_en']})：销量 {p['units']:,} 件，"
                     f"销售额 {_money(p['revenue'])}")
    if not output["products"]:
        lines.append("(这段时间没有销售记录 / no sales in this period)")
    return "\n".join(lines)


def summarize_summary(output: dict[str, Any]) -> str:
    where = f"{output['region']} " if output.get("region") else ""
    lines = [f"{output['start']} 至 {output['end']} {where}销售汇总 (sales summary by {output['group_by']})："
             f"总销量 {output['total_units']:,} 件，总销售额 {_money(output['total_revenue'])}"]
    rows = output["rows"]
    for row in rows[:31]:
        name = row["key"] + (f" ({row['key_en']})" if row.get("key_en") else "")
        lines.append(f"- {name}：{row['units']:,} 件，{_money(row['revenue'])}"
                     + (f"，占 {row['revenue_share']}%" if row.get("revenue_share") is not None else ""))
    if len(rows) > 31:
        lines.append(f"... {len(rows) - 31} more")
    return "\n".join(lines)


def sales_tools(db: SalesDatabase, today: Today) -> list[Tool]:
    data = SalesData(db, today)

    def scope(name: str, start: str | None, end: str | None, region: str | None
              ) -> tuple[date, date, int | None, str, tuple[Any, ...]]:
        """The period and region a call asks about, checked, as a WHERE clause over ``sales s`` and its params."""
        first, last = resolve_range(start, end, data.ready(), name)
        data.check_coverage(first, last, name)
        region_id = _region_id(region, name)
        where = "s.date BETWEEN ? AND ?" + (" AND s.region_id = ?" if region_id else "")
        params: tuple[Any, ...] = (first.isoformat(), last.isoformat()) + ((region_id,) if region_id else ())
        return first, last, region_id, where, params

    def grouped(group_by: str, where: str, params: tuple[Any, ...], in_order: bool
                ) -> tuple[list[dict[str, Any]], int, float]:
        """Units and revenue per group (in the group's natural order when ``in_order``), and their totals."""
        key, key_en, order = GROUP_KEYS[group_by]
        rows = data.rows(
            f"SELECT {key} AS key, {key_en} AS key_en, SUM(s.units) AS units, ROUND(SUM(s.revenue), 2) AS revenue"
            " FROM sales s JOIN products p ON p.id = s.product_id JOIN regions r ON r.id = s.region_id"
            f" WHERE {where} GROUP BY 1, 2" + (f" ORDER BY {order}" if in_order else ""), params)
        return rows, sum(int(r["units"]) for r in rows), round(sum(float(r["revenue"]) for r in rows), 2)

    def top_products(start: str | None = None, end: str | None = None, limit: int = 5,
                     by: Literal["units", "revenue"] = "units", region: str | None = None) -> dict[str, Any]:
        """The best-selling products of a period, ranked by units sold or by revenue (sample sales data).

        Args:
            start: first day, YYYY-MM-DD, or a period in words (上周, 本月, 最近7天, last week); default: the last 30
                days.
            end: last day, YYYY-MM-DD; leave out when start names a whole period.
            limit: how many products to return (1-50).
            by: rank by "units" (销量) or "revenue" (销售额).
            region: only this region: 华东, 华北, 华南, 西南, 东北 (or East/North/South/Southwest/Northeast China).
        """
        name = "sales.top_products"
        if not 1 <= limit <= 50:
            raise ToolArgumentError(f"{name}: limit must be between 1 and 50")
        first, last, region_id, where, params = scope(name, start, end, region)
        metric = "units" if by == "units" else "revenue"
        rows = data.rows(
            "SELECT p.name AS product, p.name_en AS product_en, p.category AS category, SUM(s.units) AS units,"
            " ROUND(SUM(s.revenue), 2) AS revenue FROM sales s JOIN products p ON p.id = s.product_id"
            f" WHERE {where} GROUP BY p.id ORDER BY {metric} DESC, p.id LIMIT ?", (*params, limit))
        totals = data.rows(f"SELECT COALESCE(SUM(s.units), 0) AS units, ROUND(COALESCE(SUM(s.revenue), 0), 2)"
                           f" AS revenue FROM sales s WHERE {where}", params)[0]
        return {
            "start": first.isoformat(), "end": last.isoformat(), "by": metric,
            "region": next((r.name for r in REGIONS if r.id == region_id), None),
            "total_units": int(totals["units"]), "total_revenue": float(totals["revenue"]),
            "products": [{"rank": i + 1, **row, "units": int(row["units"]), "revenue": float(row["revenue"])}
                         for i, row in enumerate(rows)],
        }

    def summary(start: str | None = None, end: str | None = None,
                group_by: Literal["day", "week", "month", "product", "category", "region"] = "day",
                region: str | None = None) -> dict[str, Any]:
        """Sales totals of a period, grouped by day, week, month, product, category or region: how many units were
        sold and for how much in all, and on average per day (总销量, 总销售额, 日均; sample sales data).

        Args:
            start: first day, YYYY-MM-DD, or a period in words (上周, 本月, 最近30天, last month); default: the last
                30 days.
            end: last day, YYYY-MM-DD; leave out when start names a whole period.
            group_by: one of day, week, month, product, category, region.
            region: only this region: 华东, 华北, 华南, 西南, 东北 (or East/North/South/Southwest/Northeast China).
        """
        name = "sales.summary"
        first, last, region_id, where, params = scope(name, start, end, region)
        rows, total_units, total_revenue = grouped(group_by, where, params, in_order=True)
        out_rows = []
        for r in rows:
            row: dict[str, Any] = {"key": r["key"], "units": int(r["units"]), "revenue": float(r["revenue"])}
            if r["key_en"] is not None:
                row["key_en"] = r["key_en"]
            row["revenue_share"] = round(100 * row["revenue"] / total_revenue, 2) if total_revenue else None
            out_rows.append(row)
        days = (last - first).days + 1
        return {"start": first.isoformat(), "end": last.isoformat(), "group_by": group_by,
                "region": next((r.name for r in REGIONS if r.id == region_id), None),
                "total_units": total_units, "total_revenue": total_revenue, "days": days,
                "units_per_day": round(total_units / days, 2), "revenue_per_day": round(total_revenue / days, 2),
                "rows": out_rows}

    def rank(start: str | None = None, end: str | None = None, measure: Literal["units", "revenue"] = "units",
             group_by: Literal["product", "region", "category", "day", "week", "month"] = "product",
             order: Literal["desc", "asc"] = "desc", limit: int = 5, region: str | None = None) -> dict[str, Any]:
        """Which region, category, day, week or month sold the most or least in a period, with each one's share
        (占比; sample sales data).

        Args:
            start: first day, YYYY-MM-DD, or a period in words (上周, 上个月, last month); default: the last 30
                days.
            end: last day, YYYY-MM-DD; leave out when start names a whole period.
            measure: "units" (销量, 件数) or "revenue" (销售额, 收入, 营业额, 金额, income).
            group_by: what to rank: product (产品, 商品, which product), region (地区, 区域, 大区, which region),
                category (品类, 类别, which category), day (哪一天, 哪天, which day), week (哪一周, 哪周, which week)
                or month (哪个月, which month).
            order: "desc" (最多, 最高, 最好, most, highest, best) or "asc" (最少, 最低, 最差, 倒数, 垫底, least,
                fewest, lowest, worst, bottom).
            limit: how many of the ranked groups to return (1-50).
            region: only this region: 华东, 华北, 华南, 西南, 东北 (or East/North/South/Southwest/Northeast China).
        """
        name = "sales.rank"
        if not 1 <= limit <= 50:
            raise ToolArgumentError(f"{name}: limit must be between 1 and 50")
        first, last, region_id, where, params = scope(name, start, end, region)
        rows, total_units, total_revenue = grouped(group_by, where, params, in_order=False)
        total = total_units if measure == "units" else total_revenue
        rows.sort(key=lambda r: (float(r[measure]) if order == "asc" else -float(r[measure]), str(r["key"])))
        groups = []
        for i, r in enumerate(rows[:limit]):
            group: dict[str, Any] = {"rank": i + 1, "key": r["key"], "units": int(r["units"]),
                                     "revenue": float(r["revenue"])}
            if r["key_en"] is not None:
                group["key_en"] = r["key_en"]
            if group_by == "day":
                day = date.fromisoformat(r["key"])
                group |= {"weekday": day.strftime("%A"), "weekday_zh": _WEEKDAYS_ZH[day.weekday()]}
            group["share"] = round(100 * float(r[measure]) / total, 2) if total else None
            groups.append(group)
        return {"start": first.isoformat(), "end": last.isoformat(), "measure": measure, "group_by": group_by,
                "order": order, "region": next((r.name for r in REGIONS if r.id == region_id), None),
                "total": total, "total_units": total_units, "total_revenue": total_revenue, "groups": groups}

    def prepare() -> None:
        data.ready()

    query = SQLQueryTool(
        "sql.query", data.reader, max_rows=100, dialect="sqlite", schema_text=SCHEMA_SUMMARY,
        purpose=("Run one read-only SQL query (SQLite) on the sample sales database; prefer the view sales_detail "
                 "(date, product, product_en, category, category_en, region, region_en, units, revenue); dates are "
                 "'YYYY-MM-DD' text; product/category/region names are Chinese, *_en English"),
        before=prepare, timeout_s=15.0)
    query.source = "builtin"
    top = _SalesTool(top_products, name="sales.top_products", source="builtin", timeout_s=30.0)
    # The output shape as a schema (the function returns a plain dict): planners read it to write references
    # such as ${top.output.products.1.units}.
    top.returns = {"type": "object", "properties": {
        "start": {"type": "string"}, "end": {"type": "string"}, "by": {"type": "string"},
        "total_units": {"type": "integer"}, "total_revenue": {"type": "number"},
        "products": {"type": "array", "items": {"type": "object", "properties": {
            "rank": {"type": "integer"}, "product": {"type": "string"}, "product_en": {"type": "string"},
            "category": {"type": "string"}, "units": {"type": "integer"}, "revenue": {"type": "number"}}}}}}
    ranked = RankTool(rank, name="sales.rank", source="builtin", timeout_s=30.0)
    ranked.returns = {"type": "object", "properties": {
        "start": {"type": "string"}, "end": {"type": "string"}, "measure": {"type": "string"},
        "group_by": {"type": "string"}, "order": {"type": "string"}, "total": {"type": "number"},
        "total_units": {"type": "integer"}, "total_revenue": {"type": "number"},
        "groups": {"type": "array", "items": {"type": "object", "properties": {
            "rank": {"type": "integer"}, "key": {"type": "string"}, "key_en": {"type": "string"},
            "units": {"type": "integer"}, "revenue": {"type": "number"}, "share": {"type": "number"}}}}}}
    return [
        top,
        _SalesTool(summary, name="sales.summary", source="builtin", timeout_s=30.0),
        ranked,
        query,
    ]


_WEEKDAYS_ZH = ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"]
_GROUP_ZH = {"product": "产品", "region": "地区", "category": "品类", "day": "一天", "week": "一周", "month": "月份"}
_GROUP_EN = {"product": "product", "region": "region", "category": "category", "day": "day", "week": "week",
             "month": "month"}


def _figure(value: float, measure: str, lang: str) -> str:
    if measure == "revenue":
        return _money(value)
    return f"{int(value):,} 件" if lang == "zh" else f"{int(value):,} units"


def _group_name(group: dict[str, Any], group_by: str, lang: str) -> str:
    if group_by == "day":
        day = date.fromisoformat(group["key"])
        if lang == "zh":
            return f"{group['key']}（{day.month}月{day.day}日，{group['weekday_zh']}）"
        return f"{group['weekday']}, {day.strftime('%B')} {day.day} ({group['key']})"
    return str(group.get("key_en") or group["key"]) if lang == "en" else str(group["key"])


class RankTool(_SalesTool):
    def summarize(self, output: Any) -> str:
        if isinstance(output, dict) and "groups" in output:
            measure, group_by = output["measure"], output["group_by"]
            total = _figure(output["total"], measure, "zh")
            lines = [f"{output['start']} 至 {output['end']} 按{'销量' if measure == 'units' else '销售额'}排名"
                     f"（{group_by} by {measure}, {output['order']}），合计 {total}："]
            for g in output["groups"]:
                name = _group_name(g, group_by, "zh") + (f" ({g['key_en']})" if g.get("key_en") else "")
                lines.append(f"{g['rank']}. {name}：{_figure(g[measure], measure, 'zh')}，占 {g['share']}%")
            return "\n".join(lines)
        return super().summarize(output)

    def answer(self, output: Any, lang: str) -> str | None:
        if not (isinstance(output, dict) and "groups" in output):
            return None
        measure, group_by, most = output["measure"], output["group_by"], output["order"] == "desc"
        where = f"{output['region']} " if output.get("region") else ""
        total = _figure(output["total"], measure, lang)
        if not output["groups"]:
            return (f"{output['start']} 至 {output['end']} {where}没有销售记录。" if lang == "zh"
                    else f"There were no sales from {output['start']} to {output['end']}.")
        top = output["groups"][0]
        name, figure = _group_name(top, group_by, lang), _figure(top[measure], measure, lang)
        second = output["groups"][1] if len(output["groups"]) > 1 else None
        if lang == "zh":
            what = ("销量" if measure == "units" else "销售额") + ("最高" if most else "最低")
            text = (f"{output['start']} 至 {output['end']} {where}{what}的{_GROUP_ZH[group_by]}是{name}，"
                    f"{figure}，占总{'销量' if measure == 'units' else '销售额'} {total} 的 {top['share']:.2f}%")
            if second:
                text += f"；其次是{_group_name(second, group_by, lang)}，{_figure(second[measure], measure, lang)}"
            return text + "。"
        what = ("the most units sold" if measure == "units" else "the highest revenue") if most else \
            ("the fewest units sold" if measure == "units" else "the lowest revenue")
        text = (f"From {output['start']} to {output['end']}, {name} had {what}{' in ' + where.strip() if where else ''}"
                f": {figure}, {top['share']:.2f}% of the total {total}")
        if second:
            text += f"; next was {_group_name(second, group_by, lang)} with {_figure(second[measure], measure, lang)}"
        return text + "."
