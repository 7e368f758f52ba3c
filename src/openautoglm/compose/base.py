"""What the composer is given and what it gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..engine import StepResult
from ..plan import Plan, UnsupportedPart
from ..tools.base import ToolRegistry

Status = Literal["succeeded", "partial", "unsupported", "failed"]


@dataclass
class ComposeInput:
    """A finished run: the request, its plan, each step's result (in plan order), and what could not be planned.

    ``language`` ("zh"/"en") wins over a language named in ``instructions`` (a system prompt such as "always answer
    in English"), which wins over the request's own. ``replaced`` are the failed results a replan stood in for;
    ``unsupported`` defaults to the plan's own record of parts nothing can do."""

    request: str
    plan: Plan
    steps: list[StepResult]
    tools: ToolRegistry
    language: str | None = None
    instructions: str | None = None
    replaced: list[StepResult] = field(default_factory=list)
    unsupported: list[UnsupportedPart] | None = None
    emit: Callable[..., Any] = field(default=lambda *a, **k: None)

    @property
    def unsupported_parts(self) -> list[UnsupportedPart]:
        return list(self.plan.unsupported) if self.unsupported is None else list(self.unsupported)


@dataclass
class Composed:
    """One reply, how honest a status it earns, and how sure it is (see :mod:`openautoglm.compose.confidence`)."""

    answer: str
    status: Status
    confidence: float
    writer: str  # "deterministic" | "model"
    notes: list[str] = field(default_factory=list)
