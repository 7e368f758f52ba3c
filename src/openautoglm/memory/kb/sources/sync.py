"""Syncing the configured sources: once (``autoglm kb sync``), or every ``knowledge.sync_interval_s`` (gateway)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

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


class SyncSchedule:
    """Runs ``sync()`` every ``interval_s`` seconds in the background until closed; each run is logged, and a run
    that raises is logged and retried at the next tick instead of stopping the schedule."""

    def __init__(self, sync: Callable[[], Awaitable[dict[str, IngestReport]]], interval_s: float) -> None:
        self.sync = sync
        self.interval_s = interval_s
        self.runs = 0
        self.last: dict[str, IngestReport] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="kb-sync")

    async def _loop(self) -> None:
        while True:
            try:
                self.last = await self.sync()
                for name, report in self.last.items():
                    log.info("kb.sync", source=name, summary=report.summary(),
                             failed=[f.error for f in report.failed] or None)
            except Exception as exc:  # the schedule outlives one bad run; the next tick tries again
                log.warning("kb.sync.failed", error=f"{type(exc).__name__}: {exc}")
            self.runs += 1
            await asyncio.sleep(self.interval_s)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
