"""What a step came to: its status, output or error, timing, attempts and node. Pure: the executor makes these,
tools, planners, the composer and the store read them, so they live apart from all of them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class StepResult:
    id: str
    uses: str
    status: StepStatus = StepStatus.PENDING
    output: Any = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    node: str | None = None
    # False when the step failed because of its input (a prompt longer than the model reads): a stand-in given
    # the same input fails the same way, so no replan is offered for it.
    replannable: bool = True

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uses": self.uses,
            "status": str(self.status),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "attempts": self.attempts,
            "node": self.node,
            "error": self.error,
        }
