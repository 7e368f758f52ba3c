"""Indicators: figures and series computed in code from a report's query results, never by a model.

Each kind is one class with ``compute`` and one registration::

    @indicator_kinds.register("median")
    class Median(Indicator):
        def compute(self, spec, tables, done):
            values = sorted(column(tables, spec, spec.param("column")))
            return IndicatorValue(spec, value=values[len(values) // 2])

Built in: ``total`` (sum of a column), ``growth`` (percent change from one indicator to another), ``share`` (each
row's percent of the column's sum), ``ranking`` (the top rows by a column) and ``moving_average`` (the mean of the
last ``window`` values along the query's order). Sums use decimals, so a total is the database's figure to the cent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..errors import ConfigError
from ..registry import Registry
from .definition import IndicatorSpec

Rows = list[dict[str, Any]]


@dataclass
class IndicatorValue:
    """A scalar (``value``) or a series (``rows`` of ``{"label", "value", ...}``), with what it was made from."""

    spec: IndicatorSpec
    value: float | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.spec.kind, "label": self.spec.label,
                               "format": self.spec.format}
        if self.value is not None or not self.rows:
            out["value"] = self.value
        if self.rows:
            out["rows"] = self.rows
        return out | self.detail


class Indicator:
    """One kind of indicator. ``done`` holds the indicators computed before this one (listed earlier)."""

    def compute(self, spec: IndicatorSpec, tables: Mapping[str, Rows],
                done: Mapping[str, IndicatorValue]) -> IndicatorValue:
        raise NotImplementedError


indicator_kinds: Registry[Indicator] = Registry("openautoglm.indicators", "report indicator", Indicator)


def rows_of(tables: Mapping[str, Rows], spec: IndicatorSpec) -> Rows:
    name = spec.param("query")
    if name not in tables:
        raise ConfigError(f"indicator '{spec.id}': no query '{name}'")
    return tables[name]


def number(row: Mapping[str, Any], column: str, spec: IndicatorSpec) -> Decimal:
    if column not in row:
        raise ConfigError(f"indicator '{spec.id}': the query has no column '{column}' (it has {', '.join(row)})")
    value = row[column]
    return Decimal(str(value)) if value is not None else Decimal(0)


def _plain(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


@indicator_kinds.register("total")
class Total(Indicator):
    def compute(self, spec: IndicatorSpec, tables: Mapping[str, Rows],
                done: Mapping[str, IndicatorValue]) -> IndicatorValue:
        column = spec.param("column")
        total = sum((number(r, column, spec) for r in rows_of(tables, spec)), Decimal(0))
        return IndicatorValue(spec, value=_plain(total))


@indicator_kinds.register("growth")
class Growth(Indicator):
    """Percent change from ``previous`` to ``current`` (two scalar indicators); None when previous is 0."""

    def compute(self, spec: IndicatorSpec, tables: Mapping[str, Rows],
                done: Mapping[str, IndicatorValue]) -> IndicatorValue:
        current, previous = (_scalar(done, spec, spec.param(name)) for name in ("current", "previous"))
        change = None if previous == 0 else round(float((current - previous) / previous * 100), 2)
        # The magnitude too: a narrative says "fell 0.91%", not "-0.91%".
        return IndicatorValue(spec, value=change, detail={"current": _plain(current), "previous": _plain(previous),
                                                          "magnitude": None if change is None else abs(change)})


def _scalar(done: Mapping[str, IndicatorValue], spec: IndicatorSpec, ref: str) -> Decimal:
    if ref not in done or done[ref].value is None:
        raise ConfigError(f"indicator '{spec.id}': '{ref}' must be a figure listed before it")
    return Decimal(str(done[ref].value))


@indicator_kinds.register("share")
class Share(Indicator):
    """Each row's percent of the column's sum, largest first."""

    def compute(self, spec: IndicatorSpec, tables: Mapping[str, Rows],
                done: Mapping[str, IndicatorValue]) -> IndicatorValue:
        column, label = spec.param("column"), spec.param("label_column")
        rows = rows_of(tables, spec)
        total = sum((number(r, column, spec) for r in rows), Decimal(0))
        out: list[dict[str, Any]] = [{"label": str(r[label]), "value": _plain(number(r, column, spec)),
                "share": round(float(number(r, column, spec) / total * 100), 2) if total else None} for r in rows]
        out.sort(key=lambda r: -float(r["value"]))
        return IndicatorValue(spec, rows=out, detail={"total": _plain(total)})


@indicator_kinds.register("ranking")
class Ranking(Indicator):
    """The top ``limit`` rows by ``column`` (``order: asc`` for the bottom ones)."""

    def compute(self, spec: IndicatorSpec, tables: Mapping[str, Rows],
                done: Mapping[str, IndicatorValue]) -> IndicatorValue:
        column, label = spec.param("column"), spec.param("label_column")
        limit, ascending = int(spec.param("limit", 5)), spec.param("order", "desc") == "asc"
        rows = sorted(rows_of(tables, spec), key=lambda r: (number(r, column, spec) if ascending
                                                            else -number(r, column, spec), str(r[label])))
        return IndicatorValue(spec, rows=[{"rank": i + 1, "label": str(r[label]),
                                           "value": _plain(number(r, column, spec))}
                                          for i, r in enumerate(rows[:limit])])


@indicator_kinds.register("moving_average")
class MovingAverage(Indicator):
    """The mean of the last ``window`` values of ``column``, row by row in the query's order (None until a whole
    window is there), labelled by ``label_column``."""

    def compute(self, spec: IndicatorSpec, tables: Mapping[str, Rows],
                done: Mapping[str, IndicatorValue]) -> IndicatorValue:
        column, label, window = spec.param("column"), spec.param("label_column"), int(spec.param("window", 7))
        if window < 1:
            raise ConfigError(f"indicator '{spec.id}': window must be at least 1")
        values = [number(r, column, spec) for r in rows_of(tables, spec)]
        out: list[dict[str, Any]] = []
        for i, r in enumerate(rows_of(tables, spec)):
            mean = (round(float(sum(values[i + 1 - window:i + 1], Decimal(0)) / window), 2)
                    if i + 1 >= window else None)
            out.append({"label": str(r[label]), "value": mean})
        last = next((r["value"] for r in reversed(out) if r["value"] is not None), None)
        return IndicatorValue(spec, value=last, rows=out, detail={"window": window})


def compute_all(specs: list[IndicatorSpec], tables: Mapping[str, Rows]) -> dict[str, IndicatorValue]:
    done: dict[str, IndicatorValue] = {}
    for spec in specs:
        done[spec.id] = indicator_kinds.get(spec.kind)().compute(spec, tables, done)
    return done
