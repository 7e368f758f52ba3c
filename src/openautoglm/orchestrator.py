"""One task's lifecycle: plan, execute, replan once, answer, remember; or resume an interrupted one from its log.

The orchestrator knows its collaborators only by narrow interfaces: a :class:`TaskLog` (the store's event log and
task table), a :class:`SessionMemory`, an executor factory, an :data:`AnswerWriter`, and, per run, a planner with
its context. Which concrete parts fill them is the services container's business (:mod:`openautoglm.services`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from .compose import Composed, ComposeInput, Composer
from .encodable import PROBLEM as UNENCODABLE
from .encodable import is_encodable
from .engine import Executor, StepResult, StepStatus, task_deadline
from .errors import AutoGLMError, ClarificationNeeded, PlanError, PlanValidationError, TaskConflict
from .events import Event, EventEmitter, EventKind, EventSink, PlanMade, StepFinished, TaskStarted
from .language import requested_language
from .memory.sessions import SessionTurn, Summarizer
from .models.base import ensure_fits, reporting_model_events
from .plan import Plan, parse_plan, validate_plan
from .planning.base import Planner, PlanningContext, Turn, with_instructions
from .tools.workflows import check_inputs


@dataclass
class RunResult:
    task_id: str
    status: str  # succeeded | partial | unsupported | failed | needs_input
    answer: str
    plan: Plan | None = None
    steps: list[StepResult] = field(default_factory=list)
    question: str | None = None
    # How sure the answer is, in [0, 1], from how it was produced (compose/confidence.py); None without one.
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "status": self.status,
            "answer": self.answer,
            "confidence": self.confidence,
            "question": self.question,
            "plan": self.plan.dump() if self.plan else None,
            "steps": [s.summary() for s in self.steps],
        }


# A task in one of these states is over: resuming it would answer twice (the store's list, kept here so that the
# orchestrator depends on the store only through TaskLog).
FINISHED = frozenset({"succeeded", "partial", "unsupported", "failed", "needs_input"})

# The role a resumed task runs with when its record predates stored roles: the least one that may run tasks.
LEGACY_TASK_ROLE = "user"


def new_task_id() -> str:
    return uuid.uuid4().hex[:16]


def clean_request(request: str) -> str:
    text = " ".join((request or "").split())
    if not text:
        raise PlanError("the request is empty: say what you want done")
    if not is_encodable(text):
        raise PlanError(f"the request: {UNENCODABLE}")
    if len(text) > 20_000:
        raise PlanError(f"the request is {len(text)} characters long; the limit is 20000")
    return text


class TaskRecordLike(Protocol):
    request: str | None
    status: str
    owner: str | None
    session_id: str | None
    role: str | None


class TaskLog(Protocol):
    """The event log and task table of :class:`~openautoglm.store.Store`, as far as a task's lifecycle uses it."""

    def append(self, ev: Event) -> None: ...
    def events(self, task_id: str, after_seq: int = 0) -> list[Event]: ...
    def flush(self, timeout: float = 30.0) -> None: ...
    def open_task(self, task_id: str, request: str | None, owner: str | None = None,
                  session_id: str | None = None, role: str | None = None) -> int: ...
    def update_task(self, task_id: str, **fields: Any) -> None: ...
    def get_task(self, task_id: str, owner: str | None = None) -> TaskRecordLike: ...


class SessionMemory(Protocol):
    """Conversations by session id (:class:`~openautoglm.memory.sessions.Sessions`)."""

    def history(self, session_id: str | None, owner: str | None = None) -> list[Any]: ...
    def summary(self, session_id: str) -> str | None: ...
    def append(self, session_id: str, turn: SessionTurn, owner: str | None = None) -> Any: ...
    async def compact(self, session_id: str, summarizer: Summarizer | None = None) -> bool: ...


class AnswerWriter(Protocol):
    """Writes a finished plan's reply and says how it went (:class:`~openautoglm.compose.Composer`): the reply in
    the language asked for (else the request's own), honouring the caller's standing instructions (a chat's system
    prompt), with a status and a confidence."""

    async def compose(self, inp: ComposeInput) -> Composed: ...


Replan = Callable[[Plan, dict[str, StepResult]], Awaitable[Plan | None]]


class Orchestrator:
    """Runs tasks from request (or plan) to recorded answer."""

    def __init__(
        self,
        log: TaskLog,
        executor: Callable[[], Executor],
        memory: SessionMemory,
        *,
        writer: AnswerWriter | None = None,
        summarizer: Callable[[Callable[..., Any]], Summarizer | None] = lambda emit: None,
        task_timeout_s: float = 3600.0,
    ) -> None:
        self.log = log
        self.task_timeout_s = task_timeout_s
        self.new_executor = executor
        self.memory = memory
        self.writer: AnswerWriter = writer or Composer()
        self.summarizer = summarizer

    async def run(self, request: str, planner: Planner, context: PlanningContext, *, session_id: str | None = None,
                  owner: str | None = None, on_event: EventSink | None = None, task_id: str | None = None,
                  role: str = "admin", history: list[Turn] | None = None, language: str | None = None,
                  instructions: str | None = None) -> RunResult:
        """Plan ``request`` with ``planner`` (its context gets the history, the session's unless ``history`` is
        given, the session's summary and the task's events), execute, replan once if a step failed, answer, and
        add the turn to the session. ``instructions`` go to every writing step and the answer writer, with
        ``language`` (default: the one they ask for)."""
        task_id = task_id or new_task_id()
        language = language or requested_language(instructions)
        # A task claimed from the queue may have a log already (its process died while planning): go on after it.
        seq = await asyncio.to_thread(self.log.open_task, task_id, request, owner=owner, session_id=session_id,
                                      role=role)
        emitter = self._emitter(task_id, on_event, seq=seq)
        emitter.emit(EventKind.TASK_STARTED, request=request, session_id=session_id,
                     **({"instructions": instructions, "language": language} if instructions or language else {}))
        turns: list[Turn] = history if history is not None else (  # the session's (none without one)
            await asyncio.to_thread(self.memory.history, session_id, owner) if session_id else [])
        summary = await asyncio.to_thread(self.memory.summary, session_id) if session_id else None
        context = replace(context, emit=lambda kind, **data: emitter.emit(kind, **data), history=turns,
                          summary=summary)
        try:
            if context.model is not None:
                # A request no model here can read fails now, with the numbers, instead of after planning its
                # every clause and a model call that cannot succeed.
                ensure_fits(context.model, request)
            with reporting_model_events(context.emit):  # a routed planner call's attempts land in the trace
                plan = await planner.plan(request, context)
        except ClarificationNeeded as need:
            emitter.emit(EventKind.CLARIFICATION, question=need.question, missing=need.missing)
            await self._record(task_id, status="needs_input", answer=need.question)
            result = RunResult(task_id, "needs_input", need.question, question=need.question)
            await self._remember(session_id, owner, request, result, emitter, missing=need.missing)
            return result
        except AutoGLMError as exc:
            result = await self._failed(task_id, emitter, exc)
            await self._remember(session_id, owner, request, result, emitter)
            return result
        plan = with_instructions(plan, instructions, context.tools)
        emitter.emit(EventKind.PLAN_MADE, plan=plan.dump(), planner=planner.name)

        async def replan(failed_plan: Plan, results: dict[str, StepResult]) -> Plan | None:
            with reporting_model_events(context.emit):
                replacement = await planner.replan(request, failed_plan, results, context)
            return with_instructions(replacement, instructions, context.tools) if replacement is not None else None

        result = await self._execute(task_id, plan, emitter, {}, owner, session_id, role=role, replan=replan,
                                     language=language, instructions=instructions, request=request)
        await self._remember(session_id, owner, request, result, emitter)
        return result

    async def execute(self, plan: Plan, inputs: Mapping[str, Any] | None = None, *, owner: str | None = None,
                      on_event: EventSink | None = None, task_id: str | None = None,
                      role: str = "admin") -> RunResult:
        """Run a plan written by a person (or a program); it is checked before any task exists."""
        given = dict(inputs or {})
        self.check(plan, given)
        task_id = task_id or new_task_id()
        seq = await asyncio.to_thread(self.log.open_task, task_id, plan.description or plan.name, owner=owner,
                                      role=role)
        emitter = self._emitter(task_id, on_event, seq=seq)
        emitter.emit(EventKind.TASK_STARTED, request=plan.name or "plan", inputs=given)
        emitter.emit(EventKind.PLAN_MADE, plan=plan.dump(), planner="given")
        return await self._execute(task_id, plan, emitter, given, owner, None, role=role)

    def check(self, plan: Plan, inputs: Mapping[str, Any] | None = None) -> None:
        """Raise a :class:`~openautoglm.errors.PlanError` for a plan that cannot run with ``inputs``: its steps,
        tools, arguments and references, and the types its ``inputs:`` declare."""
        given = dict(inputs or {})
        validate_plan(plan, self.new_executor().tools.schemas(), given)
        check_inputs(plan, given)

    async def resume(self, task_id: str, on_event: EventSink | None = None) -> RunResult:
        """Continue an interrupted task from its log: finished steps keep their results, the rest run."""
        task = await asyncio.to_thread(self.log.get_task, task_id)
        if task.status in FINISHED:
            raise TaskConflict(f"task {task_id} already finished ({task.status}); nothing to resume "
                               f"(`autoglm trace {task_id}` shows it)")
        events = await asyncio.to_thread(self.log.events, task_id)
        plans = [p for e in events if (p := e.payload_as(PlanMade)) is not None]
        if not plans:
            raise PlanValidationError([f"task {task_id} never got a plan; run it again instead"])
        plan = parse_plan(plans[-1].plan)
        started = next((s for e in events if (s := e.payload_as(TaskStarted)) is not None), None)
        inputs = dict(started.inputs or {}) if started is not None else {}
        done: dict[str, StepResult] = {}
        for e in events:
            if (finished := e.payload_as(StepFinished)) is not None and e.step_id:
                done[e.step_id] = StepResult(e.step_id, finished.uses, StepStatus.SUCCEEDED, output=finished.output,
                                             attempts=finished.attempts, node=finished.node, finished_at=e.ts)
        emitter = self._emitter(task_id, on_event, seq=events[-1].seq if events else 0)
        emitter.emit(EventKind.TASK_STARTED, resumed=True, steps_done=sorted(done))
        await self._record(task_id, status="running")
        # The role the task was started with, whoever resumes it (a replica taking over its lease, an operator).
        role = task.role or LEGACY_TASK_ROLE
        # A chat's standing instructions and reply language still hold for its answer.
        result = await self._execute(task_id, plan, emitter, inputs, task.owner, task.session_id, done, role=role,
                                     request=task.request, language=started.language if started else None,
                                     instructions=started.instructions if started else None)
        if task.request is not None:  # the turn its first run did not live to add to its session
            await self._remember(task.session_id, task.owner, task.request, result, emitter)
        return result

    # -- the stages -------------------------------------------------------------------------------------------

    def _emitter(self, task_id: str, on_event: EventSink | None, seq: int = 0) -> EventEmitter:
        sinks: list[EventSink] = [self.log.append]
        if on_event is not None:
            sinks.append(on_event)
        return EventEmitter(task_id, sinks, seq=seq)

    async def _execute(
        self,
        task_id: str,
        plan: Plan,
        emitter: EventEmitter,
        inputs: dict[str, Any],
        owner: str | None,
        session_id: str | None,
        done: dict[str, StepResult] | None = None,
        role: str = "admin",
        replan: Replan | None = None,
        language: str | None = None,
        instructions: str | None = None,
        request: str | None = None,
    ) -> RunResult:
        """Run ``plan``; when a step fails for good and ``replan`` offers a replacement, run that once, keeping the
        results of the steps that succeeded."""
        await self._record(task_id, plan=plan.dump())
        executor = self.new_executor()
        try:
            # A deadline for the whole execution: whatever a plan does, its task ends and frees its slot.
            async with task_deadline(self.task_timeout_s, task_id):
                results = await executor.run(plan, emitter, inputs, role=role, session_id=session_id, done=done)
                replaced: list[StepResult] = []
                if replan is not None and any(r.status == StepStatus.FAILED for r in results.values()):
                    replacement = await replan(plan, results)
                    if replacement is not None:
                        from .planning.replan import done_results

                        replaced = [r for r in results.values()
                                    if r.status == StepStatus.FAILED and replacement.step(r.id).uses != r.uses]
                        plan = replacement
                        emitter.emit(EventKind.PLAN_MADE, plan=plan.dump(), planner="replan")
                        await self._record(task_id, plan=plan.dump())
                        results = await executor.run(plan, emitter, inputs, role=role, session_id=session_id,
                                                     done=done_results(results))
        except AutoGLMError as exc:
            result = await self._failed(task_id, emitter, exc)
            result.plan = plan
            return result
        steps = [results[s.id] for s in plan.steps]
        composed = await self.writer.compose(ComposeInput(
            request=request or plan.description or plan.name or "", plan=plan, steps=steps, tools=executor.tools,
            language=language, instructions=instructions, replaced=replaced,
            emit=lambda kind, **data: emitter.emit(kind, **data)))
        status, answer, confidence = composed.status, composed.answer, composed.confidence
        emitter.emit(EventKind.ANSWER, answer=answer, status=status, confidence=confidence, writer=composed.writer)
        emitter.emit(EventKind.TASK_FINISHED, status=status)
        await self._record(task_id, flush=True, status=status, answer=answer, confidence=confidence)
        return RunResult(task_id, status, answer, plan, steps, confidence=confidence)

    async def _remember(self, session_id: str | None, owner: str | None, request: str, result: RunResult,
                        emitter: EventEmitter, missing: list[str] | None = None) -> None:
        """Add the finished run to its session (a clarifying question too: the next request answers it)."""
        if not session_id:
            return
        turn = SessionTurn(request=request, answer=result.answer, status=result.status, question=result.question,
                           missing=list(missing or []), plan=result.plan.dump() if result.plan else None,
                           task_id=result.task_id)
        await asyncio.to_thread(self.memory.append, session_id, turn, owner=owner)
        summarizer = self.summarizer(lambda kind, **data: emitter.emit(kind, **data))
        if await self.memory.compact(session_id, summarizer):
            emitter.emit(EventKind.SESSION_COMPACTED, session_id=session_id,
                         summarizer="model" if summarizer else "truncate")
        await asyncio.to_thread(self.log.flush)

    async def _failed(self, task_id: str, emitter: EventEmitter, exc: AutoGLMError) -> RunResult:
        emitter.emit(EventKind.TASK_FAILED, error=str(exc), error_type=type(exc).__name__)
        await self._record(task_id, flush=True, status="failed", error=str(exc))
        return RunResult(task_id, "failed", f"failed: {exc}")

    async def _record(self, task_id: str, *, flush: bool = False, **fields: Any) -> None:
        """Update the task's row (then, with ``flush``, wait until its events are written) in a worker thread:
        a database write may wait for a lock or the disk, and the event loop serves every other request
        meanwhile."""

        def write() -> None:
            self.log.update_task(task_id, **fields)
            if flush:
                self.log.flush()

        await asyncio.to_thread(write)
