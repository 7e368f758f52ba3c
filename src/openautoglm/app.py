"""The facade: ``AutoGLM`` wires settings, model, tools, planner, executor and store together.

The CLI and the gateway are thin shells over this class; so is a user's own Python.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings, load_settings
from .engine import Approver, Executor, StepResult, StepStatus
from .errors import AutoGLMError, ClarificationNeeded, PlanError, PlanValidationError
from .events import Event, EventEmitter, EventKind, EventSink
from .memory.kb import KnowledgeBase
from .memory.kb.tools import LazyKnowledgeBase
from .memory.sessions import ModelSummarizer, Sessions, SessionTurn, Summarizer
from .models.base import ChatModel, reporting_model_events
from .plan import Plan, RetryPolicy, parse_plan, validate_plan
from .planning.aggregate import aggregate
from .planning.base import Planner, PlanningContext
from .store import Store
from .tools.base import Tool, ToolRegistry
from .tools.builtin import builtin_tools
from .tools.mcp_client import MCPToolset
from .tools.workflows import WorkflowRegistry, check_inputs

if TYPE_CHECKING:
    from .router import Router


@dataclass
class RunResult:
    task_id: str
    status: str  # succeeded | partial | failed | needs_input
    answer: str
    plan: Plan | None = None
    steps: list[StepResult] = field(default_factory=list)
    question: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "status": self.status,
            "answer": self.answer,
            "question": self.question,
            "plan": self.plan.dump() if self.plan else None,
            "steps": [s.summary() for s in self.steps],
        }


def new_task_id() -> str:
    return uuid.uuid4().hex[:16]


class AutoGLM:
    def __init__(
        self,
        *,
        settings: Settings | None = None,
        model: ChatModel | None = None,
        tools: Iterable[Tool | Callable[..., Any]] | ToolRegistry | None = None,
        store: Store | None = None,
        planner: Planner | None = None,
        approver: Approver | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._model = model
        self._store = store
        self._planner = planner
        self.approver = approver
        self._extra_tools = tools
        self._tools: ToolRegistry | None = None
        self._workflows: WorkflowRegistry | None = None
        self._mcp: MCPToolset | None = None
        self._sessions: Sessions | None = None
        self._knowledge = LazyKnowledgeBase(lambda: KnowledgeBase.from_settings(self.settings))

    @classmethod
    def from_config(cls, path: str | Path | None = None, **kwargs: Any) -> AutoGLM:
        settings = load_settings(path)
        return cls(settings=settings, **kwargs)

    # -- collaborators, built on first use so that `autoglm tools` never loads a model ----------------------

    @property
    def model(self) -> ChatModel:
        if self._model is None:
            from .models.factory import build_model

            self._model = build_model(self.settings)
        return self._model

    @property
    def router(self) -> Router:
        """The pool of model nodes. A single configured model becomes the pool's first member, so nodes that
        register at run time join it instead of replacing it; from then on every llm step goes through the pool."""
        from .router import Router

        model = self.model
        if not isinstance(model, Router):
            model = Router([model], settings=self.settings.router)
            self._model = model
        return model

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings.db_url)
        return self._store

    @property
    def tools(self) -> ToolRegistry:
        if self._tools is None:
            registry = ToolRegistry(builtin_tools(_LazyModel(self), self.settings, knowledge=self._knowledge))
            for workflow_tool in self.workflows.tools(lambda: self.executor, self.settings.timeout_seconds):
                registry.add(workflow_tool, replace=True)
            extra = self._extra_tools
            for item in (extra if extra is not None else []):
                registry.add(item, replace=True)
            self._tools = registry
        return self._tools

    @property
    def workflows(self) -> WorkflowRegistry:
        """The YAML workflows in ``workflows_dir`` (each is also the tool ``workflow.<name>``)."""
        if self._workflows is None:
            self._workflows = WorkflowRegistry.from_settings(self.settings)
        return self._workflows

    async def load_tools(self) -> ToolRegistry:
        """The registry, with the tools that take I/O to discover: MCP servers connect on the first call."""
        registry = self.tools
        if self.settings.mcp_servers:
            if self._mcp is None or not self._mcp.usable():  # a new event loop needs new connections
                self._mcp = MCPToolset(self.settings.mcp_servers)
            toolset = self._mcp
            try:
                loaded = await toolset.load()  # once; concurrent callers wait for the first
            except BaseException:
                self._mcp = None  # closed by load(); the next call tries again
                raise
            for mcp_tool in loaded:
                # Tools given in code win over a server's; a server's replace its own from an older connection.
                if mcp_tool.name not in registry or registry.get(mcp_tool.name).source == mcp_tool.source:
                    registry.add(mcp_tool, replace=True)
        return registry

    @property
    def planner(self) -> Planner:
        if self._planner is None:
            from .planning import choose_planner

            self._planner = choose_planner(self.settings, self.model)
        return self._planner

    @property
    def sessions(self) -> Sessions:
        """Conversations by session id (memory/sessions.py), in the app's store."""
        if self._sessions is None:
            self._sessions = Sessions(self.store)
        return self._sessions

    @property
    def knowledge(self) -> KnowledgeBase:
        """The knowledge base (memory/kb/): ``add``, ``search``, ``documents``, ``remove``; opened on first use."""
        return self._knowledge()

    @property
    def opened_knowledge(self) -> KnowledgeBase | None:
        """The knowledge base if something opened it already: a health probe must not be what loads it."""
        return self._knowledge.opened

    @property
    def executor(self) -> Executor:
        return Executor(
            self.tools,
            default_timeout_s=self.settings.timeout_seconds,
            default_retry=RetryPolicy(attempts=1 + self.settings.retries),
            approver=self.approver,
            max_concurrency=self.settings.max_concurrency,
        )

    # -- the public verbs -------------------------------------------------------------------------------------

    def planning_context(self, emit: Callable[..., Any] | None = None,
                         history: list[Any] | None = None) -> PlanningContext:
        return PlanningContext(tools=self.tools, model=self.model, emit=emit or (lambda *a, **k: None),
                               history=history or [], default_city=self.settings.default_city)

    async def plan(self, request: str, session_id: str | None = None) -> Plan:
        request = _clean_request(request)
        await self.load_tools()
        return await self.planner.plan(request, self.planning_context(history=self.sessions.history(session_id)))

    async def run(
        self,
        request: str,
        session_id: str | None = None,
        owner: str | None = None,
        on_event: EventSink | None = None,
        task_id: str | None = None,
        role: str = "admin",
    ) -> RunResult:
        """Plan ``request``, execute the plan, answer; every stage recorded under the returned task id.

        ``role`` is the caller's (the gateway passes its principal's): tools restricted to other roles are denied."""
        request = _clean_request(request)
        await self.load_tools()
        task_id = task_id or new_task_id()
        emitter = self._emitter(task_id, on_event)
        self.store.create_task(task_id, request, owner=owner, session_id=session_id)
        emitter.emit(EventKind.TASK_STARTED, request=request, session_id=session_id)
        history = self.sessions.history(session_id, owner)
        context = self.planning_context(lambda kind, **data: emitter.emit(kind, **data), history=history)
        try:
            with reporting_model_events(context.emit):  # a routed planner call's attempts land in the trace
                plan = await self.planner.plan(request, context)
        except ClarificationNeeded as need:
            emitter.emit(EventKind.CLARIFICATION, question=need.question, missing=need.missing)
            self.store.update_task(task_id, status="needs_input", answer=need.question)
            result = RunResult(task_id, "needs_input", need.question, question=need.question)
            await self._remember(session_id, owner, request, result, emitter, missing=need.missing)
            return result
        except AutoGLMError as exc:
            result = self._failed(task_id, emitter, exc)
            await self._remember(session_id, owner, request, result, emitter)
            return result
        emitter.emit(EventKind.PLAN_MADE, plan=plan.dump(), planner=self.planner.name)

        async def replan(failed_plan: Plan, results: dict[str, StepResult]) -> Plan | None:
            with reporting_model_events(context.emit):
                return await self.planner.replan(request, failed_plan, results, context)

        result = await self._execute(task_id, plan, emitter, {}, owner, session_id, role=role, replan=replan)
        await self._remember(session_id, owner, request, result, emitter)
        return result

    async def execute(
        self,
        plan: Plan | Mapping[str, Any] | str | Path,
        inputs: Mapping[str, Any] | None = None,
        owner: str | None = None,
        on_event: EventSink | None = None,
        task_id: str | None = None,
        role: str = "admin",
    ) -> RunResult:
        """Run a plan given as a Plan, a dict, or a path to a JSON plan or YAML workflow."""
        from .workflow import load_plan

        await self.load_tools()
        parsed = load_plan(plan) if isinstance(plan, str | Path) else parse_plan(plan)
        # A plan written by a person is rejected before any task exists: the mistake is theirs to fix.
        validate_plan(parsed, self.tools.schemas(), dict(inputs or {}))
        check_inputs(parsed, dict(inputs or {}))  # the types its `inputs:` declare
        task_id = task_id or new_task_id()
        emitter = self._emitter(task_id, on_event)
        self.store.create_task(task_id, parsed.description or parsed.name, owner=owner)
        emitter.emit(EventKind.TASK_STARTED, request=parsed.name or "plan", inputs=dict(inputs or {}))
        emitter.emit(EventKind.PLAN_MADE, plan=parsed.dump(), planner="given")
        return await self._execute(task_id, parsed, emitter, dict(inputs or {}), owner, None, role=role)

    async def resume(self, task_id: str, on_event: EventSink | None = None) -> RunResult:
        """Continue an interrupted task from its log: finished steps keep their results, the rest run."""
        task = self.store.get_task(task_id)
        events = self.store.events(task_id)
        plan_events = [e for e in events if e.kind == EventKind.PLAN_MADE]
        if not plan_events:
            raise PlanValidationError([f"task {task_id} never got a plan; run it again instead"])
        plan = parse_plan(plan_events[-1].data["plan"])
        inputs = next((e.data.get("inputs") or {} for e in events if e.kind == EventKind.TASK_STARTED), {})
        done: dict[str, StepResult] = {}
        for e in events:
            if e.kind == EventKind.STEP_FINISHED and e.step_id:
                done[e.step_id] = StepResult(e.step_id, e.data.get("uses", ""), StepStatus.SUCCEEDED,
                                             output=e.data.get("output"), attempts=e.data.get("attempts", 1),
                                             node=e.data.get("node"), finished_at=e.ts)
        emitter = self._emitter(task_id, on_event, seq=events[-1].seq if events else 0)
        emitter.emit(EventKind.TASK_STARTED, resumed=True, steps_done=sorted(done))
        self.store.update_task(task_id, status="running")
        return await self._execute(task_id, plan, emitter, inputs, task.owner, task.session_id, done)

    async def call_tool(self, name: str, args: Mapping[str, Any], owner: str | None = None) -> Any:
        """Run one tool directly, as a one-step plan, so the call is in the trace like any other."""
        from .errors import ToolError
        from .plan import Step

        (await self.load_tools()).get(name)  # an unknown name fails here, with suggestions
        result = await self.execute(Plan(steps=[Step(id="call", uses=name, with_=dict(args))]), owner=owner)
        step = result.steps[0]
        if step.status != StepStatus.SUCCEEDED:
            raise ToolError(step.error or f"{name} failed")
        return step.output

    def describe_models(self) -> list[dict[str, Any]]:
        """Each model node and its state, for `autoglm models` and `GET /v1/models`."""
        describe = getattr(self.model, "describe", None)
        if callable(describe):
            return list(describe())
        m = self.model
        return [{"name": m.name, "type": type(m).__name__, "capabilities": sorted(m.capabilities),
                 "json_schema": m.supports_json_schema, "can_plan": m.can_plan, "state": "ready"}]

    def trace(self, task_id: str, owner: str | None = None) -> list[Event]:
        self.store.get_task(task_id, owner=owner)
        return self.store.events(task_id)

    async def aclose(self) -> None:
        if self._knowledge.opened is not None:
            self._knowledge.opened.close()
        if self._mcp is not None:
            await self._mcp.aclose()
            self._mcp = None
        if self._model is not None:
            await self._model.aclose()
        if self._store is not None:
            self._store.close()

    async def __aenter__(self) -> AutoGLM:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- internals --------------------------------------------------------------------------------------------

    def _emitter(self, task_id: str, on_event: EventSink | None, seq: int = 0) -> EventEmitter:
        sinks: list[EventSink] = [self.store.append]
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
        replan: Callable[[Plan, dict[str, StepResult]], Awaitable[Plan | None]] | None = None,
    ) -> RunResult:
        """Run ``plan``; when a step fails for good and ``replan`` offers a replacement, run that once, keeping the
        results of the steps that succeeded."""
        self.store.update_task(task_id, plan=plan.dump())
        try:
            results = await self.executor.run(plan, emitter, inputs, role=role, session_id=session_id, done=done)
            replaced: list[StepResult] = []
            if replan is not None and any(r.status == StepStatus.FAILED for r in results.values()):
                replacement = await replan(plan, results)
                if replacement is not None:
                    from .planning.replan import done_results

                    replaced = [r for r in results.values()
                                if r.status == StepStatus.FAILED and replacement.step(r.id).uses != r.uses]
                    plan = replacement
                    emitter.emit(EventKind.PLAN_MADE, plan=plan.dump(), planner="replan")
                    self.store.update_task(task_id, plan=plan.dump())
                    results = await self.executor.run(plan, emitter, inputs, role=role, session_id=session_id,
                                                      done=done_results(results))
        except AutoGLMError as exc:
            result = self._failed(task_id, emitter, exc)
            result.plan = plan
            return result
        steps = [results[s.id] for s in plan.steps]
        answer = aggregate(plan, steps, self.tools, replaced)
        ok = [s for s in steps if s.status == StepStatus.SUCCEEDED]
        status = "succeeded" if len(ok) == len(steps) else ("partial" if ok else "failed")
        emitter.emit(EventKind.ANSWER, answer=answer, status=status)
        emitter.emit(EventKind.TASK_FINISHED, status=status)
        self.store.update_task(task_id, status=status, answer=answer)
        self.store.flush()
        return RunResult(task_id, status, answer, plan, steps)

    async def _remember(self, session_id: str | None, owner: str | None, request: str, result: RunResult,
                        emitter: EventEmitter, missing: list[str] | None = None) -> None:
        """Add the finished run to its session (a clarifying question too: the next request answers it)."""
        if not session_id:
            return
        turn = SessionTurn(request=request, answer=result.answer, status=result.status, question=result.question,
                           missing=list(missing or []), plan=result.plan.dump() if result.plan else None,
                           task_id=result.task_id)
        self.sessions.append(session_id, turn, owner=owner)
        # Only a model that can plan writes summaries; the small embedded one would garble them, so truncate.
        summarizer: Summarizer | None = None
        if self._model is not None and self._model.can_plan:
            summarizer = ModelSummarizer(self._model, emit=lambda kind, **data: emitter.emit(kind, **data))
        if await self.sessions.compact(session_id, summarizer):
            emitter.emit("session.compacted", session_id=session_id,
                         summarizer="model" if summarizer else "truncate")
        self.store.flush()

    def _failed(self, task_id: str, emitter: EventEmitter, exc: AutoGLMError) -> RunResult:
        emitter.emit(EventKind.TASK_FAILED, error=str(exc), error_type=type(exc).__name__)
        self.store.update_task(task_id, status="failed", error=str(exc))
        self.store.flush()
        return RunResult(task_id, "failed", f"failed: {exc}")


def _clean_request(request: str) -> str:
    text = " ".join((request or "").split())
    if not text:
        raise PlanError("the request is empty: say what you want done")
    if len(text) > 20_000:
        raise PlanError(f"the request is {len(text)} characters long; the limit is 20000")
    return text


class _LazyModel(ChatModel):
    """Stands in for the app's model inside tools, so listing tools never loads model weights."""

    def __init__(self, app: AutoGLM) -> None:
        self._app = app
        self.name = "model"

    async def complete(self, request: Any) -> Any:
        return await self._app.model.complete(request)

    async def stream(self, request: Any) -> Any:
        async for piece in self._app.model.stream(request):
            yield piece

    @property
    def resolved(self) -> ChatModel:
        """The app's real model (loading it): for tools that adapt to what the model can do."""
        return self._app.model
