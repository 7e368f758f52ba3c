"""A follow-up reads the previous turn's data: "它比第二名多卖了多少件？" after "上周哪个产品卖得最好？".

The previous turn's steps that finished are offered to the follow-up's first part as steps that came before it
(the fill reads their tools' output schemas, as within one request). Those it reads enter the plan as
``memory.recall`` steps under their old ids, each fetching the recorded output of that turn's task: the numbers
come from the earlier data, never from the earlier answer's wording, and the trace says where they came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..plan import Plan, Step, step_dependencies
from ..tools.base import Tool, ToolRegistry
from ..tools.recall import RECALL
from .context import Turn
from .fill import Prior


@dataclass
class Carried:
    """A step of the previous turn: the recall step that brings its output, and how the fill sees it."""

    step: Step
    prior: Prior


def previous_data(history: list[Turn]) -> Turn | None:
    """The last turn that ran steps and recorded what they returned (a clarifying question ran none)."""
    for turn in reversed(history):
        if turn.status == "needs_input" or turn.status == "unanswered":
            continue
        return turn if turn.plan is not None and turn.task_id and turn.outputs else None
    return None


def carried_steps(history: list[Turn], tools: ToolRegistry) -> list[Carried]:
    """The previous turn's finished steps, each as a recall of its recorded output."""
    turn = previous_data(history)
    if turn is None or turn.plan is None or turn.task_id is None or RECALL not in tools:
        return []
    out: list[Carried] = []
    for step in turn.plan.steps:
        if step.id not in turn.outputs:
            continue
        # A step that was itself a recall carries the tool that first produced the data, for its output schema.
        origin = str(step.with_.get("uses") or "") if step.uses == RECALL else step.uses
        if origin not in tools:
            continue
        tool: Tool = tools.get(origin)
        recall = Step(id=step.id, uses=RECALL, with_={"task_id": turn.task_id, "step": step.id, "uses": origin},
                      description=step.description)
        out.append(Carried(recall, Prior(step.id, tool, None)))
    return out


def keep_read(carried: list[Carried], steps: list[Step]) -> list[Carried]:
    """The carried steps that ``steps`` read or wait for."""
    read = set().union(*(step_dependencies(s) for s in steps)) if steps else set()
    return [c for c in carried if c.step.id in read]


def recalled(plan: Plan) -> list[Step]:
    return [s for s in plan.steps if s.uses == RECALL]
