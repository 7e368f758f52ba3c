"""A report definition: ``reports/NAME.yaml``, found in the project's folders or among the bundled ones.

A definition names its data (``queries``, read-only SQL over one database), what is computed from it in code
(``indicators``, see :mod:`.indicators`), what is drawn (``charts``, see :mod:`.charts`), the Jinja2 template that
lays it out and whether a narrative is written from the indicators. Queries take named parameters ``:start``,
``:end``, ``:previous_start`` and ``:previous_end`` (ISO dates of the report's period and the one before it).

Where definitions are looked up, first match wins: ``reports_dir`` from ``autoglm.yaml`` (or ``./reports`` and
``$AUTOGLM_HOME/reports``), then the ones shipped in the package (``sales-weekly``, ``sales-monthly``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ConfigError, NotFound

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]*$"
BUNDLED = "bundled"
Format = Literal["money", "count", "percent", "number"]


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, description="one read-only SELECT; :start, :end, :previous_start, :previous_end")
    database: str | None = Field(default=None, description="a configured sql_databases name; default: the report's")


class IndicatorSpec(BaseModel):
    """One computed figure or series. ``kind`` picks the class (indicators.py); the other fields are its inputs."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kind: str
    label: str
    label_en: str | None = None
    format: Format = "number"
    key: bool = Field(default=False, description="a key figure: in the answer, the mail and the summary table")

    def param(self, name: str, default: Any = ...) -> Any:
        extra = self.model_extra or {}
        if name in extra:
            return extra[name]
        if default is ...:
            raise ConfigError(f"indicator '{self.id}' ({self.kind}) needs '{name}'")
        return default


class SeriesSpec(BaseModel):
    """What a chart draws: an indicator's rows, or two columns of a query."""

    model_config = ConfigDict(extra="forbid")

    indicator: str | None = None
    query: str | None = None
    x: str | None = None
    y: str | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SeriesSpec:
        if bool(self.indicator) == bool(self.query):
            raise ValueError("a series takes either `indicator` or `query` (with x and y)")
        if self.query and not (self.x and self.y):
            raise ValueError(f"series of query '{self.query}' needs x and y columns")
        return self


class ChartSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kind: str = Field(description="line, bar, pie, or a registered kind (charts.py)")
    title: str
    series: list[SeriesSpec] = Field(min_length=1)
    format: Format = "number"


class ReportDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    title: str
    description: str = ""
    language: Literal["zh", "en"] = "zh"
    period: str = Field(default="last_month", description="the default period: last_month, last_week, ...")
    database: str = Field(default="sales", description="'sales' (the bundled sample) or a sql_databases name")
    queries: dict[str, Query] = Field(min_length=1)
    indicators: list[IndicatorSpec] = Field(default_factory=list)
    charts: list[ChartSpec] = Field(default_factory=list)
    template: str = Field(default="report.html.j2", description="a Jinja2 file beside the definition or bundled")
    narrative: bool = True
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _references(self) -> ReportDefinition:
        ids = [i.id for i in self.indicators]
        if len(ids) != len(set(ids)):
            raise ValueError("indicator ids must be unique")
        for chart in self.charts:
            for s in chart.series:
                if s.indicator and s.indicator not in ids:
                    raise ValueError(f"chart '{chart.id}': no indicator '{s.indicator}'")
                if s.query and s.query not in self.queries:
                    raise ValueError(f"chart '{chart.id}': no query '{s.query}'")
        return self

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "description": self.description, "period": self.period,
                "database": self.database, "charts": [c.kind for c in self.charts],
                "path": str(self.path) if self.path else f"(bundled) {self.name}.yaml"}


def parse_definition(text: str, source: str, path: Path | None = None) -> ReportDefinition:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a report definition is a mapping (name, title, queries, ...)")
    try:
        definition = ReportDefinition(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "definition"
        raise ConfigError(f"{source}: {where}: {first['msg']}") from None
    definition.path = path
    return definition


class ReportLibrary:
    """The report definitions in some folders, then the bundled ones, by name."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders

    def _bundled(self) -> dict[str, str]:
        root = resources.files(__package__).joinpath(BUNDLED)
        return {item.name.removesuffix(".yaml"): item.read_text(encoding="utf-8")
                for item in root.iterdir() if item.name.endswith(".yaml")}

    def get(self, name: str) -> ReportDefinition:
        for folder in self.folders:
            path = folder / f"{name}.yaml"
            if path.is_file():
                return parse_definition(path.read_text(encoding="utf-8"), str(path), path)
        bundled = self._bundled()
        if name in bundled:
            return parse_definition(bundled[name], f"(bundled) {name}.yaml")
        known = ", ".join(self.names()) or "none"
        raise NotFound(f"no report named '{name}'; the reports are: {known}")

    def names(self) -> list[str]:
        found = {p.stem for folder in self.folders if folder.is_dir() for p in folder.glob("*.yaml")}
        return sorted(found | set(self._bundled()))

    def all(self) -> list[ReportDefinition]:
        return [self.get(name) for name in self.names()]

    def template_text(self, definition: ReportDefinition, name: str) -> str:
        """A template beside the definition file, else a bundled one."""
        if definition.path is not None and (definition.path.parent / name).is_file():
            return (definition.path.parent / name).read_text(encoding="utf-8")
        bundled = resources.files(__package__).joinpath("templates", name)
        if not bundled.is_file():
            raise ConfigError(f"report '{definition.name}': no template '{name}' beside it or bundled")
        return bundled.read_text(encoding="utf-8")
