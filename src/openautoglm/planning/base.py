"""What every planner implements, and the plan that always exists: answer the request with the model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..plan import Plan, Step, literal
from ..registry import Registry
from ..tools.base import ToolRegistry
from .context import PlanningContext, Turn
from .replan import replan
from .select import GENERATE

if TYPE_CHECKING:
    from ..config import Settings


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
    return Plan(steps=[Step(id="answer", uses=GENERATE, with_={"prompt": request})])


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
    instructions = literal(instructions)
    steps = [s.model_copy(update={"with_": {**s.with_, "system": instructions}}) if writes(s) else s
             for s in plan.steps]
    return plan.model_copy(update={"steps": steps})


__all__ = ["DirectPlanner", "Planner", "PlanningContext", "Turn", "direct_plan", "planners", "with_instructions"]
