"""A tool is chosen only when the request asks what it answers (rules alone, no model, no embedder): the time of day
goes to the clock, a count of weeks to the span between two dates, a sum that grows at a rate to the interest tool;
a date word alone (今天, today) or the text a request wants translated never pulls it into a tool."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from openautoglm import tool
from openautoglm.config import Settings
from openautoglm.models.scripted import ScriptedModel
from openautoglm.plan import Plan, validate_plan
from openautoglm.planning import PlanningContext, RulePlanner
from openautoglm.tools import ToolContext
from openautoglm.tools.base import ToolRegistry
from openautoglm.tools.builtin import builtin_tools

NOW = datetime(2026, 11, 18, 15, 0).astimezone()  # a Wednesday


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> ToolRegistry:
    home: Path = tmp_path_factory.mktemp("home")
    return ToolRegistry(builtin_tools(ScriptedModel(["unused"]), Settings(home=home)))


async def plan_of(tools: ToolRegistry, request: str, model: Any = None) -> Plan:
    ctx = PlanningContext(tools=tools, now=NOW, emit=lambda *a, **k: None, model=model)
    plan = await RulePlanner(model_fill=False).plan(request, ctx)
    validate_plan(plan, tools.schemas())
    return plan


@pytest.mark.parametrize("request_text", ["今天几点了", "现在几点了？", "请问现在几点钟", "what time is it now",
                                          "Tell me the current time.", "What's the time right now?"])
async def test_the_time_of_day_is_the_clock(tools: ToolRegistry, request_text: str) -> None:
    # 今天 names a day, but 几点 asks the time of day: only the clock answers that (not time.resolve on 今天).
    plan = await plan_of(tools, request_text)
    assert [s.uses for s in plan.steps] == ["time.now"], request_text


@pytest.mark.parametrize("request_text, expression, unit", [
    ("how many weeks from 2026-01-05 to 2026-03-02", "from 2026-01-05 to 2026-03-02", "weeks"),
    ("How many weeks from March 2, 2026 to April 20, 2026?", "from March 2, 2026 to April 20, 2026", "weeks"),
    ("从2026年3月1日到2026年6月1日有几周？", "从2026年3月1日到2026年6月1日", "weeks"),
    ("2026年1月10日到2026年9月10日相隔几个月", "2026年1月10日到2026年9月10日", "months"),
    ("How many days from 2026-04-03 to 2026-06-20?", "from 2026-04-03 to 2026-06-20", "days"),
])
async def test_a_count_of_weeks_or_months_is_a_span_in_that_unit(tools: ToolRegistry, request_text: str,
                                                                 expression: str, unit: str) -> None:
    plan = await plan_of(tools, request_text)
    assert [s.uses for s in plan.steps] == ["time.between"], request_text
    assert plan.steps[0].with_["expression"] == expression
    assert plan.steps[0].with_.get("unit", "days") == unit


async def test_the_span_is_answered_in_the_unit_asked(tools: ToolRegistry) -> None:
    tool = tools.get("time.between")
    weeks = await tool(tool.validate({"expression": "from 2026-01-05 to 2026-03-02", "unit": "weeks"}), ToolContext())
    assert tool.answer(weeks, "en") == "From 2026-01-05 to 2026-03-02 is 8 weeks (56 days)."
    assert tool.answer(weeks, "zh") == "2026-01-05 到 2026-03-02 相差 8 周（共 56 天）。"
    months = await tool(tool.validate({"expression": "2026-01-31 到 2026-03-02", "unit": "months"}), ToolContext())
    assert (months["months"], months["month_extra_days"]) == (1, 2)  # Jan 31 -> Feb 28 is a month, then 2 days
    assert tool.answer(months, "zh") == "2026-01-31 到 2026-03-02 相差 1 个月又 2 天（共 30 天）。"


@pytest.mark.parametrize("request_text", ["今天心情不好怎么办", "I'm bored today, any ideas?",
                                          "明天要面试，好紧张怎么办", "今天好累，怎么放松一下？",
                                          "What should I cook for dinner tomorrow?"])
async def test_a_date_word_alone_does_not_choose_a_tool(tools: ToolRegistry, request_text: str) -> None:
    # The only word shared with the date tools is the date itself: nothing asks for a date, so no tool runs and the
    # part is honestly unsupported on the embedded defaults.
    plan = await plan_of(tools, request_text)
    assert plan.steps == [] and plan.unsupported, request_text


@pytest.mark.parametrize("request_text, principal, rate, years", [
    ("How much will 1500 grow to in 3 years at 4% compounded annually", 1500, 4, 3),
    ("If I invest 5000 at 6% per year for 8 years, compounded annually, what will it be worth?", 5000, 6, 8),
    ("What will 800 be worth in 12 years at 7% compounded yearly?", 800, 7, 12),
    ("借 10000 元，年利率 5%，按复利计算 2 年后要还多少？", 10000, 5, 2),
    ("1万元按年化3%复利存5年能拿到多少？", 10000, 3, 5),
    ("存款 20000 元，年利率 2.5%，3 年后本息合计多少？", 20000, 2.5, 3),
])
async def test_a_sum_growing_at_a_rate_is_interest(tools: ToolRegistry, request_text: str, principal: float,
                                                   rate: float, years: float) -> None:
    plan = await plan_of(tools, request_text)
    assert [s.uses for s in plan.steps] == ["finance.interest"] and not plan.unsupported, request_text
    args = plan.steps[0].with_
    assert (args["principal"], args["rate"], args["years"]) == (principal, rate, years)


@pytest.mark.parametrize("request_text", ["翻译成英文：我爱北京", "翻译成英文：今天天气很好",
                                          '请把"现在开始上课"翻译成英文',
                                          'Translate "see you tomorrow" into Chinese.',
                                          "Translate to Chinese: what time is it now"])
async def test_a_translation_is_honest_on_the_embedded_model_and_written_by_a_capable_one(
        tools: ToolRegistry, request_text: str) -> None:
    # The text to translate names weather, dates and clocks: none of it is asked for.
    small = await plan_of(tools, request_text, model=ScriptedModel(["unused"]))
    assert small.steps == [] and [u.reason for u in small.unsupported] == [
        "the built-in small model cannot be trusted to translate"], request_text
    assert "capable model" in small.unsupported[0].needs
    capable = await plan_of(tools, request_text, model=ScriptedModel(["unused"], can_plan=True))
    assert [s.uses for s in capable.steps] == ["llm.generate"] and not capable.unsupported, request_text


async def test_a_tool_that_translates_is_chosen_for_a_translation(tools: ToolRegistry) -> None:

    @tool(name="deepl.translate")
    def translate(text: str, target_lang: Literal["EN", "ZH"]) -> str:
        """Translate text into another language.

        Args:
            text: the text to translate
            target_lang: "EN" (英文, English) or "ZH" (中文, Chinese)
        """
        return text

    mine = ToolRegistry([*tools, translate])
    plan = await plan_of(mine, "翻译成英文：今天天气很好", model=ScriptedModel(["unused"]))
    assert [s.uses for s in plan.steps] == ["deepl.translate"] and plan.steps[0].with_["target_lang"] == "EN"


@pytest.mark.parametrize("request_text, uses, order", [
    ("销量第一的产品比第二名多卖了多少件？", None, None),
    ("How many more units did the top product sell than the second one?", None, None),
    ("哪个地区的销量最少？", "sales.rank", "asc"),
    ("Which category had the lowest revenue?", "sales.rank", "asc"),
])
async def test_a_sales_question_without_a_period_is_planned_for_the_default_one(
        tools: ToolRegistry, request_text: str, uses: str | None, order: str | None) -> None:
    # No date named: the sales tools answer for their default period (the last 30 days), which the answer states.
    plan = await plan_of(tools, request_text)
    assert plan.steps and not plan.unsupported, request_text
    assert "start" not in plan.steps[0].with_
    if uses:
        assert [s.uses for s in plan.steps] == [uses] and plan.steps[0].with_["order"] == order
    else:
        assert [s.uses for s in plan.steps][-1] == "math.calculate"


@pytest.mark.parametrize("request_text", ["现在学什么编程语言好？", "目前最好的学习方法是什么",
                                          "What should I cook right now?"])
async def test_words_of_the_present_alone_never_choose_the_clock(tools: ToolRegistry, request_text: str) -> None:
    # 现在 / now situate the request in time; they do not ask what time it is.
    plan = await plan_of(tools, request_text)
    assert not [s for s in plan.steps if s.uses.startswith("time.")], (request_text, plan.steps)


@pytest.mark.parametrize("request_text", ["What is today's date?", "Tell me today's date and weekday"])
async def test_todays_date_is_the_clock_not_a_count_of_days(tools: ToolRegistry, request_text: str) -> None:
    # "today's" is the word today: it meets the clock's "today's date" (the embedder, off here, helps more).
    plan = await plan_of(tools, request_text)
    assert [s.uses for s in plan.steps] == ["time.now"], request_text


@pytest.mark.parametrize("request_text, group_by", [
    ("worst-selling product this month", "product"),
    ("上个月销量倒数第一的产品是哪个？", "product"),
    ("上周哪个地区垫底？", "region"),
    ("What was the bottom product by revenue last month?", "product"),
])
async def test_the_bottom_of_a_ranking_ranks_upwards(tools: ToolRegistry, request_text: str, group_by: str) -> None:
    # A best-sellers list read from the top would answer the opposite question with a confident "succeeded".
    plan = await plan_of(tools, request_text)
    assert [s.uses for s in plan.steps] == ["sales.rank"], request_text
    assert plan.steps[0].with_["order"] == "asc" and plan.steps[0].with_["group_by"] == group_by


@pytest.mark.parametrize("request_text, chosen", [
    ("How many annual leave days do regular employees get?", None),  # "many days" alone is not a sales question
    ("Which day last week had the most units?", "sales.rank"),
    ("Which region did best last week?", "sales.rank"),
    ("What was the total revenue last month?", "sales.summary"),
])
async def test_a_data_tool_answers_only_questions_in_its_domain(tools: ToolRegistry, request_text: str,
                                                               chosen: str | None) -> None:
    plan = await plan_of(tools, request_text)
    sales = [s.uses for s in plan.steps if s.uses.startswith("sales.")]
    assert sales == ([chosen] if chosen else []), (request_text, plan.steps)
