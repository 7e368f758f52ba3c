"""What every planner implements, and the plan that always exists: answer the request with the model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..models.base import ChatModel
from ..plan import Plan, Step
from ..registry import Registry
from ..tools.base import ToolRegistry

if TYPE_CHECKING:
    from ..config import Settings


@dataclass
class Turn:
    """One earlier exchange in the session: what was asked, the plan that ran, what was answered."""

    request: str
    answer: str = ""
    plan: Plan | None = None
    # "needs_input" when the turn ended with a clarifying question: the next request is the user's answer.
    status: str = "succeeded"
    question: str | None = None
    missing: list[str] = field(default_factory=list)
    # What the turn's steps returned, by step id: a follow-up about "it" is answered from this data, not from the
    # answer's wording. Data only: planners never read it as instructions (a model sees it fenced).
    outputs: dict[str, Any] = field(default_factory=dict)
    task_id: str | None = None


@dataclass
class PlanningContext:
    tools: ToolRegistry
    model: ChatModel | None = None
    now: datetime = field(default_factory=lambda: datetime.now().astimezone())
    history: list[Turn] = field(default_factory=list)
    # The session's older turns folded into a few lines (memory/sessions.py); data like the history.
    summary: str | None = None
    emit: Callable[..., Any] = field(default=lambda *a, **k: None)
    default_city: str | None = None
    # Why each step was chosen (candidates and scores, matched words, filled slots): `autoglm plan --explain`.
    explanation: list[dict[str, Any]] = field(default_factory=list)


class Planner:
    """Turns a request into a valid Plan, or raises :class:`~openautoglm.errors.ClarificationNeeded`."""

    name = "planner"

    @classmethod
    def from_settings(cls, settings: Settings) -> Planner:
        """The planner ``planner: <its name>`` in autoglm.yaml makes (override to read settings)."""
        return cls()

    async def plan(self, request: str, ctx: PlanningContext) -> Plan:
        raise NotImplementedError

    async def replan(self, request: str, plan: Plan, results: Mapping[str, Any], ctx: PlanningContext) -> Plan | None:
        """A bounded replacement for the rest of ``plan`` after a step failed for good, or None.

        Run it with the succeeded results as done: ``executor.run(new, emitter, done=done_results(results))``.
        Recorded as a ``replan`` event whether accepted or not."""
        from .replan import replan

        return await replan(request, plan, results, ctx)


# ``planner:`` -> planner class; a third party adds one with @planners.register("name") or an entry point.
planners: Registry[Planner] = Registry("openautoglm.planners", "planner", Planner,
                                       builtins=("openautoglm.planning.rules", "openautoglm.planning.model"))


class DirectPlanner(Planner):
    """One step: the model answers the request itself. The fallback that is always valid."""

    name = "direct"

    async def plan(self, request: str, ctx: PlanningContext) -> Plan:
        return direct_plan(request)


def direct_plan(request: str) -> Plan:
    return Plan(steps=[Step(id="answer", uses="llm.generate", with_={"prompt": request})])


def with_instructions(plan: Plan, instructions: str | None, tools: ToolRegistry) -> Plan:
    """``plan`` with the caller's standing instructions (a chat's system prompt: language, persona) given to each
    step that writes text, i.e. whose tool takes a ``system`` argument (``llm.generate``, ``knowledge.answer``), and
    has none of its own. The plan records them, so a resumed task writes the same way."""

    def writes(step: Step) -> bool:
        if step.with_.get("system") or step.uses not in tools:
            return False
        return "system" in ((tools.get(step.uses).parameters or {}).get("properties") or {})

    if not instructions or not any(writes(s) for s in plan.steps):
        return plan
    instructions = instructions.replace("${", "$\u200b{")  # the caller's words, never a reference to a step
    steps = [s.model_copy(update={"with_": {**s.with_, "system": instructions}}) if writes(s) else s
             for s in plan.steps]
    return plan.model_copy(update={"steps": steps})
