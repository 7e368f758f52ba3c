"""What a planner is given: the tools, the model, the clock, the session's earlier turns, where events go."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..models.base import ChatModel
from ..plan import Plan
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
    # How well the knowledge base's best passage matches a text (0-1), or None when there is no knowledge base
    # with documents: a part no tool matches is looked up there before anything else.
    knowledge: Callable[[str], Awaitable[float | None]] | None = None
