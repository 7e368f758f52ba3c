"""Schedules (a report to run and deliver, or a workflow to start) and slot claims, in the store, so every gateway
replica on one database sees the same ones.

A slot (one cron time of one schedule) is claimed by an INSERT: the primary key (schedule, slot) lets exactly one
replica win, the others see the row and move on. The winner holds a lease on it while it runs; a row still
``running`` after its lease ran out belonged to a replica that died, and the next replica to look takes it over
with a conditional UPDATE (the task leases' pattern, ``Store.claim_tasks``). The row then records the run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import NotFound, StoreError
from . import schema
from .mixin import StoreMixin

SCHEDULE_KINDS = ("report", "workflow")


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    id: str
    name: str  # the report's name; the workflow's name or file
    cron: str
    period: str | None
    emails: list[str]
    webhook: str | None
    owner: str | None
    created_at: float
    kind: str = "report"
    inputs: dict[str, Any] | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "name": self.name, "cron": self.cron, "period": self.period,
                "inputs": self.inputs, "emails": self.emails, "webhook": self.webhook, "owner": self.owner,
                "created_at": self.created_at}


@dataclass(frozen=True, slots=True)
class SlotRecord:
    schedule_id: str
    slot: float
    holder: str
    status: str
    task_id: str | None
    result: dict[str, Any] | None
    error: str | None
    started_at: float
    finished_at: float | None

    def public(self) -> dict[str, Any]:
        return {"schedule_id": self.schedule_id, "slot": self.slot, "holder": self.holder, "status": self.status,
                "task_id": self.task_id, "result": self.result, "error": self.error, "started_at": self.started_at,
                "finished_at": self.finished_at}


class ReportScheduleMixin(StoreMixin):
    """The schedule methods of :class:`~openautoglm.store.sql.Store`."""

    def add_schedule(self, name: str, cron: str, emails: Sequence[str] = (), webhook: str | None = None,
                     period: str | None = None, owner: str | None = None, *, kind: str = "report",
                     inputs: dict[str, Any] | None = None) -> ScheduleRecord:
        if kind not in SCHEDULE_KINDS:
            raise ValueError(f"schedule kind {kind!r} is not one of {SCHEDULE_KINDS}")
        record = ScheduleRecord(uuid.uuid4().hex[:12], name, cron, period, list(emails), webhook, owner,
                                time.time(), kind, inputs)
        values = record.public()
        values["report"] = values.pop("name")
        with self._write() as conn:
            conn.execute(insert(schema.report_schedules).values(**values))
        return record

    def schedules(self, kind: str | None = None) -> list[ScheduleRecord]:
        """Every schedule (the scheduler runs them all), or those of one kind."""
        t = schema.report_schedules
        query = select(t).order_by(t.c.created_at)
        if kind is not None:
            query = query.where(t.c.kind == kind)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [ScheduleRecord(r.id, r.report, r.cron, r.period, list(r.emails or []), r.webhook, r.owner,
                               r.created_at, r.kind, r.inputs) for r in rows]

    def remove_schedule(self, schedule_id: str, kind: str = "report") -> None:
        t = schema.report_schedules
        with self._write() as conn:
            done = conn.execute(delete(t).where(t.c.id == schedule_id, t.c.kind == kind))
        if not done.rowcount:
            lister = "report schedules" if kind == "report" else "workflows schedules"
            raise NotFound(f"no {kind} schedule '{schedule_id}'; `autoglm {lister}` lists them")

    def claim_slot(self, schedule_id: str, slot: float, holder: str, lease_s: float) -> bool:
        """Take ``slot`` of the schedule for ``holder``: True for exactly one claimer per slot (or one taking over
        from a holder whose lease ran out while running)."""
        t = schema.report_slots
        now = time.time()
        try:
            with self._write() as conn:
                conn.execute(insert(t).values(schedule_id=schedule_id, slot=slot, holder=holder,
                                              lease_expires_at=now + lease_s, status="running", started_at=now))
            return True
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
        with self._write() as conn:
            taken = conn.execute(update(t).where(
                t.c.schedule_id == schedule_id, t.c.slot == slot, t.c.status == "running",
                t.c.lease_expires_at < now).values(holder=holder, lease_expires_at=now + lease_s, started_at=now))
        return bool(taken.rowcount)

    def finish_slot(self, schedule_id: str, slot: float, holder: str, status: str, *, task_id: str | None = None,
                    result: dict[str, Any] | None = None, error: str | None = None) -> bool:
        """Record how ``holder``'s run of the slot ended; False if it no longer held it."""
        t = schema.report_slots
        with self._write() as conn:
            done = conn.execute(update(t).where(and_(t.c.schedule_id == schedule_id, t.c.slot == slot,
                                                     t.c.holder == holder))
                                .values(status=status, task_id=task_id, result=result, error=error,
                                        finished_at=time.time()))
        return bool(done.rowcount)

    def report_runs(self, limit: int = 50, schedule_id: str | None = None) -> list[SlotRecord]:
        t = schema.report_slots
        query = select(t).order_by(t.c.started_at.desc()).limit(limit)
        if schedule_id is not None:
            query = query.where(t.c.schedule_id == schedule_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [SlotRecord(r.schedule_id, r.slot, r.holder, r.status, r.task_id, r.result, r.error, r.started_at,
                           r.finished_at) for r in rows]
