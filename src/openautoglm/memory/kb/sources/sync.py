"""Syncing the configured sources: once (``autoglm kb sync``), or every ``knowledge.sync_interval_s`` (gateway),
once per slot across the gateway replicas that share a store."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from ....errors import AutoGLMError
from ..ingest import FileError, IngestReport
from .base import Source

if TYPE_CHECKING:
    from ..base import KnowledgeBase

log = structlog.get_logger("openautoglm.kb.sync")


async def sync_sources(kb: KnowledgeBase, sources: Sequence[Source]) -> dict[str, IngestReport]:
    """Sync each source in turn; a source that cannot be read gets a report with one failure and keeps what the
    knowledge base already had of it; the others go on."""
    reports: dict[str, IngestReport] = {}
    for source in sources:
        try:
            reports[source.name] = await source.sync(kb)
        except AutoGLMError as exc:
            reports[source.name] = IngestReport(failed=[FileError(source.name, str(exc))])
    return reports


class SlotClaims(Protocol):
    """The store's slot claims (``store/report_schedules.py``): one claimer per (schedule, slot) across replicas."""

    def claim_slot(self, schedule_id: str, slot: float, holder: str, lease_s: float) -> bool: ...

    def finish_slot(self, schedule_id: str, slot: float, holder: str, status: str, *, task_id: str | None = None,
                    result: dict[str, Any] | None = None, error: str | None = None) -> bool: ...


class SyncSchedule:
    """Runs ``sync()`` once per slot of ``interval_s`` seconds (slots aligned on the epoch, so every replica sees
    the same ones) in the background until closed. With ``claims`` (the store that every gateway replica shares),
    a slot is run by the one replica that claims it; the others skip it. Each run is logged and recorded on its
    slot; a run that raises is logged, recorded as failed, and the next slot tries again."""

    SCHEDULE_ID = "kb-sync"

    def __init__(self, sync: Callable[[], Awaitable[dict[str, IngestReport]]], interval_s: float, *,
                 claims: SlotClaims | None = None, holder: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.sync = sync
        self.interval_s = interval_s
        self.claims = claims
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.clock = clock
        self.runs = 0
        self.skipped = 0  # slots another replica claimed
        self.last: dict[str, IngestReport] | None = None
        self._task: asyncio.Task[None] | None = None

    def slot_of(self, now: float) -> float:
        return math.floor(now / self.interval_s) * self.interval_s

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="kb-sync")

    async def tick(self) -> bool:
        """Run the current slot if this replica wins it; True when it ran."""
        slot = self.slot_of(self.clock())
        if self.claims is not None:
            # the lease outlasts the slot: a replica that dies mid-run is taken over at the earliest next slot
            claimed = await asyncio.to_thread(self.claims.claim_slot, self.SCHEDULE_ID, slot, self.holder,
                                              self.interval_s)
            if not claimed:
                self.skipped += 1
                return False
        status, error, result = "succeeded", None, None
        try:
            self.last = await self.sync()
            result = {name: report.summary() for name, report in self.last.items()}
            for name, report in self.last.items():
                log.info("kb.sync", source=name, summary=report.summary(),
                         failed=[f.error for f in report.failed] or None)
        except Exception as exc:  # the schedule outlives one bad run; the next slot tries again
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            log.warning("kb.sync.failed", error=error)
        self.runs += 1
        if self.claims is not None:
            await asyncio.to_thread(self.claims.finish_slot, self.SCHEDULE_ID, slot, self.holder, status,
                                    result=result, error=error)
        return True

    async def _loop(self) -> None:
        while True:
            await self.tick()
            now = self.clock()
            await asyncio.sleep(max(0.0, self.slot_of(now) + self.interval_s - now))

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
