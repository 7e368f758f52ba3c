"""Scheduled reports: each gateway replica looks every ``reports.tick_s`` for schedules whose latest cron slot has
come, claims the slot in the store (one replica wins it: ``Store.claim_slot``), runs the report, mails it (and
posts to the webhook), and records the run as a task with ``report.*`` events. A run that fails sends an alert
mail instead and is a ``report.failed`` event. Slots older than ``CATCH_UP_S`` are not run late, so a gateway
that was down for a day does not mail a day's worth of reports when it comes back.

The clock is passed in, so a test can walk through minutes without waiting them; the claim logic is the store's.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

import structlog

from ..config import Settings
from ..errors import AutoGLMError, ConfigError
from ..events import EventEmitter, EventKind
from ..store import Store
from ..store.report_schedules import ScheduleRecord
from .mail import Mailer
from .service import Reports

log = structlog.get_logger(__name__)
CATCH_UP_S = 3600.0
Clock = Callable[[], float]


def check_cron(expression: str) -> None:
    from ..extras import require_extra

    require_extra("reports", "report schedules", "cronsim")
    from cronsim import CronSim, CronSimError

    try:
        CronSim(expression, datetime(2026, 1, 1))
    except CronSimError as exc:
        raise ConfigError(f"not a cron expression {expression!r}: {exc} (e.g. '0 1 * * *': every day at 01:00)"
                          ) from None


def latest_slot(expression: str, now: float, since: float, tz: tzinfo | None) -> float | None:
    """The last time the cron expression fires at or before ``now`` and after ``since`` (epoch seconds)."""
    from cronsim import CronSim

    start = datetime.fromtimestamp(max(since, now - CATCH_UP_S), tz).astimezone(tz)
    latest = None
    for fire in CronSim(expression, start.replace(second=0, microsecond=0)):
        stamp = fire.timestamp()
        if stamp > now:
            break
        if stamp > since:
            latest = stamp
    return latest


class ReportScheduler:
    def __init__(self, settings: Settings, store: Store, reports: Reports, *, clock: Clock = time.time,
                 mailer: Mailer | None = None, holder: str | None = None) -> None:
        from ..tools.timetools import zone

        self.settings = settings
        self.store = store
        self.reports = reports
        self.clock = clock
        self.mailer = mailer
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.tz = zone(settings.timezone)

    def _mailer(self) -> Mailer:
        if self.mailer is None:
            self.mailer = Mailer.from_settings(self.settings)
        return self.mailer

    async def tick(self) -> int:
        """Run every due slot this replica wins; how many it ran."""
        ran = 0
        now = self.clock()
        for schedule in await asyncio.to_thread(self.store.schedules):
            slot = latest_slot(schedule.cron, now, schedule.created_at, self.tz)
            if slot is None:
                continue
            if await asyncio.to_thread(self.store.claim_slot, schedule.id, slot, self.holder,
                                       self.settings.reports.claim_ttl_s):
                await self.run_slot(schedule, slot)
                ran += 1
        return ran

    async def run_slot(self, schedule: ScheduleRecord, slot: float) -> None:
        task_id = uuid.uuid4().hex[:16]
        when = datetime.fromtimestamp(slot, self.tz).astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        self.store.create_task(task_id, f"scheduled report {schedule.report} ({when})", owner=schedule.owner)
        emitter = EventEmitter(task_id, [self.store.append])
        emitter.emit(EventKind.REPORT_STARTED, report=schedule.report, schedule_id=schedule.id, slot=slot,
                     holder=self.holder)
        try:
            output = await self.reports.run(schedule.report, schedule.period)
        except Exception as exc:  # every failure of a run is reported: the alert is the point
            error = str(exc) if isinstance(exc, AutoGLMError) else f"{type(exc).__name__}: {exc}"
            emitter.emit(EventKind.REPORT_FAILED, report=schedule.report, error=error, error_type=type(exc).__name__)
            deliveries = await self._alert(schedule, when, error, emitter)
            self.store.update_task(task_id, status="failed", error=error)
            self.store.finish_slot(schedule.id, slot, self.holder, "failed", task_id=task_id, error=error,
                                   result={"deliveries": deliveries})
            log.warning("report_failed", report=schedule.report, slot=when, error=error)
            return
        emitter.emit(EventKind.REPORT_FINISHED, report=schedule.report, html=str(output.html_path),
                     pdf=str(output.pdf_path), key_figures=output.key_figures, seconds=round(output.seconds, 2))
        deliveries = await self._deliver(schedule, output, emitter)
        ok = all(d["ok"] for d in deliveries)
        status = "succeeded" if ok else "partial"
        summary = f"{output.title} ({output.period.describe()}): {output.pdf_path}"
        self.store.update_task(task_id, status=status, answer=summary)
        self.store.finish_slot(schedule.id, slot, self.holder, status, task_id=task_id,
                               result={**output.to_dict(), "deliveries": deliveries})

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
        subject = f"[autoglm] report {schedule.report} failed ({when})"
        body = (f"The scheduled report '{schedule.report}' (schedule {schedule.id}, cron '{schedule.cron}') "
                f"failed at {when}:\n\n{error}\n")
        deliveries = []
        if schedule.emails:
            deliveries.append(await self._mail(schedule.emails, subject, body, [], "alert", emitter))
        if schedule.webhook:
            deliveries.append(await self._post(schedule.webhook, {"schedule_id": schedule.id, "report":
                                               schedule.report, "failed": True, "error": error}, "alert", emitter))
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

    async def run_forever(self) -> None:
        """The gateway's loop: a tick every ``reports.tick_s``; a failing tick is logged, the loop goes on."""
        while True:
            try:
                await self.tick()
            except Exception as exc:  # a broken database moment must not end the loop for good
                log.warning("report_schedule_tick_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.settings.reports.tick_s)
