"""Schedules: a report to run and deliver, or a workflow to start, at every slot of a cron expression.

Each gateway replica looks every ``reports.tick_s`` for schedules whose latest cron slot has come, claims the slot
in the store (one replica wins it: ``Store.claim_slot``), and hands it to the job of the schedule's kind
(``report``: :class:`~openautoglm.reports.schedules.ReportJob`; ``workflow``: :class:`WorkflowJob`); the slot's row
then records how it went. Slots older than ``CATCH_UP_S`` are not run late, so a gateway that was down for a day
does not mail a day's worth of reports when it comes back.

The clock is passed in, so a test can walk through minutes without waiting them; the claim logic is the store's.
Cron's smallest step is a minute, and there is no second field to shorten it for tests: slots are whole minutes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Protocol

import structlog

from .config import Settings
from .errors import AutoGLMError, ConfigError, NotFound
from .plan import Plan
from .store import Store
from .store.report_schedules import ScheduleRecord
from .tools.workflows import SUFFIXES, Workflow, WorkflowRegistry, load_workflow

log = structlog.get_logger(__name__)
CATCH_UP_S = 3600.0
Clock = Callable[[], float]
# What a workflow schedule hands its workflow about the slot, when the workflow declares these inputs.
SLOT_INPUTS = ("scheduled_at", "schedule_id")


def check_cron(expression: str) -> None:
    from .extras import require_extra

    require_extra("reports", "schedules", "cronsim")
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


@dataclass
class SlotOutcome:
    """How a job's run of one slot ended, for the slot's row."""

    status: str  # succeeded | partial | failed | started (a workflow handed to the task queue)
    task_id: str | None
    result: dict[str, Any] | None = None
    error: str | None = None


def replica_name() -> str:
    """This process among the replicas: host, pid and a random part (pids repeat across containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class SlotJob(Protocol):
    """What a kind of schedule does at each of its slots."""

    async def run(self, schedule: ScheduleRecord, slot: float, when: datetime) -> SlotOutcome: ...


class Scheduler:
    def __init__(self, settings: Settings, store: Store, jobs: Mapping[str, SlotJob], *, clock: Clock = time.time,
                 holder: str | None = None) -> None:
        from .tools.timetools import zone

        self.settings = settings
        self.store = store
        self.jobs = dict(jobs)
        self.clock = clock
        self.holder = holder or replica_name()
        self.tz = zone(settings.timezone)

    async def tick(self) -> int:
        """Run every due slot this replica wins; how many it ran."""
        ran = 0
        now = self.clock()
        for schedule in await asyncio.to_thread(self.store.schedules):
            job = self.jobs.get(schedule.kind)
            if job is None:  # a kind this replica cannot run: left to one that can, not claimed and dropped
                continue
            slot = latest_slot(schedule.cron, now, schedule.created_at, self.tz)
            if slot is None:
                continue
            if await asyncio.to_thread(self.store.claim_slot, schedule.id, slot, self.holder,
                                       self.settings.reports.claim_ttl_s):
                await self.run_slot(job, schedule, slot)
                ran += 1
        return ran

    async def run_slot(self, job: SlotJob, schedule: ScheduleRecord, slot: float) -> None:
        when = datetime.fromtimestamp(slot, self.tz).astimezone(self.tz)
        try:
            outcome = await job.run(schedule, slot, when)
        except Exception as exc:  # a job's own failures are outcomes; this is a bug or a broken store moment
            outcome = SlotOutcome("failed", None, error=f"{type(exc).__name__}: {exc}")
            log.warning("schedule_slot_failed", schedule=schedule.id, kind=schedule.kind, error=outcome.error)
        await asyncio.to_thread(self.store.finish_slot, schedule.id, slot, self.holder, outcome.status,
                                task_id=outcome.task_id, result=outcome.result, error=outcome.error)

    async def run_forever(self) -> None:
        """The gateway's loop: a tick every ``reports.tick_s``; a failing tick is logged, the loop goes on."""
        while True:
            try:
                await self.tick()
            except Exception as exc:  # a broken database moment must not end the loop for good
                log.warning("schedule_tick_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.settings.reports.tick_s)


# -- workflows -----------------------------------------------------------------------------------------------------

# Queue a workflow's plan as the task ``task_id`` (the gateway's task runner does; see server/triggers.py).
StartWorkflow = Callable[[str, Plan, dict[str, Any], str], Awaitable[None]]


def find_workflow(workflows: WorkflowRegistry, ref: str) -> Workflow:
    """A workflow by name, or from a file when ``ref`` is a path to one."""
    if Path(ref).suffix.lower() in SUFFIXES:
        return load_workflow(ref)
    return workflows.get(ref)


def slot_inputs(plan: Plan, schedule_id: str, when: datetime) -> dict[str, Any]:
    """The slot's time (ISO 8601 with its offset) and the schedule's id, for the inputs the workflow declares."""
    values = {"scheduled_at": when.isoformat(), "schedule_id": schedule_id}
    return {k: v for k, v in values.items() if k in plan.inputs}


def slot_task_id(schedule_id: str, slot: float) -> str:
    """The same id for the same slot, so a replica taking over a dead one's slot cannot queue the run twice."""
    return hashlib.sha256(f"{schedule_id}:{slot:.0f}".encode()).hexdigest()[:16]


@dataclass
class WorkflowJob:
    """Starts the schedule's workflow as a queued task, with the schedule's inputs and the slot's time; the task
    runs (durably, on any replica) like one a signed event started."""

    workflows: WorkflowRegistry
    store: Store
    start: StartWorkflow

    async def run(self, schedule: ScheduleRecord, slot: float, when: datetime) -> SlotOutcome:
        task_id = slot_task_id(schedule.id, slot)
        try:
            workflow = find_workflow(self.workflows, schedule.name)
        except AutoGLMError as exc:
            return SlotOutcome("failed", None, error=" ".join(str(exc).split()))
        inputs = {**(schedule.inputs or {}), **slot_inputs(workflow.plan, schedule.id, when)}
        result = {"workflow": workflow.name, "inputs": inputs}
        if await asyncio.to_thread(self._queued, task_id):
            return SlotOutcome("started", task_id, result)  # queued by the replica that held the slot before
        await self.start(task_id, workflow.plan, inputs, schedule.owner or f"schedule:{schedule.id}")
        log.info("workflow_scheduled_run", schedule=schedule.id, workflow=workflow.name, task_id=task_id)
        return SlotOutcome("started", task_id, result)

    def _queued(self, task_id: str) -> bool:
        try:
            self.store.get_task(task_id)
        except NotFound:
            return False
        return True
