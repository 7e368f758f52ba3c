"""Replanning (LLMCompiler's "replan"): when a step fails for good, a bounded replacement for the rest of the plan.

The replacement keeps every step that succeeded (the executor takes their results as done), gives each failed
step a stand-in under the same id (another tool that fits the same part, or the model answering that part with
what is known), and keeps the skipped dependents as they were. It is validated like any plan, or not offered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from ..engine import StepResult, StepStatus
from ..events import EventKind
from ..plan import Plan, Step, literal, plan_problems
from ..tools.llm import fence_data
from .context import PlanningContext
from .fill import ArgumentFiller
from .intent import parse_intent
from .select import GENERATE, MIN_SCORE, ToolIndex, fit_entities

STAND_IN_SHARE = 0.7
# A stand-in must do the failed tool's job, not merely match the request's words. Measured with the bundled e5
# embeddings on tool descriptions: tools doing the same job score 0.92-0.95 (two weather providers, sales.summary
# and sales.top_products, knowledge.search and knowledge.answer); different jobs at most 0.88 (weather.forecast
# and time.resolve: 0.87). Without embeddings no tool stands in; the model answers with what is known.
KINSHIP_FLOOR = 0.9


def _stand_in(step: Step, error: str, exclude: set[str], ctx: PlanningContext, index: ToolIndex,
              request: str) -> Step | None:
    part_text = step.description or request
    intent = parse_intent(part_text, ctx.now)
    part = intent.parts[0]
    ranked = fit_entities(index.rank(part_text), part, ctx.tools)
    # A stand-in must fit the part about as well as the tool that failed, not merely share a date with it.
    bar = max(MIN_SCORE, STAND_IN_SHARE * next((c.score for c in ranked if c.tool == step.uses), 0.0))
    filler = ArgumentFiller(ctx.default_city)
    for cand in [c for c in ranked if c.tool not in exclude][:3]:
        if cand.score < bar:
            break
        if (index.kinship(step.uses, cand.tool) or 0.0) < KINSHIP_FLOOR:
            continue
        filled = filler.fill(ctx.tools.get(cand.tool), part, intent, [])
        if not filled.missing and not filled.references:
            return Step(id=step.id, uses=cand.tool, with_=filled.args, description=step.description,
                        depends_on=[d for d in step.depends_on])
    if GENERATE in ctx.tools and step.uses != GENERATE:
        # The error may quote what a remote service said: data for the model, never instructions or references.
        prompt = (f"{part_text}\n(The tool {step.uses} failed; its error is below. Answer as well as you can "
                  f"and say what could not be checked.)\n{fence_data(literal(error[:300]))}")
        return Step(id=step.id, uses=GENERATE, with_={"prompt": prompt}, description=step.description)
    return None


async def replan(request: str, plan: Plan, results: Mapping[str, StepResult], ctx: PlanningContext,
                 index: ToolIndex | None = None, max_new_steps: int = 4) -> Plan | None:
    """A plan to run with the succeeded results as done, or None when nothing better can be offered."""
    failed = [s for s in plan.steps if (r := results.get(s.id)) is not None and r.status == StepStatus.FAILED]
    if not failed or len(failed) > max_new_steps:
        return None
    if stuck := [s.id for s in failed if not results[s.id].replannable]:
        ctx.emit(EventKind.REPLAN, accepted=False, failed=stuck, replaced={},
                 problems=["the input itself is what failed (too long for the model): a stand-in would fail too"])
        return None
    index = index or ToolIndex(ctx.tools)
    exclude = {s.uses for s in failed}
    replaced: dict[str, Step] = {}
    for step in failed:
        # Ranking the stand-ins embeds (CPU-bound): off the event loop.
        stand_in = await asyncio.to_thread(_stand_in, step, results[step.id].error or "failed", exclude, ctx, index,
                                           request)
        if stand_in is None:
            return None
        replaced[step.id] = stand_in
    new_plan = Plan(steps=[replaced.get(s.id, s) for s in plan.steps], name=plan.name,
                    description=plan.description, inputs=plan.inputs)
    problems = plan_problems(new_plan, ctx.tools.schemas())
    details: dict[str, Any] = {"failed": [s.id for s in failed],
                               "replaced": {sid: s.uses for sid, s in replaced.items()}}
    if problems:
        ctx.emit(EventKind.REPLAN, accepted=False, problems=problems, **details)
        return None
    ctx.emit(EventKind.REPLAN, accepted=True, plan=new_plan.dump(), **details)
    return new_plan


def done_results(results: Mapping[str, StepResult]) -> dict[str, StepResult]:
    """The results a replanned run starts from: the steps that succeeded."""
    return {sid: r for sid, r in results.items() if r.status == StepStatus.SUCCEEDED}
