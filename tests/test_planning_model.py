"""The model planner: invalid plans are repaired or replaced, and every repair and fallback is in the trace."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from openautoglm.app import AutoGLM
from openautoglm.config import Settings
from openautoglm.errors import ModelUnavailable
from openautoglm.models.openai_compat import OpenAICompatibleModel
from openautoglm.models.scripted import ScriptedModel
from openautoglm.plan import validate_plan
from openautoglm.planning import ModelPlanner, RulePlanner, choose_planner
from openautoglm.planning.model import plan_schema
from openautoglm.store import Store
from openautoglm.testing.fake_openai import FakeOpenAI
from planning_support import context, registry

VALID = {"steps": [
    {"id": "weather", "uses": "weather.forecast", "with": {"city": "北京", "date": "2026-11-23"}},
    {"id": "note", "uses": "llm.generate", "with": {"prompt": "写提醒：${weather.output}"}},
]}
UNKNOWN_TOOL = {"steps": [{"id": "weather", "uses": "weather.lookup", "with": {"city": "北京"}}]}
CYCLE = {"steps": [
    {"id": "a", "uses": "llm.generate", "with": {"prompt": "${b.output}"}},
    {"id": "b", "uses": "llm.generate", "with": {"prompt": "${a.output}"}},
]}


def kinds(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [k for k, _ in events]


async def test_invalid_plans_are_repaired_with_the_errors_fed_back() -> None:
    model = ScriptedModel(["this is not json", UNKNOWN_TOOL, VALID], can_plan=True)
    ctx, events = context(registry(model), model=model)
    plan = await ModelPlanner(max_repairs=2).plan("查询北京明天的天气并生成一段提醒文案", ctx)
    assert plan.dump()["steps"][0]["uses"] == "weather.forecast"
    assert kinds(events).count("plan.invalid") == 2 and "plan.repaired" in kinds(events)
    # The second and third prompts carry the previous answer's problems.
    repair_prompt = model.requests[2].messages[-1].content
    assert "unknown tool 'weather.lookup'" in repair_prompt
    assert model.requests[0].json_schema is not None


async def test_still_invalid_falls_back_to_rules_and_the_result_is_valid() -> None:
    model = ScriptedModel([CYCLE], can_plan=True)
    ctx, events = context(registry(model), model=model)
    plan = await ModelPlanner(max_repairs=1).plan("计算 123*456，并告诉我今天星期几", ctx)
    validate_plan(plan, ctx.tools.schemas())
    assert {s.uses for s in plan.steps} == {"math.calculate", "time.resolve"}
    invalid = [d for k, d in events if k == "plan.invalid"]
    assert len(invalid) == 2 and any("cycle" in p for p in invalid[0]["problems"])
    assert [d["to"] for k, d in events if k == "plan.fallback"] == ["rules"]


async def test_the_model_may_record_parts_nothing_can_do() -> None:
    answer = {"steps": [{"id": "weather", "uses": "weather.forecast", "with": {"city": "上海", "date": "2026-11-23"}}],
              "unsupported": [{"text": "订一张去上海的机票", "reason": "no booking tool",
                               "needs": "a flight-booking tool"}]}
    model = ScriptedModel([answer], can_plan=True)
    ctx, _ = context(registry(model), model=model)
    plan = await ModelPlanner().plan("查一下上海明天的天气，再订一张去上海的机票", ctx)
    assert [s.uses for s in plan.steps] == ["weather.forecast"]
    assert plan.unsupported[0].model_dump() == answer["unsupported"][0]  # type: ignore[index]
    schema = model.requests[0].json_schema
    assert schema is not None
    jsonschema.validate(answer, schema)
    jsonschema.validate({"steps": [], "unsupported": answer["unsupported"]}, schema)
    assert "unsupported" in model.requests[0].messages[0].content


async def test_a_model_that_fails_falls_back() -> None:
    model = ScriptedModel([ModelUnavailable("node down")], can_plan=True)
    ctx, events = context(registry(model), model=model)
    plan = await ModelPlanner().plan("查询北京明天的天气", ctx)
    assert plan.steps[0].uses == "weather.forecast"
    assert "node down" in next(d for k, d in events if k == "plan.fallback")["reason"]


def test_plan_schema_names_the_tools_and_their_arguments() -> None:
    schema = plan_schema(registry())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(VALID, schema)
    variants = schema["properties"]["steps"]["items"]["anyOf"]
    assert {v["properties"]["uses"]["enum"][0] for v in variants} >= {"weather.forecast", "math.calculate"}
    weather = next(v for v in variants if v["properties"]["uses"]["enum"] == ["weather.forecast"])
    assert weather["properties"]["with"]["required"] == ["city"]
    bad = json.loads(json.dumps(VALID))
    bad["steps"][0]["with"]["town"] = "x"
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))


def test_choose_planner_by_capability_and_setting() -> None:
    weak, strong = ScriptedModel(["x"]), ScriptedModel(["x"], can_plan=True)
    assert isinstance(choose_planner(Settings(), weak), RulePlanner)
    assert isinstance(choose_planner(Settings(), strong), ModelPlanner)
    assert isinstance(choose_planner(Settings(planner="rules"), strong), RulePlanner)
    assert isinstance(choose_planner(Settings(planner="model"), weak), ModelPlanner)


class ScriptedServer(FakeOpenAI):
    """The fake OpenAI-compatible server answering from a script: invalid plans first."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__("text")
        self.replies = replies
        self.served = 0

    def answer_text(self, body: dict[str, Any]) -> str:
        if body.get("response_format"):  # planning calls; llm.generate steps get a plain answer
            reply = self.replies[min(self.served, len(self.replies) - 1)]
            self.served += 1
            return reply
        return "带伞出门。"


async def test_openai_compatible_model_gets_its_plans_repaired_in_the_trace(tmp_path) -> None:
    replies = ["```json\n{\"steps\": []}\n```", json.dumps(UNKNOWN_TOOL), json.dumps(VALID)]
    with ScriptedServer(replies) as server:
        model = OpenAICompatibleModel(server.base_url, "fake", can_plan=True)
        glm = AutoGLM(settings=Settings(home=tmp_path), model=model, tools=registry(model),
                      store=Store(f"sqlite:///{tmp_path / 't.db'}"))
        async with glm:
            assert isinstance(glm.planner, ModelPlanner)
            result = await glm.run("查询北京明天的天气并生成一段提醒文案")
            trace = [e.kind for e in glm.trace(result.task_id)]
    assert result.status == "succeeded", result.answer
    assert trace.count("plan.invalid") == 2 and "plan.repaired" in trace
    assert trace.index("plan.repaired") < trace.index("plan.made")
    assert server.served == 3


async def test_a_slow_planning_node_is_cut_at_the_planning_budget_and_the_rule_plan_is_used() -> None:
    import time

    # A node that says it can plan but takes 30 s (the 135M model served as "capable"): the plan comes from the
    # rules within the budget, and the trace says why.
    slow = ScriptedModel([VALID], can_plan=True, delay_s=30.0)
    ctx, events = context(registry(slow), model=slow)
    started = time.monotonic()
    plan = await ModelPlanner(fallback=RulePlanner(model_fill=False), seconds=0.3).plan("计算 123*456", ctx)
    assert time.monotonic() - started < 5
    assert [s.uses for s in plan.steps] == ["math.calculate"]
    cut = next(d for k, d in events if k == "budget.cut")
    assert cut["stage"] == "planning" and "0.3s" in cut["reason"]
    assert any(k == "plan.fallback" and d["to"] == "rules" for k, d in events)
    # Within the budget the model's plan stands.
    quick = ScriptedModel([VALID], can_plan=True, delay_s=0.01)
    ctx, events = context(registry(quick), model=quick)
    plan = await ModelPlanner(seconds=5).plan("查询北京明天的天气并生成一段提醒文案", ctx)
    assert plan.steps[0].uses == "weather.forecast" and "budget.cut" not in kinds(events)


def test_the_planning_budget_is_a_setting() -> None:
    assert ModelPlanner.from_settings(Settings(planning_timeout_s=2.5)).seconds == 2.5
