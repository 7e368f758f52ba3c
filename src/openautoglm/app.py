"""The facade: ``AutoGLM`` is what the CLI, the gateway and a user's own Python call.

It holds two parts and delegates to them: the services container (:mod:`openautoglm.services`: model, tools,
store, planner... built once from the settings, each on first use) and the orchestrator
(:mod:`openautoglm.orchestrator`: one task's lifecycle over narrow interfaces).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings, load_settings
from .engine import Approver, Executor, StepResult, StepStatus
from .errors import ConfigError
from .events import Event, EventSink
from .leases import Leases, NewTask
from .memory.kb import IngestReport, KnowledgeBase
from .memory.sessions import Sessions
from .models.base import ChatModel
from .orchestrator import AnswerWriter, Orchestrator, RunResult, clean_request, new_task_id
from .plan import Plan, parse_plan
from .planning.base import Planner, PlanningContext, Turn
from .reports.service import Reports
from .services import Services
from .store import Store
from .taskspec import TaskSpec
from .tools.base import Tool, ToolRegistry
from .tools.workflows import WorkflowRegistry

if TYPE_CHECKING:
    from .memory.kb.sources import SyncSchedule
    from .models.pool import Router
    from .policies.book import PolicyBook
    from .schedules import Scheduler, StartWorkflow
    from .store.report_schedules import ScheduleRecord

__all__ = ["AutoGLM", "RunResult", "new_task_id"]


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
        writer: AnswerWriter | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.services = Services(self.settings, model=model, tools=tools, store=store, planner=planner,
                                 approver=approver)
        self._writer = writer
        self._orchestrator: Orchestrator | None = None

    @classmethod
    def from_config(cls, path: str | Path | None = None, **kwargs: Any) -> AutoGLM:
        settings = load_settings(path)
        return cls(settings=settings, **kwargs)

    # -- the parts (built on first use, so that `autoglm tools` never loads a model) -------------------------

    @property
    def model(self) -> ChatModel:
        return self.services.model

    @property
    def router(self) -> Router:
        """The pool of model nodes (a single configured model becomes its first member)."""
        return self.services.router

    @property
    def store(self) -> Store:
        return self.services.store

    def start_policy_loop(self) -> None:
        """Propose, try and keep or roll back routing policies in this process, if ``policy.loop`` is on."""
        self.services.start_policy_loop()

    @property
    def policies(self) -> PolicyBook:
        """The routing policies: versions in the store, the active one applied to the pool (policies/book.py)."""
        return self.services.policies

    @property
    def tools(self) -> ToolRegistry:
        return self.services.tools

    @property
    def workflows(self) -> WorkflowRegistry:
        """The YAML workflows in ``workflows_dir`` (each is also the tool ``workflow.<name>``)."""
        return self.services.workflows

    async def load_tools(self) -> ToolRegistry:
        """The registry, with the tools that take I/O to discover: MCP servers connect on the first call."""
        return await self.services.load_tools()

    @property
    def reports(self) -> Reports:
        """Report definitions (``reports/NAME.yaml``) and their runner: ``await app.reports.run("sales-monthly")``."""
        return self.services.reports

    def schedule_report(self, name: str, cron: str, emails: list[str], webhook: str | None = None,
                        period: str | None = None, owner: str | None = None) -> ScheduleRecord:
        """Store a schedule: run report ``name`` at every ``cron`` slot and deliver it (checked first: the report
        exists, the cron expression parses, the addresses look like addresses)."""
        from .errors import ConfigError
        from .schedules import check_cron

        self.reports.library.get(name)
        check_cron(cron)
        bad = [e for e in emails if "@" not in e or " " in e.strip() or e.startswith("@") or e.endswith("@")]
        if bad or not (emails or webhook):
            raise ConfigError(f"not an email address: {bad[0]}" if bad else "give --email or --webhook: a schedule "
                              "delivers its report somewhere")
        return self.store.add_schedule(name, cron, [e.strip() for e in emails], webhook, period, owner)

    async def schedule_workflow(self, workflow: str, cron: str, inputs: Mapping[str, Any] | None = None,
                                owner: str | None = None) -> ScheduleRecord:
        """Store a schedule: start workflow ``workflow`` (a name, or a file every gateway replica can read) at every
        ``cron`` slot with ``inputs`` and the slot's time (``scheduled_at``, if the workflow declares it). Checked
        first against the configured tools, as ``workflows validate`` checks a file."""
        from datetime import datetime

        from .errors import PlanValidationError
        from .plan import validate_plan
        from .schedules import check_cron, find_workflow, slot_inputs
        from .tools.workflows import SUFFIXES, check_inputs

        found = find_workflow(self.workflows, workflow)
        check_cron(cron)
        values = dict(inputs or {})
        unknown = sorted(set(values) - set(found.plan.inputs))
        try:
            if unknown:
                raise PlanValidationError([f"the workflow has no input {', '.join(map(repr, unknown))} "
                                           f"(its inputs: {', '.join(found.plan.inputs) or 'none'})"])
            sample = {**values, **slot_inputs(found.plan, "sample", datetime.now().astimezone())}
            check_inputs(found.plan, sample)
            validate_plan(found.plan, (await self.load_tools()).schemas(), sample)
        except PlanValidationError as exc:
            raise ConfigError(f"workflow '{found.name}' cannot be scheduled: {'; '.join(exc.problems)}") from None
        ref = str(Path(workflow).resolve()) if Path(workflow).suffix.lower() in SUFFIXES else found.name
        return self.store.add_schedule(ref, cron, owner=owner, kind="workflow", inputs=values)

    def scheduler(self, start_workflow: StartWorkflow | None = None) -> Scheduler | None:
        """What runs due schedules (for the gateway to start): reports, and workflows when ``start_workflow`` can
        queue them; None without the ``reports`` extra (cron)."""
        from .errors import MissingExtraError

        try:
            from .schedules import Scheduler, SlotJob, WorkflowJob, check_cron, replica_name

            check_cron("* * * * *")
        except MissingExtraError:
            return None
        from .reports.schedules import ReportJob

        holder = replica_name()
        jobs: dict[str, SlotJob] = {"report": ReportJob(self.settings, self.store, self.reports, holder=holder)}
        if start_workflow is not None:
            jobs["workflow"] = WorkflowJob(self.workflows, self.store, start_workflow)
        return Scheduler(self.settings, self.store, jobs, holder=holder)

    @property
    def planner(self) -> Planner:
        return self.services.planner

    @property
    def sessions(self) -> Sessions:
        """Conversations by session id (memory/sessions.py), in the app's store."""
        return self.services.sessions

    @property
    def knowledge(self) -> KnowledgeBase:
        """The knowledge base (memory/kb/): ``add``, ``search``, ``documents``, ``remove``; opened on first use."""
        return self.services.knowledge

    async def sync_knowledge(self, names: Sequence[str] | None = None) -> dict[str, IngestReport]:
        """Bring the sources in ``knowledge.sources`` (all, or those named) up to date in the knowledge base:
        new, changed and deleted rows, items and files. One report per source; a source that cannot be read
        reports one failure and keeps what was ingested from it before."""
        from .memory.kb.sources import make_sources, sync_sources

        configs = self.settings.knowledge.sources
        if names:
            unknown = sorted(set(names) - {c.name for c in configs})
            if unknown:
                raise ConfigError(f"no knowledge source named {', '.join(unknown)}; configured: "
                                  f"{', '.join(c.name for c in configs) or 'none'} (knowledge.sources)")
            configs = [c for c in configs if c.name in names]
        sources = make_sources(configs, self.settings)
        kb = await asyncio.to_thread(lambda: self.knowledge)
        return await sync_sources(kb, sources)

    def knowledge_sync_schedule(self) -> SyncSchedule | None:
        """A background :meth:`sync_knowledge` every ``knowledge.sync_interval_s`` (for the gateway to start and
        close), each slot run by the one replica that claims it in the store; None when no interval or no source
        is configured."""
        from .memory.kb.sources import SyncSchedule

        k = self.settings.knowledge
        if not (k.sync_interval_s and k.sources):
            return None
        return SyncSchedule(self.sync_knowledge, k.sync_interval_s, claims=self.store)

    @property
    def opened_knowledge(self) -> KnowledgeBase | None:
        """The knowledge base if something opened it already: a health probe must not be what loads it."""
        return self.services.opened_knowledge

    @property
    def executor(self) -> Executor:
        return self.services.new_executor()

    @property
    def approver(self) -> Approver | None:
        return self.services.approver

    @approver.setter
    def approver(self, approver: Approver | None) -> None:
        self.services.approver = approver

    @property
    def orchestrator(self) -> Orchestrator:
        if self._orchestrator is None:
            s = self.services
            self._orchestrator = Orchestrator(s.store, s.new_executor, s.sessions, writer=self._writer or s.composer,
                                              summarizer=s.summarizer, task_timeout_s=self.settings.task_timeout_s)
        return self._orchestrator

    # -- the public verbs -------------------------------------------------------------------------------------

    def planning_context(self, emit: Callable[..., Any] | None = None,
                         history: list[Any] | None = None) -> PlanningContext:
        return self.services.planning_context(emit, history)

    async def plan(self, request: str, session_id: str | None = None) -> Plan:
        request = clean_request(request)
        await self.load_tools()
        context = self.planning_context(history=self.sessions.history(session_id))
        context.summary = self.sessions.summary(session_id) if session_id else None
        return await self.planner.plan(request, context)

    async def run(
        self,
        request: str,
        session_id: str | None = None,
        owner: str | None = None,
        on_event: EventSink | None = None,
        task_id: str | None = None,
        role: str = "admin",
        history: list[Turn] | None = None,
        language: str | None = None,
        instructions: str | None = None,
        *,
        leased: bool = False,
    ) -> RunResult:
        """Plan ``request``, execute the plan, answer; every stage recorded under the returned task id.

        ``role`` is the caller's (the gateway passes its principal's): tools restricted to other roles are denied.
        ``history`` is the conversation before ``request`` when the caller keeps it (a stateless chat client);
        without it, the session's turns. ``instructions`` (a chat's system prompt) reach every writer: each
        ``llm.generate`` step and the answer, written in ``language`` ("zh"/"en"; default: what they ask for).

        The task runs under its lease in the store (see :meth:`resume`), its row written first with what it needs
        to run, so if this process dies a gateway takes it over; ``leased``: the caller holds the lease already."""
        request = clean_request(request)
        await self.load_tools()
        # Built before the lease is taken: making the planner and the model may hold the event loop a while (the
        # first time), and a heartbeat that cannot beat for a lease's ttl loses the task to another process.
        orchestrator, planner, context = self.orchestrator, self.planner, self.planning_context()
        task_id = task_id or new_task_id()
        spec = TaskSpec.chat(request, history, instructions, kind="request")
        async with self._leased(task_id, leased, NewTask(spec, owner, role, session_id)):
            return await orchestrator.run(request, planner, context, session_id=session_id, owner=owner,
                                          on_event=on_event, task_id=task_id, role=role, history=history,
                                          language=language, instructions=instructions)

    async def execute(
        self,
        plan: Plan | Mapping[str, Any] | str | Path,
        inputs: Mapping[str, Any] | None = None,
        owner: str | None = None,
        on_event: EventSink | None = None,
        task_id: str | None = None,
        role: str = "admin",
        *,
        leased: bool = False,
    ) -> RunResult:
        """Run a plan given as a Plan, a dict, or a path to a JSON plan or YAML workflow (under the task's lease,
        as :meth:`run`)."""
        from .workflow import load_plan

        await self.load_tools()
        parsed = load_plan(plan) if isinstance(plan, str | Path) else parse_plan(plan)
        self.orchestrator.check(parsed, inputs)  # an invalid plan never becomes a task
        task_id = task_id or new_task_id()
        spec = TaskSpec(kind="plan", plan=parsed.dump(), inputs=dict(inputs or {}))
        async with self._leased(task_id, leased, NewTask(spec, owner, role)):
            return await self.orchestrator.execute(parsed, inputs, owner=owner, on_event=on_event,
                                                   task_id=task_id, role=role)

    async def dry_run(self, plan: Plan | Mapping[str, Any] | str | Path,
                      inputs: Mapping[str, Any] | None = None) -> tuple[dict[str, StepResult], list[Event]]:
        """Run a plan with no side effects: tools that have them are simulated (from their output schema, or a
        recorded output of the step's idempotency key) and the events say what each would have been called with.
        Nothing is recorded as a task."""
        from .events import EventEmitter
        from .workflow import load_plan

        await self.load_tools()
        parsed = load_plan(plan) if isinstance(plan, str | Path) else parse_plan(plan)
        executor = self.services.new_executor()
        executor.simulate = True
        events: list[Event] = []
        results = await executor.run(parsed, EventEmitter("dry-run", [events.append]), inputs)
        return results, events

    async def resume(self, task_id: str, on_event: EventSink | None = None, *, leased: bool = False) -> RunResult:
        """Continue an interrupted task from its log: finished steps keep their results, the rest run.

        The task's lease is taken for the run (and renewed), so no other process runs it meanwhile: a task another
        process holds, or one already finished, raises :class:`~openautoglm.errors.TaskConflict`. ``leased``: the
        caller holds the lease already (a gateway worker that claimed the task)."""
        async with self._leased(task_id, leased):
            return await self.orchestrator.resume(task_id, on_event)

    @asynccontextmanager
    async def _leased(self, task_id: str, leased: bool, new: NewTask | None = None) -> AsyncIterator[None]:
        """Hold ``task_id``'s lease for the body (unless the caller does): taken now, renewed by a heartbeat,
        given back after; ``new``: the task's row is written under the lease if it has none yet."""
        if leased:
            yield
            return
        # The caller holds the run (the CLI, user code): its stopping it is a decision, not a crash to recover.
        leases = Leases(self.store, self.settings.gateway.lease_ttl_s, stopped="cancelled")
        try:
            async with leases.holding(task_id, new):
                yield
        finally:
            await leases.aclose()

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
        return self.services.describe_models()

    def rate_task(self, task_id: str, rating: int, *, by: str | None = None, comment: str | None = None,
                  owner: str | None = None) -> list[str]:
        """Record a rating of a task's answer (by ``by``; ``owner`` set: only a task of theirs), with the model
        nodes that served its steps, which it returns. Raises :class:`NotFound` for a task not visible."""
        from .errors import NotFound
        from .events import ModelAttempt, StepFinished

        try:
            self.store.get_task(task_id, owner)
        except NotFound:
            raise NotFound(f"no task '{task_id}' visible to you") from None
        events = self.store.events(task_id)
        nodes = sorted({p.node for e in events if (p := e.payload_as(StepFinished)) is not None and p.node})
        # The policy version that routed the answering attempts (the last one that answered, when several did).
        versions = [a.policy for e in events if (a := e.payload_as(ModelAttempt)) is not None
                    and a.outcome == "ok" and a.policy is not None]
        self.store.add_feedback(task_id, rating, owner=by, comment=comment, nodes=nodes,
                                policy_version=versions[-1] if versions else None)
        return nodes

    def trace(self, task_id: str, owner: str | None = None) -> list[Event]:
        self.store.get_task(task_id, owner=owner)
        return self.store.events(task_id)

    async def aclose(self) -> None:
        await self.services.aclose()

    async def __aenter__(self) -> AutoGLM:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
