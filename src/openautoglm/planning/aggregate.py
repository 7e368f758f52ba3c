"""One answer from the step results, saying which step each part came from."""

from __future__ import annotations

from collections.abc import Iterable

from ..engine import StepResult, StepStatus
from ..language import script
from ..plan import Plan, render
from ..tools.base import ToolRegistry
from ..tools.recall import RECALL

# The writer's own words, in each language a reply may be asked in.
_TEXTS = {
    "en": {"missing": "Missing:", "replaced": "Replaced:", "instead": "{id} {uses} failed ({error}); answered with "
           "{by} instead"},
    "zh": {"missing": "未完成：", "replaced": "已替换：", "instead": "{id} {uses} 失败（{error}），改用 {by} 回答"},
}


def aggregate(plan: Plan, results: Iterable[StepResult], tools: ToolRegistry | None = None,
              replaced: Iterable[StepResult] = (), language: str | None = None) -> str:
    """Each finished step's result in plan order, tagged with its step id; then what is missing and why, and
    which steps a replan stood in for (``replaced``: the failed results it replaced), so a stand-in's answer is
    never taken for the original tool's. ``language`` ("zh"/"en", when asked for) chooses the writer's fixed
    words and each tool's own sentence (:meth:`Tool.answer`) where it has one, and drops step descriptions written
    in another language."""
    texts = _TEXTS.get(language or "en", _TEXTS["en"])
    by_id = {r.id: r for r in results}
    # Data carried from an earlier turn was answered then; it is shown again only when nothing else ran.
    shown = [s for s in plan.steps if s.uses != RECALL] or plan.steps
    parts: list[str] = []
    missing: list[str] = []
    for step in shown:
        result = by_id.get(step.id)
        if result is None:
            continue
        if result.status == StepStatus.SUCCEEDED:
            tool = tools.get(step.uses) if tools and step.uses in tools else None
            said = tool.answer(result.output, language) if tool is not None and language else None
            text = said or (tool.summarize(result.output) if tool is not None else render(result.output))
            described = step.description and (language is None or script(step.description) in (None, language))
            label = f"[{step.id}] {(step.description or '').strip()} → " if described else f"[{step.id}] "
            parts.append(f"{label}{text.strip()}")
        else:
            missing.append(f"[{step.id}] {step.uses} {result.status}: {result.error}")
    answer = "\n".join(parts)
    if missing:
        answer += ("\n" if answer else "") + texts["missing"] + "\n" + "\n".join(missing)
    stand_ins = [texts["instead"].format(id=f"[{r.id}]", uses=r.uses, error=r.error, by=plan.step(r.id).uses)
                 for r in replaced]
    if stand_ins:
        answer += ("\n" if answer else "") + texts["replaced"] + "\n" + "\n".join(stand_ins)
    return answer
