"""Scheduled reports: what a report schedule does at each slot (the slots, claims and loop are
:mod:`openautoglm.schedules`): run the report, mail it (and post to the webhook), and record the run as a task
with ``report.*`` events. A run that fails sends an alert mail instead and is a ``report.failed`` event.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import structlog

from ..config import Settings
from ..errors import AutoGLMError, ConfigError
from ..events import EventEmitter, EventKind
from ..schedules import SlotOutcome
from ..store import Store
from ..store.report_schedules import ScheduleRecord
from .mail import Mailer
from .service import Reports

log = structlog.get_logger(__name__)


class ReportJob:
    def __init__(self, settings: Settings, store: Store, reports: Reports, *, mailer: Mailer | None = None,
                 holder: str | None = None) -> None:
        from ..schedules import replica_name

        self.settings = settings
        self.store = store
        self.reports = reports
        self.mailer = mailer
        self.holder = holder or replica_name()  # named in report.started: which replica ran the slot

    def _mailer(self) -> Mailer:
        if self.mailer is None:
            self.mailer = Mailer.from_settings(self.settings)
        return self.mailer

    async def run(self, schedule: ScheduleRecord, slot: float, when: datetime) -> SlotOutcome:
        task_id = uuid.uuid4().hex[:16]
        at = when.strftime("%Y-%m-%d %H:%M")
        self.store.create_task(task_id, f"scheduled report {schedule.name} ({at})", owner=schedule.owner)
        emitter = EventEmitter(task_id, [self.store.append])
        emitter.emit(EventKind.REPORT_STARTED, report=schedule.name, schedule_id=schedule.id, slot=slot,
                     holder=self.holder)
        try:
            output = await self.reports.run(schedule.name, schedule.period)
        except Exception as exc:  # every failure of a run is reported: the alert is the point
            error = str(exc) if isinstance(exc, AutoGLMError) else f"{type(exc).__name__}: {exc}"
            emitter.emit(EventKind.REPORT_FAILED, report=schedule.name, error=error, error_type=type(exc).__name__)
            deliveries = await self._alert(schedule, at, error, emitter)
            self.store.update_task(task_id, status="failed", error=error)
            log.warning("report_failed", report=schedule.name, slot=at, error=error)
            return SlotOutcome("failed", task_id, {"deliveries": deliveries}, error)
        emitter.emit(EventKind.REPORT_FINISHED, report=schedule.name, html=str(output.html_path),
                     pdf=str(output.pdf_path), key_figures=output.key_figures, seconds=round(output.seconds, 2))
        deliveries = await self._deliver(schedule, output, emitter)
        status = "succeeded" if all(d["ok"] for d in deliveries) else "partial"
        summary = f"{output.title} ({output.period.describe()}): {output.pdf_path}"
        self.store.update_task(task_id, status=status, answer=summary)
        return SlotOutcome(status, task_id, {**output.to_dict(), "deliveries": deliveries})

    async def _deliver(self, schedule: ScheduleRecord, output: Any, emitter: EventEmitter) -> list[dict[str, Any]]:
        figures = "\n".join(f"{f['label']}: {f['text']}" for f in output.key_figures)
        body = f"{output.title}\n{output.period.describe()}\n\n{figures}\n\n{output.narrative}\n"
        deliveries = []
        if schedule.emails:
            deliveries.append(await self._mail(schedule.emails, f"{output.title} {output.period.describe()}", body,
                                               [output.pdf_path, output.html_path], "report", emitter))
        if schedule.webhook:
            deliveries.append(await self._post(schedule.webhook, {"schedule_id": schedule.id, **output.to_dict()},
                                               "report", emitter))
        return deliveries

    async def _alert(self, schedule: ScheduleRecord, when: str, error: str,
                     emitter: EventEmitter) -> list[dict[str, Any]]:
        subject = f"[autoglm] report {schedule.name} failed ({when})"
        body = (f"The scheduled report '{schedule.name}' (schedule {schedule.id}, cron '{schedule.cron}') "
                f"failed at {when}:\n\n{error}\n")
        deliveries = []
        if schedule.emails:
            deliveries.append(await self._mail(schedule.emails, subject, body, [], "alert", emitter))
        if schedule.webhook:
            deliveries.append(await self._post(schedule.webhook, {"schedule_id": schedule.id, "report":
                                               schedule.name, "failed": True, "error": error}, "alert", emitter))
        return deliveries

    async def _mail(self, to: list[str], subject: str, body: str, files: list[Any], kind: str,
                    emitter: EventEmitter) -> dict[str, Any]:
        error = None
        try:
            await self._mailer().send(to, subject, body, files)
        except (OSError, ConfigError) as exc:  # smtplib's errors are OSErrors; the settings' are ConfigErrors
            error = f"{type(exc).__name__}: {exc}"
        emitter.emit(EventKind.REPORT_DELIVERED, channel="email", purpose=kind, to=to, ok=error is None, error=error)
        return {"channel": "email", "kind": kind, "to": to, "ok": error is None, "error": error}

    async def _post(self, url: str, payload: dict[str, Any], kind: str, emitter: EventEmitter) -> dict[str, Any]:
        from ..tools.netguard import NetGuard

        error = None
        try:
            response = await NetGuard.from_settings(self.settings).request("POST", url, json=payload)
            if response.status_code >= 400:
                error = f"HTTP {response.status_code}"
        except AutoGLMError as exc:
            error = str(exc)
        emitter.emit(EventKind.REPORT_DELIVERED, channel="webhook", purpose=kind, to=[url], ok=error is None,
                     error=error)
        return {"channel": "webhook", "kind": kind, "to": [url], "ok": error is None, "error": error}
