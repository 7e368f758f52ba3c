"""``report.run``: run a report definition and answer with what it produced (the files and the key figures).

Output shape (for planners)::

    report.run(report="sales-monthly", period="上个月")
    -> {"report": "sales-monthly", "title": "月度销售分析报告", "start": "2026-10-01", "end": "2026-10-31",
        "html": ".../report.html", "pdf": ".../report.pdf", "charts": 4, "seconds": 3.1, "notes": [],
        "key_figures": [{"id": "revenue", "label": "总销售额", "value": 8812378.92, "text": "¥8,812,378.92"}, ...],
        "narrative": "..."}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ToolArgumentError
from ..tools.base import Tool, ToolContext
from .filler import CHOICES, PERIOD

if TYPE_CHECKING:
    from .service import Reports

NAME = "report.run"


class ReportRunTool(Tool):
    name = NAME
    portable = False  # it holds this process's report service: it runs where the task runs
    source = "builtin"
    timeout_s = 120.0
    writes = True  # the report is the writing asked for; no model text after it
    description = ("Generate a report (生成报告) from a report definition: queries, indicators, charts (图表), "
                   "exported as HTML and PDF files (导出 HTML/PDF); e.g. the monthly or weekly sales analysis report "
                   "(销售分析报告, 月报, 周报, sales report).")

    def __init__(self, reports: Callable[[], Reports]) -> None:
        self._reports = reports
        self._parameters: dict[str, Any] | None = None

    @property
    def parameters(self) -> dict[str, Any]:  # type: ignore[override]
        """The report names as an enum, each described, read from the definitions when first asked."""
        if self._parameters is None:
            try:
                definitions = self._reports().library.all()
            except Exception:  # a broken definition file must not break listing tools; running says what is wrong
                definitions = []
            names = [d.name for d in definitions]
            said = "; ".join(f"{d.name}: {d.title} ({d.description}), period {d.period}" for d in definitions)
            self._parameters = {
                "type": "object",
                "properties": {
                    "report": {"type": "string", **({"enum": names} if names else {}),
                               "description": f"which report: {said}",
                               CHOICES: [{"name": d.name, "title": d.title, "description": d.description,
                                          "period": d.period} for d in definitions]},
                    "period": {"type": "string", "maxLength": 100, PERIOD: True,
                               "description": "the period: last_month, last_week, 2026-10, or words such as 上个月, "
                                              "上周, last month; default: the report's own"},
                },
                "required": ["report"],
                "additionalProperties": False,
            }
        return self._parameters

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        name = str(args.get("report") or "").strip()
        if not name:
            raise ToolArgumentError(f"{NAME}: say which report to run")
        output = await self._reports().run(name, args.get("period") or None)
        return output.to_dict()

    def answer(self, output: Any, lang: str) -> str | None:
        if not (isinstance(output, dict) and "pdf" in output):
            return None
        figures = output.get("key_figures") or []
        if lang == "zh":
            said = "；".join(f"{f['label']} {f['text']}" for f in figures)
            text = (f"已生成「{output['title']}」（{output['start']} 至 {output['end']}，{output['charts']} 张图表）："
                    f"HTML {output['html']}，PDF {output['pdf']}。" + (f"主要指标：{said}。" if said else ""))
        else:
            said = "; ".join(f"{f['label']} {f['text']}" for f in figures)
            text = (f"Generated '{output['title']}' for {output['start']} to {output['end']} with "
                    f"{output['charts']} charts: HTML {output['html']}, PDF {output['pdf']}."
                    + (f" Key figures: {said}." if said else ""))
        notes = output.get("notes") or []
        return text + ("" if not notes else (" 注意：" if lang == "zh" else " Note: ") + " ".join(notes))

    def summarize(self, output: Any) -> str:
        return self.answer(output, "zh") or super().summarize(output)
