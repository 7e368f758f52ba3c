"""The records of the audit trail. Pure: no I/O.

Every stage of a task appends events to one append-only log keyed by task id. The log is the trail a person
reads (``autoglm trace``), the source of a task's state, and the feed of live progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    TASK_STARTED = "task.started"
    TASK_FINISHED = "task.finished"
    TASK_FAILED = "task.failed"
    INTENT = "intent"
    CLARIFICATION = "clarification"
    PLAN_MADE = "plan.made"
    PLAN_INVALID = "plan.invalid"
    PLAN_REPAIRED = "plan.repaired"
    PLAN_FALLBACK = "plan.fallback"
    REPLAN = "replan"
    STEP_STARTED = "step.started"
    STEP_FINISHED = "step.finished"
    STEP_FAILED = "step.failed"
    STEP_RETRY = "step.retry"
    STEP_SKIPPED = "step.skipped"
    TOOL_CALL = "tool.call"
    TOOL_RESULT = "tool.result"
    TOOL_DENIED = "tool.denied"
    APPROVAL = "approval"
    MODEL_PROMPT = "model.prompt"
    MODEL_COMPLETION = "model.completion"
    MODEL_ATTEMPT = "model.attempt"
    FALLBACK = "fallback"
    CACHE_HIT = "cache.hit"
    ANSWER = "answer"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Event:
    task_id: str
    seq: int
    kind: str
    ts: float
    step_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


EventSink = Callable[[Event], None]


class EventEmitter:
    """Numbers and timestamps the events of one task and hands them to a sink (the store, a live view...)."""

    __slots__ = ("_clock", "_seq", "_sinks", "task_id")

    def __init__(self, task_id: str, sinks: list[EventSink], clock: Callable[[], float] = time.time, seq: int = 0):
        self.task_id = task_id
        self._sinks = sinks
        self._clock = clock
        self._seq = seq

    def emit(self, kind: str, step_id: str | None = None, **data: Any) -> Event:
        self._seq += 1
        event = Event(self.task_id, self._seq, str(kind), self._clock(), step_id, data)
        for sink in self._sinks:
            sink(event)
        return event

    def add_sink(self, sink: EventSink) -> None:
        self._sinks.append(sink)


def step_outputs(events: Iterable[Event]) -> dict[str, Any]:
    """What each step of a task returned, by step id, as recorded (a step run again after a replan or a resume
    keeps its last output)."""
    return {e.step_id: e.data.get("output") for e in events if e.kind == EventKind.STEP_FINISHED and e.step_id}
