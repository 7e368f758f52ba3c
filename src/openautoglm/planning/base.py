"""What every planner implements, and the plan that always exists: answer the request with the model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..models.base import ChatModel
from ..plan import Plan, Step
from ..tools.base import ToolRegistry


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


@dataclass
class PlanningContext:
    tools: ToolRegistry
    model: ChatModel | None = None
    now: datetime = field(default_factory=lambda: datetime.now().astimezone())
    history: list[Turn] = field(default_factory=list)
    emit: Callable[..., Any] = field(default=lambda *a, **k: None)
    default_city: str | None = None
    # Why each step was chosen (candidates and scores, matched words, filled slots): `autoglm plan --explain`.
    explanation: list[dict[str, Any]] = field(default_factory=list)


class Planner:
    """Turns a request into a valid Plan, or raises :class:`~openautoglm.errors.ClarificationNeeded`."""

    name = "planner"

    async def plan(self, request: str, ctx: PlanningContext) -> Plan:
        raise NotImplementedError

    async def replan(self, request: str, plan: Plan, results: Mapping[str, Any], ctx: PlanningContext) -> Plan | None:
        """A bounded replacement for the rest of ``plan`` after a step failed for good, or None.

        Run it with the succeeded results as done: ``executor.run(new, emitter, done=done_results(results))``.
        Recorded as a ``replan`` event whether accepted or not."""
        from .replan import replan

        return await replan(request, plan, results, ctx)


class DirectPlanner(Planner):
    """One step: the model answers the request itself. The fallback that is always valid."""

    name = "direct"

    async def plan(self, request: str, ctx: PlanningContext) -> Plan:
        return direct_plan(request)


def direct_plan(request: str) -> Plan:
    return Plan(steps=[Step(id="answer", uses="llm.generate", with_={"prompt": request})])
