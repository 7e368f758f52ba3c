"""Running a report: queries (read-only) → indicators (code) → charts (matplotlib) → HTML (Jinja2) and PDF (fpdf2).

``ReportRunner.run(name, period, out_dir)`` writes ``report.html`` and ``report.pdf`` into ``out_dir`` and returns
what it made: paths, key figures, the narrative and notes (a missing CJK font, say). A query that fails, a bad
definition or a period without data raise :class:`~openautoglm.errors.ToolError` subclasses saying which part.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ConfigError
from .definition import ReportDefinition, ReportLibrary
from .fonts import CJKFont, find_cjk_font
from .formatting import figure, share
from .indicators import IndicatorValue, Rows, compute_all
from .narrative import deterministic, unchecked_figures
from .period import ReportPeriod, resolve

Today = Callable[[], date]
_PARAM = re.compile(r"(?<![:\w]):(start|end|previous_start|previous_end)\b")
MAX_ROWS = 10_000
LABELS = {
    "zh": {"period": "报告期", "generated": "生成时间", "figure": "指标", "value": "数值", "narrative": "分析",
           "rank": "排名", "name": "名称", "share": "占比", "previous": "上期"},
    "en": {"period": "Period", "generated": "Generated", "figure": "Indicator", "value": "Value",
           "narrative": "Summary", "rank": "Rank", "name": "Name", "share": "Share", "previous": "Previous"},
}


@dataclass
class ReportOutput:
    name: str
    title: str
    period: ReportPeriod
    out_dir: Path
    html_path: Path
    pdf_path: Path
    key_figures: list[dict[str, Any]]
    narrative: str
    charts: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"report": self.name, "title": self.title, "start": self.period.start.isoformat(),
                "end": self.period.end.isoformat(), "html": str(self.html_path), "pdf": str(self.pdf_path),
                "key_figures": self.key_figures, "narrative": self.narrative, "charts": self.charts,
                "seconds": round(self.seconds, 2), "notes": self.notes}


def _key_text(ind: IndicatorValue) -> str:
    """A figure as printed; for a series, its first row (the top product, the largest share)."""
    if ind.value is not None or not ind.rows:
        return figure(ind.value, ind.spec.format)
    top = ind.rows[0]
    said = f"{top['label']} {figure(top['value'], ind.spec.format)}"
    return said + (f" ({share(top['share'])})" if top.get("share") is not None else "")


@dataclass
class Prepared:
    """A report computed and drawn, not yet written: a capable model may still word its narrative."""

    definition: ReportDefinition
    span: ReportPeriod
    indicators: dict[str, IndicatorValue]
    font: CJKFont | None
    context: dict[str, Any]
    notes: list[str]
    started: float


class ReportRunner:
    def __init__(self, settings: Settings, library: ReportLibrary, today: Today) -> None:
        self.settings = settings
        self.library = library
        self.today = today
        self._readers: dict[str, Any] = {}

    # -- data ---------------------------------------------------------------------------------------------------

    def _reader(self, database: str) -> tuple[Any, str]:
        """A read-only reader of ``database`` and its dialect: the bundled sales sample, or a configured one."""
        if database in self._readers:
            return self._readers[database]
        from ..tools.sql import PostgresReader, SQLiteReader

        found: tuple[Any, str]
        configured = next((d for d in self.settings.sql_databases if d.name == database), None)
        if configured is not None:
            from sqlalchemy.engine import make_url

            url = make_url(configured.url)
            if url.get_backend_name() == "sqlite":
                found = (SQLiteReader(Path(str(url.database)).expanduser(), configured.timeout_s), "sqlite")
            else:
                found = (PostgresReader(configured.url, configured.timeout_s, configured.allow_superuser), "postgresql")
        elif database == "sales":
            from ..data.sales import SalesDatabase, default_path

            db = SalesDatabase(default_path(self.settings.data_dir))
            db.ensure(self.today())
            found = (SQLiteReader(db.path), "sqlite")
        else:
            names = ", ".join(["sales", *(d.name for d in self.settings.sql_databases)])
            raise ConfigError(f"no database '{database}'; configure it under sql_databases (known: {names})")
        self._readers[database] = found
        return found

    def _query(self, definition: ReportDefinition, name: str, period: ReportPeriod) -> Rows:
        query = definition.queries[name]
        reader, dialect = self._reader(query.database or definition.database)
        values = period.params()
        order: list[str] = []

        def placeholder(m: re.Match[str]) -> str:
            order.append(m.group(1))
            return "?" if dialect == "sqlite" else "%s"

        sql = _PARAM.sub(placeholder, query.sql)
        result = reader.query(sql, MAX_ROWS, [values[n] for n in order],
                              tool_name=f"report '{definition.name}', query '{name}'")
        return list(result["rows"])

    # -- the run ------------------------------------------------------------------------------------------------

    def run(self, name: str | ReportDefinition, period: str | None, out_dir: Path) -> ReportOutput:
        return self.write(self.prepare(name, period), out_dir)

    def prepare(self, name: str | ReportDefinition, period: str | None) -> Prepared:
        """Queries, indicators, charts and the deterministic narrative: everything but the files."""
        started = time.perf_counter()
        definition = name if isinstance(name, ReportDefinition) else self.library.get(name)
        span = resolve(period or definition.period, self.today())
        tables = {q: self._query(definition, q, span) for q in definition.queries}
        indicators = compute_all(definition.indicators, tables)
        font = find_cjk_font(str(self.settings.reports.font) if self.settings.reports.font else None)
        notes = [] if font is not None or definition.language != "zh" else [
            "no CJK font found: Chinese text in charts and the PDF prints as boxes; install fonts-noto-cjk or set "
            "reports.font in autoglm.yaml"]
        context = self._context(definition, span, tables, indicators, font, notes)
        return Prepared(definition, span, indicators, font, context, notes, started)

    def write(self, prepared: Prepared, out_dir: Path) -> ReportOutput:
        from .html import render_html
        from .pdf import render_pdf

        definition, context = prepared.definition, prepared.context
        out_dir.mkdir(parents=True, exist_ok=True)
        html_path, pdf_path = out_dir / "report.html", out_dir / "report.pdf"
        html_path.write_text(render_html(self.library.template_text(definition, definition.template), context),
                             encoding="utf-8")
        pdf_path.write_bytes(render_pdf(context, prepared.font))
        return ReportOutput(definition.name, definition.title, prepared.span, out_dir, html_path, pdf_path,
                            context["key_figures"], context["narrative"], len(context["charts"]),
                            time.perf_counter() - prepared.started, prepared.notes)

    def _context(self, definition: ReportDefinition, span: ReportPeriod, tables: dict[str, Rows],
                 indicators: dict[str, IndicatorValue], font: CJKFont | None, notes: list[str]) -> dict[str, Any]:
        from .charts import render_png

        lang = definition.language
        charts = []
        for chart in definition.charts:
            series = [self._series(s, tables, indicators) for s in chart.series]
            png = render_png(chart, series, font)
            charts.append({"id": chart.id, "title": chart.title, "kind": chart.kind, "png": png,
                           "width": 792, "height": 374,
                           "data_uri": "data:image/png;base64," + base64.b64encode(png).decode("ascii")})
        key = [i for i in indicators.values() if i.spec.key] or [i for i in indicators.values() if i.value is not None]
        key_figures = [{"id": i.id, "label": i.spec.label if lang == "zh" else (i.spec.label_en or i.spec.label),
                        "value": i.value if i.value is not None or not i.rows else i.rows[0]["value"],
                        "text": _key_text(i)} for i in key]
        text = deterministic(indicators, lang) if definition.narrative else ""
        if text and (loose := unchecked_figures(text, indicators)):
            # Our own sentences quote only indicators; a figure that is not one is a bug to show, not to print.
            notes.append(f"narrative left out: figures not among the indicators: {', '.join(loose)}")
            text = ""
        return {
            "report": {"name": definition.name, "title": definition.title, "description": definition.description,
                       "language": lang},
            "period": {"start": span.start.isoformat(), "end": span.end.isoformat(),
                       "previous_start": span.previous_start.isoformat(),
                       "previous_end": span.previous_end.isoformat(), "label": span.label},
            "generated_at": datetime.now().strftime("%Y-%m-%d %H:%M"),
            "labels": LABELS[lang],
            "indicators": {k: v.to_dict() for k, v in indicators.items()},
            "key_figures": key_figures,
            "charts": charts,
            "tables": tables,
            "lists": self._lists(indicators, lang),
            "narrative": text,
            "notes": notes,
        }

    @staticmethod
    def _series(spec: Any, tables: dict[str, Rows], indicators: dict[str, IndicatorValue]) -> Any:
        from .charts import Series

        if spec.indicator:
            ind = indicators[spec.indicator]
            return Series(spec.label or ind.spec.label, [r["label"] for r in ind.rows],
                          [r["value"] for r in ind.rows])
        rows = tables[spec.query]
        return Series(spec.label or spec.y, [str(r[spec.x]) for r in rows],
                      [None if r[spec.y] is None else float(r[spec.y]) for r in rows])

    @staticmethod
    def _lists(indicators: dict[str, IndicatorValue], lang: str) -> list[dict[str, Any]]:
        """Ranked and shared series as tables, for the PDF (the HTML template lays out its own)."""
        labels = LABELS[lang]
        blocks = []
        for ind in indicators.values():
            title = ind.spec.label if lang == "zh" else (ind.spec.label_en or ind.spec.label)
            fmt = ind.spec.format
            if ind.spec.kind == "ranking":
                blocks.append({"title": title, "columns": [labels["rank"], labels["name"], labels["value"]],
                               "rows": [[r["rank"], r["label"], figure(r["value"], fmt)] for r in ind.rows]})
            elif ind.spec.kind == "share":
                blocks.append({"title": title, "columns": [labels["name"], labels["value"], labels["share"]],
                               "rows": [[r["label"], figure(r["value"], fmt), share(r["share"])] for r in ind.rows]})
        return blocks

