"""The executor: runs a validated Plan, step by step, as soon as each step's inputs are ready.

There is no level-by-level barrier: when a step finishes, each dependent whose last dependency that was starts at
once. Each step has a timeout and a retry policy with exponential backoff. A step that fails for good marks every
step downstream of it skipped, with the reason; the rest of the plan goes on. Every start, retry, result, denial
and skip is an event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from .conditions import ConditionError, parse_condition
from .errors import AutoGLMError, PlanError, StepTimeout, TaskTimeout, ToolError, ToolPermissionError
from .events import EventEmitter, EventKind
from .models.base import ChatModel
from .plan import Compensation, Plan, RetryPolicy, Step, render, resolve, step_dependencies, validate_plan
from .results import StepResult, StepStatus
from .tools.base import Tool, ToolContext, ToolRegistry

PREVIEW_CHARS = 2000


Approver = Callable[[Tool, dict[str, Any], ToolContext], Awaitable[bool]]
# Asked about a call this task started before a crash, whose outcome is unknown (``why`` in words; the call was
# started at ``since``): whether to run it again, and the decision in words (who decided, their reason).
# :meth:`~openautoglm.tools.approval.ApprovalBroker.rerun` files it as an approval request in the store and waits.
Rerun = Callable[[Tool, dict[str, Any], ToolContext, str, float], Awaitable[tuple[bool, str]]]


class RecordedKey(Protocol):
    """An idempotency key as the ledger holds it."""

    @property
    def status(self) -> str:  # "started" (claimed, outcome not known yet) or "done"
        ...

    @property
    def output(self) -> Any: ...

    @property
    def task_id(self) -> str: ...

    @property
    def created_at(self) -> float:  # when it was claimed
        ...


class IdempotencyLedger(Protocol):
    """Where idempotency keys live (``Store`` implements it): shared by every process on the same database."""

    def claim_key(self, key: str, tool: str, task_id: str, step_id: str) -> RecordedKey | None:
        """Claim ``key`` for this step; None when claimed now, else the record that holds it already."""

    def complete_key(self, key: str, output: Any) -> None: ...

    def release_key(self, key: str) -> None: ...

    def recorded_key(self, key: str) -> RecordedKey | None: ...


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    text = render(value)
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"


@dataclass
class Executor:
    tools: ToolRegistry
    default_timeout_s: float = 30.0
    default_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(attempts=2, backoff_s=0.5))
    approver: Approver | None = None
    max_concurrency: int | None = None
    # Given to tools in their context (``ctx.model``); a lazy stand-in, so making an executor loads nothing.
    model: ChatModel | None = None
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    clock: Callable[[], float] = time.time
    # Where steps' idempotency keys are claimed and their outputs recorded; None: keys are not enforced.
    ledger: IdempotencyLedger | None = None
    # A dry run: tools with side effects are not called; their outputs are made up (Tool.simulate) or recorded.
    simulate: bool = False
    # Who decides on a call whose outcome a crash left unknown, when its tool cannot reconcile; None: the step fails.
    rerun: Rerun | None = None

    async def run(
        self,
        plan: Plan,
        emitter: EventEmitter,
        inputs: Mapping[str, Any] | None = None,
        role: str = "admin",
        session_id: str | None = None,
        done: Mapping[str, StepResult] | None = None,
    ) -> dict[str, StepResult]:
        """Run ``plan``; ``done`` holds results of steps already finished (when resuming), which are not rerun."""
        inputs = {name: spec.default for name, spec in plan.inputs.items() if spec.default is not None} | dict(
            inputs or {}
        )
        validate_plan(plan, self.tools.schemas(), inputs)
        await self.prepare()
        return await _Run(self, plan, emitter, inputs, role, session_id, dict(done or {})).go()

    async def prepare(self) -> None:
        """Ready whatever runs the steps before the first one starts, outside every step's timeout (an executor
        that joins a cluster does it here). Called before each plan; after the first time it should cost nothing."""

    async def invoke(self, tool: Tool, args: dict[str, Any], ctx: ToolContext) -> Any:
        """One attempt of one step: call the tool here, in this process. Executors that run steps elsewhere (a
        Ray cluster: ``executors/ray.py``) override this one method; timeouts, retries, approvals, idempotency
        keys and events stay here, the same for every executor."""
        return await tool(args, ctx)

    @classmethod
    def for_settings(cls, settings: Any, **common: Any) -> Executor:
        """An executor of this kind for ``settings`` (``autoglm.yaml``); ``common`` are the fields every kind has
        (tools, timeouts, retries, approver...). A kind with options of its own reads them from ``settings``."""
        return cls(**common)


class _Run:
    """The state of one plan's execution."""

    def __init__(
        self,
        executor: Executor,
        plan: Plan,
        emitter: EventEmitter,
        inputs: dict[str, Any],
        role: str,
        session_id: str | None,
        done: dict[str, StepResult],
    ) -> None:
        self.x = executor
        self.plan = plan
        self.emitter = emitter
        self.inputs = inputs
        self.role = role
        self.session_id = session_id
        self.steps = {s.id: s for s in plan.steps}
        self.results = {s.id: done.get(s.id) or StepResult(s.id, s.uses) for s in plan.steps}
        self.outputs: dict[str, Any] = {
            sid: r.output for sid, r in self.results.items() if r.status == StepStatus.SUCCEEDED
        }
        deps = {sid: step_dependencies(step) for sid, step in self.steps.items()}
        self.waiting_on = {sid: {d for d in ds if d not in self.outputs} for sid, ds in deps.items()}
        self.dependents: dict[str, list[str]] = {sid: [] for sid in self.steps}
        for sid, ds in deps.items():
            for d in ds:
                self.dependents[d].append(sid)
        self.unfinished = sum(1 for r in self.results.values() if r.status == StepStatus.PENDING)
        self.all_done = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.limit = asyncio.Semaphore(executor.max_concurrency) if executor.max_concurrency else None
        self.keys: dict[str, str] = {}  # step id -> the idempotency key it claimed and recorded in this run
        self.reused: set[str] = set()  # steps whose output an earlier run made: not this run's to undo

    async def go(self) -> dict[str, StepResult]:
        if self.unfinished == 0:
            return self.results
        for sid, result in self.results.items():
            if result.status == StepStatus.PENDING and not self.waiting_on[sid]:
                self.start(sid)
        try:
            await self.all_done.wait()
        finally:
            for task in self.tasks:
                task.cancel()
        failed = [sid for sid, r in self.results.items() if r.status == StepStatus.FAILED]
        if failed:
            await self.compensate(failed)
        return self.results

    def start(self, sid: str) -> None:
        task = asyncio.create_task(self.run_step(self.steps[sid]), name=f"step:{sid}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def finish(self, sid: str) -> None:
        self.unfinished -= 1
        result = self.results[sid]
        for dep in self.dependents[sid]:
            if self.results[dep].status != StepStatus.PENDING:
                continue
            if result.status == StepStatus.SUCCEEDED:
                self.waiting_on[dep].discard(sid)
                if not self.waiting_on[dep]:
                    self.start(dep)
            else:
                why = f"needs '{sid}', which {'failed' if result.status == StepStatus.FAILED else 'was skipped'}"
                self.skip(dep, why)
        if self.unfinished == 0:
            self.all_done.set()

    def skip(self, sid: str, reason: str) -> None:
        result = self.results[sid]
        result.status = StepStatus.SKIPPED
        result.error = reason
        self.emitter.emit(EventKind.STEP_SKIPPED, sid, uses=result.uses, reason=reason)
        self.finish(sid)

    async def run_step(self, step: Step) -> None:
        if self.limit is not None:
            async with self.limit:
                await self._run_step(step)
        else:
            await self._run_step(step)

    async def _run_step(self, step: Step) -> None:
        result = self.results[step.id]
        try:
            if step.when is not None and not self.holds(step.when):
                self.skip(step.id, f"condition {step.when!r} is false")
                return
        except PlanError as exc:
            self.fail(step, exc, attempts=0)
            return
        result.status = StepStatus.RUNNING
        result.started_at = self.x.clock()
        try:
            result.output = await self.attempt_all(step, result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.fail(step, exc, attempts=result.attempts)
            return
        result.status = StepStatus.SUCCEEDED
        result.finished_at = self.x.clock()
        self.outputs[step.id] = result.output
        self.emitter.emit(
            EventKind.STEP_FINISHED, step.id, uses=step.uses, attempts=result.attempts, node=result.node,
            duration_s=round(result.finished_at - result.started_at, 6), output=_storable(result.output),
        )
        self.finish(step.id)

    def holds(self, condition: str) -> bool:
        def lookup(reference: str) -> Any:
            return resolve("${" + reference + "}", self.outputs, self.inputs)

        try:
            return parse_condition(condition).evaluate(lookup)
        except ConditionError as exc:
            raise PlanError(f"when: {exc}") from exc

    def fail(self, step: Step, exc: BaseException, attempts: int) -> None:
        result = self.results[step.id]
        result.status = StepStatus.FAILED
        result.error = describe(exc)
        result.replannable = getattr(exc, "replannable", True)
        result.finished_at = self.x.clock()
        self.emitter.emit(EventKind.STEP_FAILED, step.id, uses=step.uses, error=result.error,
                          error_type=type(exc).__name__, attempts=attempts)
        self.finish(step.id)

    async def attempt_all(self, step: Step, result: StepResult) -> Any:
        tool = self.x.tools.get(step.uses)
        policy = step.retry or self.x.default_retry
        timeout = step.timeout_s or tool.timeout_s or self.x.default_timeout_s
        args = tool.validate(resolve(step.with_, self.outputs, self.inputs, tool.embed))
        ctx = ToolContext(self.emitter.task_id, step.id, self._step_emit(step.id), self.role, self.session_id,
                          approver=self.x.approver, emitter=self.emitter, model=self.x.model,
                          run_plan=self.run_nested)
        self.emitter.emit(EventKind.STEP_STARTED, step.id, uses=step.uses, args=_storable(args),
                          timeout_s=timeout, attempts_allowed=policy.attempts)
        key = render(resolve(step.idempotency_key, self.outputs, self.inputs)) if step.idempotency_key else None
        if self.x.simulate and tool.side_effects:
            return self.simulated(step.id, tool, args, key)
        if key is not None and self.x.ledger is not None:
            # Done before: reuse it, nothing to approve. Else approve first and claim after, so a key is held only
            # while the tool may really be running (a wait for a person that dies leaves no unknown outcome).
            if (held := self.x.ledger.recorded_key(key)) is not None:
                if held.status != "done":
                    if (verdict := await tool.reconcile(args, key, ctx)) is not None:
                        return await self.reconciled(step.id, tool, key, verdict, held, args, ctx, policy, timeout,
                                                     result)
                    # Started by this very task, which this process now holds the lease of: whoever started it is
                    # gone, so what it did is unknown rather than under way. A person decides.
                    if held.task_id == self.emitter.task_id and self.x.rerun is not None:
                        return await self.settle_unknown(step.id, tool, key, held, args, ctx, policy, timeout,
                                                         result)
                return self.reuse(step.id, tool, key, held)
            return await self.keyed_call(step.id, tool, key, args, ctx, policy, timeout, result)
        return await self.call(step.id, tool, args, ctx, policy, timeout, result)

    async def keyed_call(self, sid: str, tool: Tool, key: str, args: dict[str, Any], ctx: ToolContext,
                         policy: RetryPolicy, timeout: float, result: StepResult, approved: bool = False) -> Any:
        """Approve (unless ``approved`` already), claim ``key``, call, record the output under it (or give the key
        back if the call failed)."""
        assert self.x.ledger is not None
        await self.authorize(tool, args, ctx, ask=not approved)
        if (held := self.x.ledger.claim_key(key, tool.name, self.emitter.task_id, sid)) is not None:
            return self.reuse(sid, tool, key, held)
        try:
            output = await self.call(sid, tool, args, ctx, policy, timeout, result, approved=True)
        except BaseException:
            self.x.ledger.release_key(key)
            raise
        self.x.ledger.complete_key(key, _storable(output.value if isinstance(output, ToolOutput) else output))
        self.keys[sid] = key
        self.emitter.emit(EventKind.IDEMPOTENCY, sid, key=key, uses=tool.name, status="recorded")
        return output

    async def reconciled(self, sid: str, tool: Tool, key: str, verdict: tuple[bool, Any], held: RecordedKey,
                         args: dict[str, Any], ctx: ToolContext, policy: RetryPolicy, timeout: float,
                         result: StepResult) -> Any:
        """The tool asked the target about a call whose outcome was unknown: record what it did, or run it now."""
        assert self.x.ledger is not None
        done, output = verdict
        self.emitter.emit(EventKind.IDEMPOTENCY, sid, key=key, uses=tool.name,
                          status="reconciled_done" if done else "reconciled_not_done", first_task=held.task_id,
                          output=_storable(output) if done else None)
        if done:
            self.x.ledger.complete_key(key, _storable(output))
            self.reused.add(sid)
            return output
        self.x.ledger.release_key(key)  # not done: this step takes the key over and does the work
        return await self.keyed_call(sid, tool, key, args, ctx, policy, timeout, result)

    async def settle_unknown(self, sid: str, tool: Tool, key: str, held: RecordedKey, args: dict[str, Any],
                             ctx: ToolContext, policy: RetryPolicy, timeout: float, result: StepResult) -> Any:
        """This task started the call under ``key`` before a crash and its outcome was never recorded; the tool
        cannot ask its target (no ``reconcile``). Ask a person: approved, the call runs again under the key;
        denied (or nobody decided in time), the step fails with their reason."""
        assert self.x.ledger is not None and self.x.rerun is not None
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(held.created_at))
        why = (f"{tool.name} was started under idempotency key {key!r} at {started} and the process running it "
               "stopped before its outcome was recorded: it may or may not have happened. Check the target "
               "system; approve to run it again, deny to fail the step.")
        self.emitter.emit(EventKind.IDEMPOTENCY, sid, key=key, uses=tool.name, status="outcome_unknown",
                          first_task=held.task_id)
        approved, decision = await self.x.rerun(tool, args, ctx, why, held.created_at)
        self.emitter.emit(EventKind.IDEMPOTENCY, sid, key=key, uses=tool.name,
                          status="rerun_approved" if approved else "rerun_denied")
        if not approved:
            raise ToolError(f"{tool.name}'s outcome under idempotency key {key!r} is unknown after a crash, and "
                            f"running it again was not approved ({decision})")
        self.x.ledger.release_key(key)  # the person checked: this step claims the key again and does the work
        return await self.keyed_call(sid, tool, key, args, ctx, policy, timeout, result, approved=True)

    def simulated(self, sid: str, tool: Tool, args: dict[str, Any], key: str | None) -> Any:
        held = self.x.ledger.recorded_key(key) if key is not None and self.x.ledger is not None else None
        if held is not None and held.status == "done":
            output, source = held.output, "recorded"
        else:
            output, source = tool.simulate(args), "schema"
        self.emitter.emit(EventKind.STEP_SIMULATED, sid, uses=tool.name, args=_storable(args),
                          output=_storable(output), source=source)
        return output

    def reuse(self, sid: str, tool: Tool, key: str, held: RecordedKey) -> Any:
        if held.status != "done":
            self.emitter.emit(EventKind.IDEMPOTENCY, sid, key=key, uses=tool.name, status="in_progress",
                              first_task=held.task_id)
            raise ToolError(
                f"idempotency key {key!r}: {tool.name} was started by task {held.task_id} and its outcome is not "
                "known (still running, or that process died mid-call); it is not repeated blindly. Check the "
                f"target system, then `autoglm workflows forget-key {key}` to allow it again")
        self.reused.add(sid)
        self.emitter.emit(EventKind.IDEMPOTENCY, sid, key=key, uses=tool.name, status="reused",
                          first_task=held.task_id, output=_storable(held.output))
        return held.output

    async def call(self, sid: str, tool: Tool, args: dict[str, Any], ctx: ToolContext, policy: RetryPolicy,
                   timeout: float, result: StepResult | None, approved: bool = False) -> Any:
        """Approve (side effects) unless ``approved`` already, then call ``tool`` with retries and a timeout per
        attempt."""
        if not approved:
            await self.authorize(tool, args, ctx)
        attempt = 0
        while True:
            attempt += 1
            if result is not None:
                result.attempts = attempt
            ctx.attempt = attempt
            try:
                async with asyncio.timeout(timeout):
                    output = await self.x.invoke(tool, args, ctx)
            except TimeoutError:
                error: Exception = StepTimeout(f"step '{sid}' timed out after {timeout:g}s")
            except AutoGLMError as exc:
                error = exc
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a tool's own bug or an I/O error: retry if policy allows
                error = exc
            else:
                if isinstance(output, ToolOutput):
                    if result is not None:
                        result.node = output.node
                    output = output.value
                return output
            retryable = getattr(error, "retryable", not isinstance(error, AutoGLMError))
            if isinstance(error, StepTimeout) and not tool.retry_on_timeout and policy is self.x.default_retry:
                retryable = False  # the default policy; a plan that asks for retries on this step gets them
            if not retryable or attempt >= policy.attempts:
                raise error
            delay = policy.delay_before(attempt + 1)
            self.emitter.emit(EventKind.STEP_RETRY, sid, attempt=attempt + 1, delay_s=delay,
                              error=describe(error), error_type=type(error).__name__)
            await self.x.sleep(delay)

    async def authorize(self, tool: Tool, args: dict[str, Any], ctx: ToolContext, ask: bool = True) -> None:
        """The caller's role may use ``tool``, and (``ask``: not approved already) a call with side effects is
        approved."""
        if tool.roles is not None and ctx.role not in tool.roles:
            self.emitter.emit(EventKind.TOOL_DENIED, ctx.step_id, tool=tool.name, reason=f"role '{ctx.role}'")
            raise ToolPermissionError(f"role '{ctx.role}' may not call {tool.name}")
        if tool.side_effects and ask:
            approved = bool(self.x.approver and await self.x.approver(tool, args, ctx))
            self.emitter.emit(EventKind.APPROVAL, ctx.step_id, tool=tool.name, approved=approved,
                              approver="none" if self.x.approver is None else "configured")
            if not approved:
                raise ToolPermissionError(
                    f"{tool.name} has side effects and was not approved"
                    + ("" if self.x.approver else " (no approver is configured: run interactively or grant it)")
                )

    async def compensate(self, failed: list[str]) -> None:
        """The saga: undo, newest first, each step this run finished that says how (``on_failure``)."""
        done = [sid for sid, r in self.results.items() if r.status == StepStatus.SUCCEEDED
                and self.steps[sid].on_failure is not None and sid not in self.reused]
        done.sort(key=lambda sid: self.results[sid].finished_at or 0.0, reverse=True)
        for sid in done:
            undo = self.steps[sid].on_failure
            assert undo is not None
            try:
                await self.undo(sid, undo, failed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one compensation failing must not stop the others
                self.emitter.emit(EventKind.COMPENSATION, sid, uses=undo.uses, status="failed", because=failed,
                                  error=describe(exc))

    async def undo(self, sid: str, undo: Compensation, failed: list[str]) -> None:
        tool = self.x.tools.get(undo.uses)
        args = tool.validate(resolve(undo.with_, self.outputs, self.inputs, tool.embed))
        self.emitter.emit(EventKind.COMPENSATION, sid, uses=undo.uses, status="started", because=failed,
                          args=_storable(args))
        if self.x.simulate and tool.side_effects:
            output = self.simulated(sid, tool, args, None)
        else:
            ctx = ToolContext(self.emitter.task_id, sid, self._step_emit(sid), self.role, self.session_id,
                              approver=self.x.approver, emitter=self.emitter, model=self.x.model,
                              run_plan=self.run_nested)
            timeout = undo.timeout_s or tool.timeout_s or self.x.default_timeout_s
            output = await self.call(sid, tool, args, ctx, undo.retry or self.x.default_retry, timeout, None)
        self.emitter.emit(EventKind.COMPENSATION, sid, uses=undo.uses, status="succeeded", because=failed,
                          output=_storable(output))
        if (key := self.keys.pop(sid, None)) is not None and self.x.ledger is not None:
            self.x.ledger.release_key(key)  # undone: the same event may do it again
            self.emitter.emit(EventKind.IDEMPOTENCY, sid, key=key, uses=self.steps[sid].uses, status="released")

    async def run_nested(self, plan: Plan, emitter: EventEmitter, inputs: dict[str, Any]) -> dict[str, StepResult]:
        """A sub-plan of one of this plan's steps: the same tools, approver, role and session."""
        return await self.x.run(plan, emitter, inputs, role=self.role, session_id=self.session_id)

    def _step_emit(self, step_id: str) -> Callable[..., Any]:
        def emit(kind: str, **data: Any) -> Any:
            return self.emitter.emit(kind, step_id, **data)

        return emit


@asynccontextmanager
async def task_deadline(seconds: float, task_id: str) -> AsyncIterator[None]:
    """Stop what runs inside after ``seconds`` and raise :class:`TaskTimeout`: step timeouts bound each step, this
    bounds the whole task, so a task always ends and frees its slot."""
    limit = asyncio.timeout(seconds)
    try:
        async with limit:
            yield
    except TimeoutError as exc:
        if not limit.expired():  # a TimeoutError of something inside, not ours
            raise
        raise TaskTimeout(f"task {task_id} ran past its time limit of {seconds:g}s (task_timeout_s) "
                          "and was stopped") from exc


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What a tool returns when it has more to say than its value: the model node that served it."""

    value: Any
    node: str | None = None


def describe(exc: BaseException) -> str:
    if isinstance(exc, AutoGLMError | ToolError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _storable(value: Any) -> Any:
    """A JSON-friendly form of a value for the event log (large values cut down to a preview)."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    text = render(value)
    if len(text) > 200_000:
        return {"preview": preview(value), "truncated": True}
    if isinstance(value, str | int | float | bool | type(None) | list | dict):
        import json

        try:
            json.dumps(value, ensure_ascii=False)
            return value
        except (TypeError, ValueError):
            pass
    return text
