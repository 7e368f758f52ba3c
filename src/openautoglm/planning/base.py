"""What every planner implements, and the plan that always exists: answer the request with the model."""

from __future__ import annotations

from collections.abc import Callable
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


@dataclass
class PlanningContext:
    tools: ToolRegistry
    model: ChatModel | None = None
    now: datetime = field(default_factory=lambda: datetime.now().astimezone())
    history: list[Turn] = field(default_factory=list)
    emit: Callable[..., Any] = field(default=lambda *a, **k: None)
    default_city: str | None = None


class Planner:
    """Turns a request into a valid Plan, or raises :class:`~openautoglm.errors.ClarificationNeeded`."""

    name = "planner"

    async def plan(self, request: str, ctx: PlanningContext) -> Plan:
        raise NotImplementedError


class DirectPlanner(Planner):
    """One step: the model answers the request itself. The fallback that is always valid."""

    name = "direct"

    async def plan(self, request: str, ctx: PlanningContext) -> Plan:
        return direct_plan(request)


def direct_plan(request: str) -> Plan:
    return Plan(steps=[Step(id="answer", uses="llm.generate", with_={"prompt": request})])
