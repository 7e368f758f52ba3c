"""What a task needs to run in any process (:class:`TaskSpec`), stored with its row when it is accepted, so that
whichever process claims it (the one that accepted it, another replica after a crash) can start it from scratch."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .plan import parse_plan
from .planning.context import Turn


class TaskSpec(BaseModel):
    """What a queued task needs to run in any process, stored with it."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["request", "plan", "chat"]
    request: str | None = None
    plan: dict[str, Any] | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    history: list[dict[str, Any]] | None = None  # a stateless chat's earlier turns
    instructions: str | None = None  # a chat's system prompt

    @classmethod
    def chat(cls, request: str, history: list[Turn] | None, instructions: str | None,
             kind: Literal["request", "chat"] = "chat") -> TaskSpec:
        turns = None if history is None else [
            asdict(t) | {"plan": t.plan.dump() if t.plan is not None else None} for t in history]
        return cls(kind=kind, request=request, history=turns, instructions=instructions)

    def turns(self) -> list[Turn] | None:
        if self.history is None:
            return None
        return [Turn(**(t | {"plan": parse_plan(t["plan"]) if t.get("plan") else None})) for t in self.history]

    def title(self) -> str | None:
        """What the task's row shows as its request: the request, or the plan's name."""
        if self.request is not None:
            return self.request
        plan = self.plan or {}
        return str(plan.get("description") or plan.get("name") or "plan")
