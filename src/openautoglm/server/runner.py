"""Runs tasks for the gateway: a bounded number at once, each observed (spans, metrics, logs) and streamable.

Live events reach subscribers through in-process queues; a task running on another replica is followed by
reading the store, so ``GET /v1/tasks/{id}/events`` works wherever the task runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from opentelemetry import trace

from ..app import AutoGLM, RunResult, new_task_id
from ..errors import AutoGLMError
from ..events import Event, EventSink
from .metrics import Metrics
from .telemetry import TaskObserver

log = structlog.get_logger("openautoglm.gateway")

TERMINAL = {"succeeded", "partial", "failed", "needs_input", "cancelled"}


class TaskRunner:
    def __init__(self, glm: AutoGLM, metrics: Metrics, tracer: trace.Tracer, max_running: int) -> None:
        self.glm = glm
        self.metrics = metrics
        self.tracer = tracer
        self._slots = asyncio.Semaphore(max_running)
        self._waiting = 0
        self.queued: dict[str, str] = {}  # task id -> owner, for tasks accepted but not yet in the store
        self.active: set[str] = set()  # task ids running in this process
        self._background: set[asyncio.Task[Any]] = set()
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- running ----------------------------------------------------------------------------------------------

    async def run(self, task_type: str, start: Callable[[str, EventSink], Awaitable[RunResult]],
                  task_id: str | None = None, on_event: EventSink | None = None,
                  owner: str | None = None) -> RunResult:
        """Wait for a slot, then ``start(task_id, sink)``; the sink feeds telemetry, live streams and ``on_event``."""
        task_id = task_id or new_task_id()
        self._loop = asyncio.get_running_loop()
        self._waiting += 1
        self.metrics.queue_depth.set(self._waiting)
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
            self.metrics.queue_depth.set(self._waiting)
        # The task's spans join the request's trace, so logs, spans and the response header share one trace id.
        parent = structlog.contextvars.get_contextvars().get("trace_id")
        observer = TaskObserver(self.tracer, self.metrics, task_id, task_type, parent_trace_id=parent)
        self.active.add(task_id)
        bound = structlog.contextvars.bound_contextvars(task_id=task_id, trace_id=observer.trace_id)
        bound.__enter__()
        self.metrics.tasks_running.inc()

        def sink(ev: Event) -> None:
            observer(ev)
            self._publish(ev)
            if on_event is not None:
                on_event(ev)

        log.info("task_started", task_id=task_id, trace_id=observer.trace_id, type=task_type, owner=owner)
        result: RunResult | None = None
        error: BaseException | None = None
        try:
            result = await start(task_id, sink)
            return result
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.queued.pop(task_id, None)
            self.active.discard(task_id)
            self._slots.release()
            self.metrics.tasks_running.dec()
            status = result.status if result else ("cancelled" if isinstance(error, asyncio.CancelledError)
                                                   else "failed")
            observer.close(status, error)
            log.info("task_finished", task_id=task_id, trace_id=observer.trace_id, type=task_type, status=status,
                     error=str(error) if error else None)
            self._publish_end(task_id)
            bound.__exit__(None, None, None)

    def submit(self, task_type: str, start: Callable[[str, EventSink], Awaitable[RunResult]],
               owner: str | None) -> str:
        """Start a task in the background and return its id at once."""
        task_id = new_task_id()
        self.queued[task_id] = owner or ""

        async def go() -> None:
            try:
                await self.run(task_type, start, task_id=task_id, owner=owner)
            except AutoGLMError as exc:  # recorded in the task's log by the facade; nobody awaits this
                log.info("background_task_error", task_id=task_id, error=str(exc))
            except Exception:
                log.exception("background_task_crashed", task_id=task_id)

        task = asyncio.create_task(go(), name=f"task:{task_id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task_id

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a reference to a task nobody awaits (a chat whose client went away), so it runs to the end."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # -- live events ------------------------------------------------------------------------------------------

    def subscribe(self, task_id: str) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.setdefault(task_id, set()).add(queue)
        return queue

    def unsubscribe(self, task_id: str, queue: asyncio.Queue[Event]) -> None:
        subs = self._subscribers.get(task_id)
        if subs is not None:
            subs.discard(queue)
            if not subs:
                self._subscribers.pop(task_id, None)

    def running_here(self, task_id: str) -> bool:
        return task_id in self.active or task_id in self.queued

    def _publish(self, ev: Event) -> None:
        subs = self._subscribers.get(ev.task_id)
        if not subs:
            return
        loop = self._loop
        for queue in subs:
            if loop is None or _in_loop(loop):
                queue.put_nowait(ev)
            else:  # a tool emitting from a worker thread: asyncio queues are not thread-safe
                loop.call_soon_threadsafe(queue.put_nowait, ev)

    def _publish_end(self, task_id: str) -> None:
        # A sentinel event with seq 0 tells live readers the task is over on this replica.
        for queue in self._subscribers.get(task_id, ()):
            queue.put_nowait(Event(task_id, 0, "stream.end", 0.0))


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
