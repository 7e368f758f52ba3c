"""What the facade hands the CLI, the gateway and the ``report.run`` tool: the library of definitions and a runner,
with the app's clock and where runs are written."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from ..config import Settings
from ..models.base import ChatModel
from .definition import ReportLibrary
from .runner import ReportOutput, ReportRunner


def definition_dirs(settings: Settings) -> list[Path]:
    if settings.reports.dir is not None:
        return [Path(settings.reports.dir).expanduser()]
    return [Path.cwd() / "reports", settings.data_dir / "reports"]


class Reports:
    def __init__(self, settings: Settings, today: Callable[[], date] | None = None,
                 model: Callable[[], ChatModel | None] | None = None) -> None:
        from ..tools.timetools import system_clock, zone

        self.settings = settings
        tz = settings.timezone
        self.today = today or (lambda: system_clock(zone(tz)).date())
        self.library = ReportLibrary(definition_dirs(settings))
        self.runner = ReportRunner(settings, self.library, self.today)
        # A model that can plan may word the narrative (checked); None: the deterministic sentences stand.
        self.model = model or (lambda: None)

    def out_root(self) -> Path:
        return Path(self.settings.reports.out_dir or self.settings.data_dir / "report-runs").expanduser()

    def new_out_dir(self, name: str) -> Path:
        """A fresh folder per run: ``<out root>/<name>/<UTC time>-<ms>``."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{int(time.time() * 1000) % 1000:03d}"
        return self.out_root() / name / stamp

    def run_sync(self, name: str, period: str | None = None, out_dir: Path | None = None) -> ReportOutput:
        return self.runner.run(name, period, out_dir or self.new_out_dir(name))

    async def run(self, name: str, period: str | None = None, out_dir: Path | None = None) -> ReportOutput:
        """Run off the event loop (queries, charts and the PDF are blocking work); with a capable model, the
        narrative is the model's when every figure in it is an indicator's."""
        prepared = await asyncio.to_thread(self.runner.prepare, name, period)
        model = self.model()
        if model is not None and model.can_plan and prepared.definition.narrative:
            from .narrative import model_narrative

            span = prepared.span
            text, why = await model_narrative(model, prepared.indicators, prepared.definition.language,
                                              [span.start.isoformat(), span.end.isoformat()])
            if text is not None:
                prepared.context["narrative"] = text
            else:
                prepared.notes.append(f"{why}; the narrative is written from the indicators instead")
        return await asyncio.to_thread(self.runner.write, prepared, out_dir or self.new_out_dir(name))
