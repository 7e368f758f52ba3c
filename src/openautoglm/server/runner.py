"""Runs tasks for the gateway: durably queued in the store, a bounded number at once, each under a lease, each
observed (spans, metrics, logs) and streamable.

A task accepted by ``POST /v1/tasks`` is written to the store as ``queued`` with its :class:`TaskSpec` before the
202, so it runs even if this process dies the next instant. The dispatcher claims queued tasks (and tasks whose
holder died: their lease lapsed) up to ``max_running_tasks`` and runs each under a lease that a heartbeat renews.
A task that got as far as a plan resumes from its event log: finished steps keep their results. A chat is reserved
for this process (queued under its lease) and runs here at once; if the process dies it is taken over the same way.

Live events go to followers through ``live.py``: this process's followers at once, and with Redis configured
every replica's followers through pub/sub; without it a task running on another replica is followed by reading
its log, so ``GET /v1/tasks/{id}/events`` works wherever the task runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from opentelemetry import trace

from ..app import AutoGLM, RunResult, new_task_id
from ..errors import AutoGLMError
from ..events import Event, EventKind, EventSink
from ..leases import Leases
from ..orchestrator import LEGACY_TASK_ROLE
from ..plan import parse_plan
from ..store import TERMINAL, TaskRecord
from ..taskspec import TaskSpec
from .live import LiveEvents
from .metrics import Metrics
from .telemetry import TaskObserver

log = structlog.get_logger("openautoglm.gateway")

__all__ = ["TERMINAL", "TaskRunner", "TaskSpec"]

Start = Callable[[str, EventSink], Awaitable[RunResult]]


class TaskRunner:
    def __init__(self, glm: AutoGLM, metrics: Metrics, tracer: trace.Tracer, max_running: int,
                 lease_ttl_s: float = 5.0, live: LiveEvents | None = None) -> None:
        """``live``: where the events of the tasks run here go for live followers (live.py; default: this
        process's followers only)."""
        self.glm = glm
        self.live = live or LiveEvents()
        self.metrics = metrics
        self.tracer = tracer
        self.max_running = max_running
        self.leases = Leases(glm.store, lease_ttl_s)
        self._slots = asyncio.Semaphore(max_running)
        self._waiting = 0
        self._busy = 0  # tasks in run() here: running or waiting for a slot
        self._starting = 0  # tasks claimed and not yet in run()
        self.active: set[str] = set()  # task ids running in this process
        self._jobs: dict[str, asyncio.Task[Any]] = {}  # task id -> the job running it here
        self._in_flight: dict[str, int] = {}  # task id -> its steps started and not yet over
        self._draining = False
        self._background: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None

    # -- the queue ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start claiming queued tasks: at once (what a dead process left behind), then on every submit and poll."""
        self._loop = asyncio.get_running_loop()
        self.live.bind(self._loop)
        self._wake = asyncio.Event()
        try:
            await asyncio.to_thread(self.leases.expire_dead_holders)
        except Exception as exc:  # only a shortcut: their leases lapse by time anyway
            log.warning("dead_holder_check_failed", error=str(exc))
        self._dispatcher = asyncio.create_task(self._dispatch(), name="task-dispatcher")

    async def submit(self, spec: TaskSpec, *, owner: str | None, role: str, session_id: str | None = None,
                     task_id: str | None = None) -> str:
        """Accept a task: stored as queued (durable) before this returns its id; a worker claims it. ``task_id``:
        the caller's (a schedule's slot names its run), else a new one."""
        task_id = task_id or new_task_id()
        await asyncio.to_thread(self.glm.store.enqueue_task, task_id, spec.title(), spec.model_dump(),
                                owner=owner, role=role, session_id=session_id)
        self.wake()
        return task_id

    async def reserve(self, spec: TaskSpec, *, owner: str | None, role: str, session_id: str | None = None) -> str:
        """Accept a task to :meth:`run` here at once (a chat): stored as queued under this process's lease."""
        task_id = new_task_id()
        await asyncio.to_thread(self.glm.store.enqueue_task, task_id, spec.title(), spec.model_dump(),
                                owner=owner, role=role, session_id=session_id, holder=self.leases.holder,
                                lease_s=self.leases.ttl_s)
        return task_id

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _dispatch(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()  # before claiming: a submit during the claim wakes the next round
            free = self.max_running - self._busy - self._starting
            if free > 0:
                try:
                    claimed = await asyncio.to_thread(self.glm.store.claim_tasks, self.leases.holder, free,
                                                      self.leases.ttl_s)
                except Exception as exc:  # the database is away: the tasks wait in it, try again next round
                    log.warning("claim_failed", error=str(exc))
                    claimed = []
                for record in claimed:
                    self._launch(record)
            with contextlib.suppress(TimeoutError):  # polls too: other replicas' submits, lapsed leases
                await asyncio.wait_for(self._wake.wait(), timeout=self.leases.interval_s)

    def _launch(self, record: TaskRecord) -> None:
        log.info("task_claimed", task_id=record.id, status=record.status, holder=self.leases.holder)
        self._starting += 1  # counted from the claim on, so the next round claims no more than the free slots

        async def go() -> None:
            try:
                task_type, start = await self._starter(record)
            except Exception as exc:  # a spec this version cannot run: failed, so no worker claims it again
                log.exception("task_unstartable", task_id=record.id)
                await asyncio.to_thread(self.leases.release, record.id, "failed", f"{type(exc).__name__}: {exc}")
                return
            finally:
                self._starting -= 1
            try:
                await self.run(task_type, start, task_id=record.id, owner=record.owner)
            except AutoGLMError as exc:  # recorded in the task's row and log; nobody awaits this
                log.info("background_task_error", task_id=record.id, error=str(exc))
            except Exception:
                log.exception("background_task_crashed", task_id=record.id)

        self.keep(asyncio.create_task(go(), name=f"task:{record.id}"))

    async def _starter(self, record: TaskRecord) -> tuple[str, Start]:
        """How to run a claimed task: on from its log when it has a plan, else from its spec."""
        glm = self.glm
        spec = TaskSpec.model_validate(record.spec or {"kind": "request", "request": record.request})
        events = await asyncio.to_thread(glm.store.events, record.id)
        if any(e.kind == EventKind.PLAN_MADE for e in events):
            return spec.kind, lambda tid, sink: glm.resume(tid, on_event=sink, leased=True)
        role = record.role or LEGACY_TASK_ROLE
        if spec.kind == "plan":
            plan = parse_plan(spec.plan or {})
            return spec.kind, lambda tid, sink: glm.execute(plan, inputs=spec.inputs, owner=record.owner,
                                                            on_event=sink, task_id=tid, role=role, leased=True)
        history = spec.turns()
        return spec.kind, lambda tid, sink: glm.run(spec.request or "", session_id=record.session_id,
                                                    owner=record.owner, on_event=sink, task_id=tid, role=role,
                                                    history=history, instructions=spec.instructions,
                                                    leased=True)

    async def cancel(self, task_id: str) -> bool:
        """Cancel a task that is not over: at once if it runs here, else at its holder's next heartbeat."""
        cancelled = await asyncio.to_thread(self.glm.store.cancel_task, task_id)
        job = self._jobs.get(task_id)
        if cancelled and job is not None:
            job.cancel()
        return cancelled

    async def resume(self, task_id: str) -> bool:
        """Put a stopped task back in the queue; a worker resumes it from its log."""
        requeued = await asyncio.to_thread(self.glm.store.requeue_task, task_id)
        if requeued:
            self.wake()
        return requeued

    # -- running ----------------------------------------------------------------------------------------------

    async def run(self, task_type: str, start: Start, task_id: str | None = None, on_event: EventSink | None = None,
                  owner: str | None = None) -> RunResult:
        """Wait for a slot, then ``start(task_id, sink)`` under the task's lease (claimed or reserved already,
        renewed here, given back at the end); the sink feeds telemetry, live streams and ``on_event``."""
        task_id = task_id or new_task_id()
        self._loop = asyncio.get_running_loop()
        self.live.bind(self._loop)
        job = asyncio.current_task()
        if job is not None:
            self._jobs[task_id] = job
        self.leases.hold(task_id, job)
        self._busy += 1
        unfinished, failure, stopped = "interrupted", None, False
        try:
            return await self._run_in_slot(task_type, start, task_id, on_event, owner)
        except asyncio.CancelledError:
            stopped = True
            raise
        except Exception as exc:  # not a stop: the task cannot go on, and no worker should pick it up again
            unfinished, failure = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._busy -= 1
            self._jobs.pop(task_id, None)
            self._in_flight.pop(task_id, None)
            await asyncio.to_thread(self._finish, task_id, unfinished, failure, stopped)
            # After the row says how it ended, so a follower that wakes on this finds the task over.
            self.live.publish_end(task_id)
            self.wake()

    def _finish(self, task_id: str, unfinished: str, failure: str | None, stopped: bool) -> None:
        """Give the lease back; a task stopped because it was cancelled on request gets the event that says so."""
        store = self.glm.store
        if stopped and self.leases.holds(task_id):
            task = store.get_task(task_id)
            if task.status == "cancelled" and task.lease_owner == self.leases.holder:
                store.append(Event(task_id, store.last_seq(task_id) + 1, EventKind.TASK_FAILED, time.time(), None,
                                   {"error": "cancelled on request", "error_type": "Cancelled"}))
                store.flush()
        self.leases.release(task_id, unfinished, failure)

    async def _run_in_slot(self, task_type: str, start: Start, task_id: str, on_event: EventSink | None,
                           owner: str | None) -> RunResult:
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
            self._count_steps(ev)
            observer(ev)
            self.live.publish(ev)
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
            self.active.discard(task_id)
            self._slots.release()
            self.metrics.tasks_running.dec()
            status = result.status if result else ("cancelled" if isinstance(error, asyncio.CancelledError)
                                                   else "failed")
            observer.close(status, error)
            log.info("task_finished", task_id=task_id, trace_id=observer.trace_id, type=task_type, status=status,
                     error=str(error) if error else None)
            bound.__exit__(None, None, None)

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a reference to a task nobody awaits (a chat whose client went away), so it runs to the end."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self, grace_s: float = 30.0) -> None:
        """Drain: stop claiming; stop each running task at its next step boundary (no step in flight), or after
        ``grace_s`` whatever it is doing; each is left ``interrupted`` with its lease given back, for the next
        process to resume from its log. Then the heartbeat stops."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        self._draining = True
        for task_id in list(self._jobs):
            if not self._in_flight.get(task_id):
                self._stop(task_id)
        if self._background:
            _, late = await asyncio.wait(list(self._background), timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self.leases.aclose()
        await self.live.aclose()

    def _count_steps(self, ev: Event) -> None:
        """Follow which steps are in flight; while draining, stop a task the moment none is. The stop lands
        before the executor's next step begins (a step task cancelled before it first runs never calls its tool)."""
        if ev.kind == EventKind.STEP_STARTED:
            self._in_flight[ev.task_id] = self._in_flight.get(ev.task_id, 0) + 1
        elif ev.kind in (EventKind.STEP_FINISHED, EventKind.STEP_FAILED):
            left = self._in_flight.get(ev.task_id, 1) - 1
            self._in_flight[ev.task_id] = left
            if left <= 0 and self._draining:
                self._stop(ev.task_id)

    def _stop(self, task_id: str) -> None:
        job = self._jobs.get(task_id)
        if job is not None:
            log.info("task_drained", task_id=task_id)
            job.cancel()

    # -- live events (live.py) ----------------------------------------------------------------------------------

    def running_here(self, task_id: str) -> bool:
        return task_id in self._jobs

