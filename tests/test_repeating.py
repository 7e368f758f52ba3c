"""A background loop (policy poll, policy loop, node sync) outlives a failed step of any kind."""

from __future__ import annotations

import asyncio
from typing import Any

from openautoglm.errors import StoreError
from openautoglm.repeating import Repeating


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append(("warning", event, fields))

    def error(self, event: str, **fields: Any) -> None:
        self.lines.append(("error", event, fields))


async def test_a_step_that_fails_in_any_way_is_logged_and_the_next_one_runs() -> None:
    failures: list[BaseException] = [StoreError("database is locked"), ConnectionResetError("server closed")]
    done = asyncio.Event()
    ran: list[int] = []

    async def step() -> None:
        ran.append(1)
        if failures:
            raise failures.pop(0)
        done.set()

    log = _Log()
    repeating = Repeating(step, log, "sync failed")
    repeating.start(0.01)
    try:
        await asyncio.wait_for(done.wait(), 5)
    finally:
        await repeating.aclose()
    assert len(ran) >= 3
    assert [(level, event) for level, event, _ in log.lines] == [("warning", "sync failed"), ("error", "sync failed")]
    assert log.lines[1][2]["error"] == "ConnectionResetError: server closed"
