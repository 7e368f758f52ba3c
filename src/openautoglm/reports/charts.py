"""Charts drawn with matplotlib (Agg, no display) into PNG bytes that the report embeds as data URIs.

Each kind is one class with ``draw`` and one registration, like indicators::

    @chart_kinds.register("area")
    class AreaChart(Chart):
        def draw(self, ax, series, spec):
            for s in series:
                ax.fill_between(range(len(s.values)), s.numbers())
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..extras import require_extra
from ..registry import Registry
from .definition import ChartSpec
from .fonts import CJKFont

require_extra("reports", "report charts", "matplotlib")


@dataclass
class Series:
    label: str
    labels: list[str]
    values: list[float | None]

    def numbers(self) -> list[float]:
        return [math.nan if v is None else float(v) for v in self.values]


class Chart:
    def draw(self, ax: Any, series: Sequence[Series], spec: ChartSpec) -> None:
        raise NotImplementedError


chart_kinds: Registry[Chart] = Registry("openautoglm.chart_kinds", "report chart kind", Chart)


def _sparse_ticks(ax: Any, labels: list[str], most: int = 10) -> None:
    step = max(1, math.ceil(len(labels) / most))
    ax.set_xticks(range(0, len(labels), step))
    ax.set_xticklabels(labels[::step], rotation=30, ha="right", fontsize=8)


@chart_kinds.register("line")
class LineChart(Chart):
    def draw(self, ax: Any, series: Sequence[Series], spec: ChartSpec) -> None:
        for s in series:
            ax.plot(range(len(s.values)), s.numbers(), marker="o" if len(s.values) <= 14 else None,
                    markersize=3, linewidth=1.6, label=s.label)
        _sparse_ticks(ax, series[0].labels)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)


@chart_kinds.register("bar")
class BarChart(Chart):
    def draw(self, ax: Any, series: Sequence[Series], spec: ChartSpec) -> None:
        s = series[0]
        ax.barh(range(len(s.values))[::-1], s.numbers(), color="#3b7dd8", label=s.label)
        ax.set_yticks(range(len(s.values))[::-1])
        ax.set_yticklabels(s.labels, fontsize=9)
        ax.grid(axis="x", alpha=0.3)


@chart_kinds.register("pie")
class PieChart(Chart):
    def draw(self, ax: Any, series: Sequence[Series], spec: ChartSpec) -> None:
        s = series[0]
        ax.pie([max(v, 0.0) for v in s.numbers()], labels=s.labels, autopct="%1.1f%%", startangle=90,
               counterclock=False, textprops={"fontsize": 8})
        ax.axis("equal")


def render_png(spec: ChartSpec, series: Sequence[Series], font: CJKFont | None) -> bytes:
    """One chart as PNG bytes. A Figure of its own (no pyplot state), so charts may be drawn in threads."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _rc(_font_family(font)):
        figure = Figure(figsize=(7.2, 3.4), dpi=110)
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
        chart_kinds.get(spec.kind)().draw(ax, series, spec)
        ax.set_title(spec.title, fontsize=11)
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
    return out.getvalue()


@cache
def _font_family(font: CJKFont | None) -> list[str]:
    from matplotlib import font_manager

    if font is None:
        return ["DejaVu Sans"]
    font_manager.fontManager.addfont(str(font.path))
    name = font_manager.FontProperties(fname=str(font.path)).get_name()
    return [name, "DejaVu Sans"]


def _rc(family: list[str]) -> Any:
    import matplotlib

    return matplotlib.rc_context({"font.family": family, "axes.unicode_minus": False})
