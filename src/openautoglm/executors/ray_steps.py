"""``executor: ray``: each attempt of a step runs as a Ray task on a cluster (``ray_address``).

Only the tool call moves. Everything around it (the DAG, timeouts, the retry policy, approvals, idempotency keys,
compensations and every event) stays in :class:`~openautoglm.engine.Executor`, in the task's process, so a task
on Ray has the same trace as a local one, plus one ``step.worker`` event per attempt saying where it ran.

- The tool object travels with its arguments (Ray's cloudpickle; put in the object store once per tool). The
  worker builds a :class:`ToolContext` of its own: ``emit`` collects the tool's events, which come back with the
  result and go into the task's log, in order, before ``step.finished``. Workers must be able to import
  ``openautoglm`` and the module of every tool they run (the same environment, or Ray's ``runtime_env``).
- A tool that holds this process's services (``Tool.portable = False``: model calls, nested workflows, SQL
  connections...) or that cannot be pickled runs here instead, recorded as ``step.worker`` with ``status: local``.
- A worker (or its node) that dies mid-step is not the step's failure: the attempt is sent again, up to
  ``ray_worker_retries`` times, each loss recorded (``step.worker`` ``lost`` and ``step.retry``); Ray's own
  retries are off (``max_retries=0``) so that none goes unrecorded. A tool's own exception comes back as itself
  and meets the step's retry policy as it would locally.
- A step that times out (or a task stopped) has its Ray task cancelled, its worker killed.
- Before the first step of the process's first plan (``prepare``), out of every step's timeout: join the cluster
  and start one worker per step slot with the package imported (workers start on demand, and importing
  ``openautoglm`` takes seconds on a busy machine).
"""

from __future__ import annotations

import asyncio
import os
import pickle
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from ..engine import Executor, describe
from ..errors import ToolError, WorkerLost
from ..events import EventKind
from ..ray_connect import connect
from ..tools.base import Tool, ToolContext
from . import executors

EXECUTOR = "ray"


@dataclass(frozen=True, slots=True)
class _StepCall:
    """What a worker needs besides the tool and its arguments to build the tool's context."""

    task_id: str
    step_id: str
    role: str
    session_id: str | None
    attempt: int


@dataclass(slots=True)
class _Outcome:
    """What comes back from a worker: where it ran, the tool's events, and its output or its exception."""

    node: str
    pid: int
    events: list[tuple[str, dict[str, Any]]]
    value: Any = None
    error: BaseException | None = None


def _run_step(tool: Tool, args: dict[str, Any], call: _StepCall) -> _Outcome:
    """The body of the Ray task, in a worker process."""
    import ray

    events: list[tuple[str, dict[str, Any]]] = []
    ctx = ToolContext(call.task_id, call.step_id, lambda kind, **data: events.append((str(kind), data)),
                      call.role, call.session_id, attempt=call.attempt)
    outcome = _Outcome(ray.get_runtime_context().get_node_id(), os.getpid(), events)
    try:
        outcome.value = _worker_loop().run_until_complete(tool(args, ctx))
    except Exception as exc:  # the tool's own failure: carried back, so the driver's retry policy sees it
        outcome.error = _portable(exc)
    return outcome


_remote: tuple[str, Any] | None = None  # (connection, the remote function made for it)
_remote_lock = threading.Lock()


def _connection() -> str:
    import ray

    context = ray.get_runtime_context()
    return f"{context.get_node_id()}/{context.get_job_id()}"  # job ids start again in each new cluster


def _remote_step() -> Any:
    """The Ray remote function of :func:`_run_step`, made once per connection: two made at once by concurrent
    first steps were seen to leave both steps' tasks waiting forever."""
    global _remote
    with _remote_lock:
        connection = _connection()
        if _remote is None or _remote[0] != connection:
            import ray

            _remote = (connection, ray.remote(_run_step))
        return _remote[1]


_warmed: str | None = None  # the connection (driver's node and job) whose workers were warmed


def _import_tools() -> None:
    """In a worker: what the first step would import (the package and its built-in tools), while it holds the
    worker for a moment so that each warm-up call gets a worker of its own."""
    import time

    import openautoglm.tools.builtin  # noqa: F401

    time.sleep(0.3)


async def _warm(num_cpus: float) -> None:
    """Start one worker per step slot of the cluster and import the package in each, once per process: a worker
    starts on demand and importing ``openautoglm`` takes seconds on a busy machine, which would otherwise come out
    of the first steps' timeouts."""
    global _warmed
    import ray

    job = _connection()
    if _warmed == job:
        return

    slots = max(1, int(ray.cluster_resources().get("CPU", 1) // num_cpus))
    warm = ray.remote(_import_tools).options(num_cpus=num_cpus, scheduling_strategy="SPREAD", max_retries=0)
    await asyncio.gather(*(warm.remote() for _ in range(slots)), return_exceptions=True)
    _warmed = job


_loop: asyncio.AbstractEventLoop | None = None


def _worker_loop() -> asyncio.AbstractEventLoop:
    """One event loop per worker process, kept between steps (a new one per step costs a share of the overhead)."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop


def _portable(exc: Exception) -> BaseException:
    """``exc`` if it survives pickling (it goes back to the driver), else a ToolError saying what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        stand_in = ToolError(describe(exc))
        stand_in.retryable = getattr(exc, "retryable", True)  # an unknown exception: retry if the policy allows
        return stand_in


@executors.register(EXECUTOR)
@dataclass
class RayExecutor(Executor):
    """Runs each attempt of each portable step as a Ray task (see the module's docstring)."""

    # The cluster (``ray_address``: "host:port" of its head, or "auto"); None: RAY_ADDRESS, else a Ray started
    # in this process.
    address: str | None = None
    # How many times a step whose worker died is sent again before it fails with WorkerLost.
    worker_retries: int = 3
    # What each step reserves on its node: with 1, a node runs as many steps at once as it has CPUs.
    num_cpus: float = 1.0
    _refs: dict[int, tuple[Tool, Any]] = field(default_factory=dict, init=False, repr=False)
    _local: dict[int, str] = field(default_factory=dict, init=False, repr=False)
    _task: Any = field(default=None, init=False, repr=False)

    @classmethod
    def for_settings(cls, settings: Any, **common: Any) -> Executor:
        return cls(address=settings.ray_address, worker_retries=settings.ray_worker_retries, **common)

    async def invoke(self, tool: Tool, args: dict[str, Any], ctx: ToolContext) -> Any:
        task = await self._ready()
        tool_ref = self._tool_ref(tool)
        if tool_ref is None:
            ctx.emit(EventKind.STEP_WORKER, executor=EXECUTOR, attempt=ctx.attempt, status="local",
                     reason=self._local[id(tool)])
            return await tool(args, ctx)
        call = _StepCall(ctx.task_id, ctx.step_id, ctx.role, ctx.session_id, ctx.attempt)
        from ray.exceptions import (
            LocalRayletDiedError,
            NodeDiedError,
            ObjectLostError,
            OwnerDiedError,
            WorkerCrashedError,
        )

        lost = 0
        while True:
            ref = task.remote(tool_ref, args, call)
            try:
                outcome: _Outcome = await ref
            except asyncio.CancelledError:
                _cancel(ref)
                raise
            except (WorkerCrashedError, NodeDiedError, LocalRayletDiedError, ObjectLostError,
                    OwnerDiedError) as exc:
                lost += 1
                why = f"{type(exc).__name__}: {_first_line(exc)}"
                ctx.emit(EventKind.STEP_WORKER, executor=EXECUTOR, attempt=ctx.attempt, status="lost", error=why)
                if lost > self.worker_retries:
                    raise WorkerLost(f"step '{ctx.step_id}': its Ray worker died {lost} time{'s' if lost > 1 else ''} "
                                     f"(ray_worker_retries: {self.worker_retries}); last: {why}") from exc
                # Not the tool's failure: the same attempt again, on whichever worker the cluster gives it.
                ctx.emit(EventKind.STEP_RETRY, attempt=ctx.attempt, delay_s=0.0, error=why,
                         error_type=type(exc).__name__)
                continue
            ctx.emit(EventKind.STEP_WORKER, executor=EXECUTOR, attempt=ctx.attempt, status="ran",
                     node=outcome.node, pid=outcome.pid)
            for kind, data in outcome.events:
                ctx.emit(kind, **data)
            if outcome.error is not None:
                raise outcome.error
            return outcome.value

    async def prepare(self) -> None:
        await self._ready()

    async def _ready(self) -> Any:
        """The remote step function, once connected and the cluster's workers warmed (once per process)."""
        if self._task is None:
            await connect(self.address, "executor: ray")
            await _warm(self.num_cpus)
            self._task = _remote_step().options(max_retries=0, num_cpus=self.num_cpus, name="autoglm-step")
        return self._task

    def _tool_ref(self, tool: Tool) -> Any:
        """The tool in the object store (put once), or None when it runs here (reason in ``_local``)."""
        key = id(tool)
        if key in self._local:
            return None
        held = self._refs.get(key)
        if held is not None and held[0] is tool:
            return held[1]
        if not tool.portable:
            self._local[key] = f"{tool.name} holds this process's services (Tool.portable is False)"
            return None
        import ray

        try:
            ref = ray.put(tool)
        except Exception as exc:  # a lock, a connection, a generator inside: it cannot travel
            self._local[key] = f"{tool.name} cannot be sent to a worker: {type(exc).__name__}: {_first_line(exc)}"
            return None
        self._refs[key] = (tool, ref)  # the tool itself is kept too, so its id is not reused by another
        return ref


def _cancel(ref: Any) -> None:
    import ray

    with suppress(Exception):  # already finished, or the cluster is gone: nothing left to stop
        ray.cancel(ref, force=True)  # a step past its timeout must stop using its worker


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
