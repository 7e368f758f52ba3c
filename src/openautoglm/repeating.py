"""One background step repeated on the running event loop: the policy book's poll of the store, the policy loop's
look at the signals and the replicas' node sync all run this way, so starting, surviving a failed step and stopping
are written once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import AutoGLMError


class Repeating:
    """``step`` every ``interval_s`` seconds (sleeping first) once :meth:`start`-ed, until :meth:`aclose`.

    A step that raises :class:`AutoGLMError` (a database hiccup) is logged as a warning ``failed`` on ``log``;
    anything else (a driver's own error, a bug) as an error with its traceback. Either way the next step tries
    again: in a long-running gateway a loop that ended silently would leave policies unapplied and nodes unsynced
    until a restart."""

    def __init__(self, step: Callable[[], Awaitable[object]], log: Any, failed: str) -> None:
        self._step = step
        self._log = log
        self._failed = failed
        self._task: asyncio.Task[None] | None = None

    def start(self, interval_s: float) -> None:
        """Begin on the running event loop; a no-op while already running."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(interval_s))

    async def _run(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self._step()
            except AutoGLMError as exc:
                self._log.warning(self._failed, error=str(exc))
            except Exception as exc:
                self._log.error(self._failed, error=f"{type(exc).__name__}: {exc}", exc_info=exc)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # RuntimeError: the task's event loop may be closed already (a test's or a replica's shutdown)
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._task
            self._task = None
