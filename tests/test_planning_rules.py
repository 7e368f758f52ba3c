"""The rule planner: valid plans, the right tools, the right dependencies, on varied Chinese and English requests."""

from __future__ import annotations

import re

import pytest

from openautoglm.app import AutoGLM
from openautoglm.config import Settings
from openautoglm.models.scripted import ScriptedModel
from openautoglm.plan import Plan, step_dependencies, validate_plan
from openautoglm.planning import RulePlanner
from openautoglm.planning.entities import arithmetic, ordinals, places, top_n
from openautoglm.planning.intent import parse_intent
from openautoglm.store import Store
from planning_support import NOW, context, registry


async def plan_of(request: str, **kw: object) -> Plan:
    ctx, _ = context(**kw)  # type: ignore[arg-type]
    plan = await RulePlanner().plan(request, ctx)
    validate_plan(plan, ctx.tools.schemas())
    return plan


def deps(plan: Plan) -> dict[str, set[str]]:
    return {s.id: step_dependencies(s) for s in plan.steps}


async def test_sales_then_percentage_reads_the_first_steps_output() -> None:
    plan = await plan_of("上周哪个产品卖得最好？再算一下它比第二名多卖了百分之几")
    assert [s.uses for s in plan.steps] == ["sales.top_products", "math.calculate"]
    top, calc = plan.steps
    assert (top.with_["start"], top.with_["end"]) == ("2026-11-09", "2026-11-15")
    assert top.with_["limit"] >= 2
    expr = calc.with_["expression"]
    assert f"${{{top.id}.output.products.0.units}}" in expr and f"${{{top.id}.output.products.1.units}}" in expr
    assert "100" in expr
    assert deps(plan)[calc.id] == {top.id}


async def test_weather_then_reminder() -> None:
    plan = await plan_of("查询北京明天的天气并生成一段提醒文案")
    assert [s.uses for s in plan.steps] == ["weather.forecast", "llm.generate"]
    weather, write = plan.steps
    assert weather.with_ == {"city": "北京", "date": "2026-11-23"}
    assert f"${{{weather.id}.output}}" in write.with_["prompt"]
    assert deps(plan)[write.id] == {weather.id}


@pytest.mark.parametrize("request_text, tools", [
    ("计算 123*456，并告诉我今天星期几", {"math.calculate", "time.resolve"}),
    ("what is 17% of 2300 and what's the date next Monday", {"math.calculate", "time.resolve"}),
    ("同时查一下上海和北京的天气", None),
])
async def test_independent_parts_have_no_dependency(request_text: str, tools: set[str] | None) -> None:
    plan = await plan_of(request_text)
    if tools is not None:
        assert {s.uses for s in plan.steps} == tools
        assert len(plan.steps) == 2
    assert all(not d for d in deps(plan).values())


async def test_arithmetic_is_filled_from_words_and_symbols() -> None:
    plan = await plan_of("what is 17% of 2300 and what's the date next Monday")
    calc = next(s for s in plan.steps if s.uses == "math.calculate")
    assert calc.with_["expression"] == "(17 / 100 * 2300)"
    when = next(s for s in plan.steps if s.uses == "time.resolve")
    assert when.with_["expression"] == "next Monday"


@pytest.mark.parametrize("request_text", ["写一首关于秋天的短诗", "Explain what a hash map is", "你好"])
async def test_unmatched_requests_go_to_the_model(request_text: str) -> None:
    plan = await plan_of(request_text)
    assert [s.uses for s in plan.steps] == ["llm.generate"]
    assert plan.steps[0].with_["prompt"] == request_text


async def test_top_n_and_enum_from_words() -> None:
    plan = await plan_of("top 3 products by revenue last month")
    (step,) = plan.steps
    assert step.uses == "sales.top_products"
    assert step.with_["limit"] == 3 and step.with_["by"] == "revenue"
    assert (step.with_["start"], step.with_["end"]) == ("2026-10-01", "2026-10-31")


async def test_then_write_depends_and_english_place() -> None:
    plan = await plan_of("Check the weather in London tomorrow, then write a short packing list")
    assert [s.uses for s in plan.steps] == ["weather.forecast", "llm.generate"]
    assert plan.steps[0].with_["city"] == "London"
    assert deps(plan)[plan.steps[1].id] == {plan.steps[0].id}


async def test_fetch_and_write_in_one_part() -> None:
    plan = await plan_of("提醒我明天带伞", default_city="杭州")
    assert [s.uses for s in plan.steps] == ["weather.forecast", "llm.generate"]
    assert plan.steps[0].with_["city"] == "杭州"


async def test_explanation_says_why() -> None:
    ctx, events = context()
    await RulePlanner().plan("查询北京明天的天气并生成一段提醒文案", ctx)
    first = ctx.explanation[0]
    assert first["chosen"] == "weather.forecast"
    assert any("天气" in m for m in first["matched"])
    assert first["slots"]["city"] and first["slots"]["date"].startswith("date '明天'")
    assert any(kind == "intent" for kind, _ in events)


def test_entities() -> None:
    assert ordinals("它比第二名多卖了多少") == [2]
    assert ordinals("the second one") == [2]
    assert top_n("销量前五的产品") == 5 and top_n("top 10 songs") == 10
    assert places("查询北京明天的天气") == ["北京"]
    assert places("weather in San Francisco today") == ["San Francisco"]
    assert arithmetic("计算 (12+8) 乘以 3") == "(12+8) * 3"
    assert arithmetic("没有数字") is None


def test_parts_split_at_connectives() -> None:
    intent = parse_intent("先查一下本月销量前五的产品，然后写一段总结；另外告诉我现在几点", NOW)
    assert len(intent.parts) == 3
    assert intent.parts[1].connective == "然后" and intent.parts[1].sequential
    assert intent.parts[2].independent
    english = parse_intent("Get the weather in Paris and then translate it into French", NOW)
    assert [p.connective for p in english.parts] == ["", "and then"] and english.parts[1].refers_back


async def test_sales_demo_runs_end_to_end_and_the_answer_names_product_and_percentage(tmp_path) -> None:
    model = ScriptedModel(["(unused)"])
    glm = AutoGLM(settings=Settings(home=tmp_path, planner="rules"), model=model, tools=registry(model),
                  store=Store(f"sqlite:///{tmp_path / 't.db'}"), planner=RulePlanner())
    async with glm:
        result = await glm.run("上周哪个产品卖得最好？再算一下它比第二名多卖了百分之几")
    assert result.status == "succeeded", result.answer
    assert "智能手表" in result.answer
    assert re.search(r"25(\.0+)?", result.answer)  # (120 - 96) / 96 * 100 = 25
