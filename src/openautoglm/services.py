"""The services container: the parts one :class:`~openautoglm.AutoGLM` works with, built once from ``Settings``.

Each part is built on first use, so that listing tools never loads a model and a health probe never opens the
knowledge base. The container owns what it built and closes it in :meth:`Services.aclose`. Nothing here runs a
task: that is :mod:`openautoglm.orchestrator`'s job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .compose import Composer
from .config import Settings
from .engine import Approver, Executor, Rerun
from .errors import AutoGLMError
from .memory.kb import KnowledgeBase
from .memory.kb.tools import LazyKnowledgeBase
from .memory.sessions import ModelSummarizer, Sessions, Summarizer
from .models.base import ChatModel
from .plan import RetryPolicy
from .planning.base import Planner, PlanningContext
from .reports.service import Reports
from .reports.tool import ReportRunTool
from .store import Store
from .store.sealing import load_sealer
from .tools.approval import ApprovalBroker
from .tools.base import Tool, ToolContext, ToolRegistry
from .tools.builtin import builtin_tools
from .tools.capabilities import CapabilitiesTool
from .tools.mcp_client import MCPToolset
from .tools.recall import RecallTool
from .tools.workflows import WorkflowRegistry

if TYPE_CHECKING:
    from .models.pool import Router
    from .planning import PlannerChoice
    from .policies.book import PolicyBook
    from .policies.loop import PolicyLoop


class LazyModel(ChatModel):
    """Stands in for a model that is built on its first call, so tools can hold it without loading weights."""

    def __init__(self, build: Callable[[], ChatModel]) -> None:
        self._build = build
        self.name = "model"

    async def complete(self, request: Any) -> Any:
        return await self._build().complete(request)

    async def stream(self, request: Any) -> Any:
        async for piece in self._build().stream(request):
            yield piece

    @property
    def resolved(self) -> ChatModel:
        """The real model (building it): for tools that adapt to what the model can do."""
        return self._build()

    def context_window(self) -> int | None:
        return self._build().context_window()

    def count_tokens(self, text: str) -> int | None:
        return self._build().count_tokens(text)


class Services:
    """Model (or router), tools, workflows, MCP toolset, store, sessions, knowledge base, planner, executors."""

    def __init__(
        self,
        settings: Settings,
        *,
        model: ChatModel | None = None,
        tools: Iterable[Tool | Callable[..., Any]] | ToolRegistry | None = None,
        store: Store | None = None,
        planner: Planner | None = None,
        approver: Approver | None = None,
    ) -> None:
        self.settings = settings
        # Who approves tools with side effects; read each time an executor is made, so it may be changed later.
        self.approver = approver
        # Who decides whether a call whose outcome a crash left unknown runs again (its tool cannot reconcile); by
        # default an approval request in the store, which any gateway's /v1/approvals lists and decides.
        self.rerun: Rerun | None = None
        self._model = model
        self._store = store
        self._planner = planner
        self._planner_choice: PlannerChoice | None = None
        self._extra_tools = tools
        self._tools: ToolRegistry | None = None
        self._workflows: WorkflowRegistry | None = None
        self._mcp: MCPToolset | None = None
        self._policies: PolicyBook | None = None
        self._policy_loop: PolicyLoop | None = None
        self._sessions: Sessions | None = None
        self._knowledge = LazyKnowledgeBase(lambda: KnowledgeBase.from_settings(self.settings))
        self._reports: Reports | None = None
        self.lazy_model = LazyModel(lambda: self.model)

    # -- models -----------------------------------------------------------------------------------------------

    @property
    def model(self) -> ChatModel:
        if self._model is None:
            from .models.factory import build_model

            self._model = build_model(self.settings)
        return self._model

    @property
    def loaded_model(self) -> ChatModel | None:
        """The model if something built it already (closing, or choosing a summarizer, must not load it)."""
        return self._model

    @property
    def router(self) -> Router:
        """The pool of model nodes. A single configured model becomes the pool's first member, so nodes that
        register at run time join it instead of replacing it; from then on every llm step goes through the pool."""
        from .models.factory import model_for_node
        from .models.pool import Router
        from .models.pool.health import open_health

        model = self.model
        if not isinstance(model, Router):
            model = Router([model], settings=self.settings.router, node_factory=model_for_node,
                           health=open_health(self.settings.redis_url, self.settings.redis_prefix))
            self._model = model
        return model

    @property
    def loaded_router(self) -> Router | None:
        """The pool if something built it already (applying a policy must not build a model)."""
        from .models.pool import Router

        return self._model if isinstance(self._model, Router) else None

    @property
    def policies(self) -> PolicyBook:
        """The routing policies in the store, applied to the pool once it exists (policies/book.py)."""
        if self._policies is None:
            from .policies.book import PolicyBook

            self._policies = PolicyBook(self.store, lambda: self.loaded_router, self.settings.policy.poll_s)
        return self._policies

    def start_policy_loop(self) -> None:
        """Run the policy loop (policies/loop.py) in this process when ``policy.loop`` is on; builds the pool."""
        if self.settings.policy.loop and self._policy_loop is None:
            from .policies.loop import PolicyLoop

            self._policy_loop = PolicyLoop(self.policies, self.router, self.settings.policy)
            self._policy_loop.start()

    def describe_models(self) -> list[dict[str, Any]]:
        describe = getattr(self.model, "describe", None)
        if callable(describe):
            return list(describe())
        m = self.model
        return [{"name": m.name, "type": type(m).__name__, "capabilities": sorted(m.capabilities),
                 "json_schema": m.supports_json_schema, "can_plan": m.can_plan, "state": "ready"}]

    # -- tools ------------------------------------------------------------------------------------------------

    @property
    def tools(self) -> ToolRegistry:
        if self._tools is None:
            registry = ToolRegistry(builtin_tools(self.lazy_model, self.settings, knowledge=self._knowledge))
            for workflow_tool in self.workflows.tools(self.settings.timeout_seconds):
                registry.add(workflow_tool, replace=True)
            registry.add(RecallTool(lambda: self.store), replace=True)  # a follow-up reads earlier turns' data
            registry.add(ReportRunTool(lambda: self.reports), replace=True)
            registry.add(CapabilitiesTool(lambda: registry), replace=True)  # "你能做什么", from the tools themselves
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

    def new_executor(self) -> Executor:
        """An executor of the settings' kind (``executor:``, local by default) over the tools, with the settings'
        timeouts, retries and concurrency and the approver."""
        from .executors import executors

        return executors.get(self.settings.executor).for_settings(
            self.settings,
            tools=self.tools,
            default_timeout_s=self.settings.timeout_seconds,
            default_retry=RetryPolicy(attempts=1 + self.settings.retries),
            approver=self.approver,
            max_concurrency=self.settings.max_concurrency,
            model=self.lazy_model,
            ledger=self.store,  # idempotency keys: one ledger for every process on the database
            rerun=self.rerun or self._rerun_by_stored_approval,
        )

    async def _rerun_by_stored_approval(self, tool: Tool, args: dict[str, Any], ctx: ToolContext, why: str,
                                        since: float) -> tuple[bool, str]:
        # Made when first asked: an executor that never meets an unknown outcome opens nothing for it.
        return await self.stored_approvals().rerun(tool, args, ctx, why, since)

    def stored_approvals(self) -> ApprovalBroker:
        """A broker over the approval requests in the store, with the settings' timeouts (no advance grants)."""
        return stored_broker(self.settings, self.store)

    @property
    def reports(self) -> Reports:
        """Report definitions and their runner (reports/); charts and PDFs load their libraries on first run."""
        if self._reports is None:
            # Only a model that needs no weights loaded is asked (a node, an OpenAI-compatible provider, or one
            # given in code): the embedded model never words facts, and a report must not load it.
            remote = bool(self.settings.nodes) or self.settings.model_provider != "local" or self._model is not None
            self._reports = Reports(self.settings, model=(lambda: self.model) if remote else None)
        return self._reports

    # -- planning ---------------------------------------------------------------------------------------------

    @property
    def planner(self) -> Planner:
        """The planner for the next request: the one given, else ``planner:`` judged against the model now (a node
        that can plan may have joined the pool since the last request)."""
        if self._planner is not None:
            return self._planner
        if self._planner_choice is None:
            from .planning import PlannerChoice

            self._planner_choice = PlannerChoice(self.settings)
        return self._planner_choice.for_model(self.model)

    def planning_context(self, emit: Callable[..., Any] | None = None,
                         history: list[Any] | None = None) -> PlanningContext:
        return PlanningContext(tools=self.tools, model=self.model, emit=emit or (lambda *a, **k: None),
                               history=history or [], default_city=self.settings.default_city,
                               knowledge=self.knowledge_relevance)

    async def knowledge_relevance(self, text: str) -> float | None:
        """How well the knowledge base's best passage matches ``text`` (0-1); None when it has no documents or
        cannot be opened: then nothing can be looked up there."""
        try:
            kb = await asyncio.to_thread(self._knowledge)
            if not await asyncio.to_thread(kb.documents):
                return None
            hits = await asyncio.to_thread(kb.search, text, 3)
        except AutoGLMError:
            return None
        return max((h.relevance for h in hits), default=0.0)

    @property
    def composer(self) -> Composer:
        """The reply's writer: deterministic, or the model's grounded reply when the model is capable."""
        return Composer(self.lazy_model)

    # -- memory and persistence -------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    @property
    def sessions(self) -> Sessions:
        if self._sessions is None:
            self._sessions = Sessions(self.store)
        return self._sessions

    def summarizer(self, emit: Callable[..., Any]) -> Summarizer | None:
        """Who folds old session turns into a summary: only a model that can plan writes summaries (the small
        embedded one would garble them), and only one already loaded; None means the sessions truncate."""
        model = self._model
        if model is not None and model.can_plan:
            return ModelSummarizer(model, emit=emit)
        return None

    @property
    def knowledge(self) -> KnowledgeBase:
        return self._knowledge()

    @property
    def opened_knowledge(self) -> KnowledgeBase | None:
        return self._knowledge.opened

    async def aclose(self) -> None:
        if self._knowledge.opened is not None:
            self._knowledge.opened.close()
        if self._mcp is not None:
            await self._mcp.aclose()
            self._mcp = None
        if self._policy_loop is not None:
            await self._policy_loop.aclose()
            self._policy_loop = None
        if self._policies is not None:
            await self._policies.aclose()
        if self._model is not None:
            await self._model.aclose()
        if self._store is not None:
            self._store.close()


def stored_broker(settings: Settings, store: Store) -> ApprovalBroker:
    """A broker over the approval requests in ``store`` with the settings' timeouts: what a gateway, a CLI run
    waiting for a decision made elsewhere, and ``autoglm approvals`` share."""
    a = settings.approvals
    return ApprovalBroker(timeout_s=a.timeout_s, records=store, escalate_to=a.escalate_to,
                          escalation_timeout_s=a.escalation_timeout_s, poll_s=a.poll_s)


def open_store(settings: Settings) -> Store:
    """The settings' database, sealing secrets with their key (loaded when the first secret is sealed or opened)."""
    return Store(settings.db_url, sealer=lambda: load_sealer(settings.secret_key_file, settings.data_dir),
                 encrypt_content=settings.encrypt_content)
