"""One answer from the step results, saying which step each part came from."""

from __future__ import annotations

from collections.abc import Iterable

from ..engine import StepResult, StepStatus
from ..plan import Plan, render
from ..tools.base import ToolRegistry


def aggregate(plan: Plan, results: Iterable[StepResult], tools: ToolRegistry | None = None,
              replaced: Iterable[StepResult] = ()) -> str:
    """Each finished step's result in plan order, tagged with its step id; then what is missing and why, and
    which steps a replan stood in for (``replaced``: the failed results it replaced), so a stand-in's answer is
    never taken for the original tool's."""
    by_id = {r.id: r for r in results}
    parts: list[str] = []
    missing: list[str] = []
    for step in plan.steps:
        result = by_id.get(step.id)
        if result is None:
            continue
        if result.status == StepStatus.SUCCEEDED:
            text = (tools.get(step.uses).summarize(result.output) if tools and step.uses in tools
                    else render(result.output))
            label = f"[{step.id}] {step.description.strip()} → " if step.description else f"[{step.id}] "
            parts.append(f"{label}{text.strip()}")
        else:
            missing.append(f"[{step.id}] {step.uses} {result.status}: {result.error}")
    answer = "\n".join(parts)
    if missing:
        answer += ("\n" if answer else "") + "Missing:\n" + "\n".join(missing)
    stand_ins = [f"[{r.id}] {r.uses} failed ({r.error}); answered with {plan.step(r.id).uses} instead"
                 for r in replaced]
    if stand_ins:
        answer += ("\n" if answer else "") + "Replaced:\n" + "\n".join(stand_ins)
    return answer
