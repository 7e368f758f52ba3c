"""Replanning after a step fails for good, and the step-by-step view of what ran."""

from __future__ import annotations

import pytest

from openautoglm.cli.render import print_steps
from openautoglm.engine import Executor, StepResult, StepStatus
from openautoglm.events import EventEmitter
from openautoglm.models.scripted import ScriptedModel
from openautoglm.orchestrator import RunResult
from openautoglm.plan import Plan, RetryPolicy, Step, validate_plan
from openautoglm.planning import RulePlanner
from openautoglm.planning.replan import done_results
from openautoglm.tools.base import tool
from planning_support import context, registry


@tool(name="weather.forecast")
def broken_forecast(city: str, date: str | None = None) -> dict[str, str]:
    """Weather forecast for a city.

    Args:
        city: the city
        date: the day
    """
    raise RuntimeError("upstream weather service is down")


async def test_a_failed_step_gets_a_stand_in_and_the_rest_runs() -> None:
    model = ScriptedModel(["明天可能下雨，带伞。"])
    tools = registry(model)
    tools.add(broken_forecast, replace=True)
    ctx, events = context(tools, model=model)
    planner = RulePlanner()
    request = "查询北京明天的天气并生成一段提醒文案"
    plan = await planner.plan(request, ctx)
    executor = Executor(tools, default_retry=RetryPolicy(attempts=1))
    emitter = EventEmitter("t1", [])
    results = await executor.run(plan, emitter)
    assert results["forecast"].status == StepStatus.FAILED
    assert results["generate"].status == StepStatus.SKIPPED

    new = await planner.replan(request, plan, results, ctx)
    assert new is not None
    validate_plan(new, tools.schemas())
    assert new.step("forecast").uses == "llm.generate"  # no other weather tool: the model answers that part
    assert "weather.forecast failed" in new.step("forecast").with_["prompt"]
    assert new.step("generate") == plan.step("generate")
    replans = [d for k, d in events if k == "replan"]
    assert replans and replans[0]["accepted"] and replans[0]["failed"] == ["forecast"]

    rerun = await executor.run(new, emitter, done=done_results(results))
    assert all(r.status == StepStatus.SUCCEEDED for r in rerun.values())


async def test_nothing_failed_means_no_replan() -> None:
    ctx, events = context()
    plan = Plan(steps=[Step(id="a", uses="math.calculate", with_={"expression": "1+1"})])
    results = {"a": StepResult("a", "math.calculate", StepStatus.SUCCEEDED, output={"result": 2})}
    assert await RulePlanner().replan("1+1", plan, results, ctx) is None
    assert not events


def test_the_steps_view_names_each_part_and_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    tools = registry()
    plan = Plan(steps=[
        Step(id="top", uses="sales.top_products", with_={"start": "2026-11-09", "end": "2026-11-15"},
             description="上周哪个产品卖得最好"),
        Step(id="calc", uses="math.calculate", with_={"expression": "1"}, description="多卖了百分之几"),
        Step(id="note", uses="llm.generate", with_={"prompt": "x ${calc.output}"}),
    ])
    results = [
        StepResult("top", "sales.top_products", StepStatus.SUCCEEDED,
                   output={"products": [{"name": "智能手表", "units": 120}]}),
        StepResult("calc", "math.calculate", StepStatus.SUCCEEDED, output={"expression": "(120-96)/96*100",
                                                                          "result": 25}),
        StepResult("note", "llm.generate", StepStatus.SKIPPED, error="calc failed"),
    ]
    print_steps(RunResult("t", "partial", "", plan, results), tools)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[top] 上周哪个产品卖得最好 → ") and "智能手表" in lines[0]
    assert lines[1].startswith("[calc] 多卖了百分之几 → ") and "25" in lines[1]
    assert lines[2] == "[note] llm.generate skipped: calc failed"
