"""Everyday requests plan to the right built-in tool with the right arguments, by rules alone (no model, no
embedder), in Chinese and English: arithmetic in words, units, interest, dates, sales rankings."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from openautoglm.config import Settings
from openautoglm.models.scripted import ScriptedModel
from openautoglm.plan import Plan, validate_plan
from openautoglm.planning import PlanningContext, RulePlanner
from openautoglm.tools.base import ToolRegistry
from openautoglm.tools.builtin import builtin_tools
from openautoglm.tools.calculator import calculate

NOW = datetime(2026, 11, 18, 15, 0).astimezone()  # a Wednesday: 上周 is 2026-11-09 .. 2026-11-15


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> ToolRegistry:
    home: Path = tmp_path_factory.mktemp("home")
    return ToolRegistry(builtin_tools(ScriptedModel(["unused"]), Settings(home=home)))


async def plan_of(tools: ToolRegistry, request: str) -> Plan:
    ctx = PlanningContext(tools=tools, now=NOW, emit=lambda *a, **k: None)
    plan = await RulePlanner(model_fill=False).plan(request, ctx)
    validate_plan(plan, tools.schemas())
    return plan


async def one_step(tools: ToolRegistry, request: str, uses: str) -> dict[str, Any]:
    plan = await plan_of(tools, request)
    assert [s.uses for s in plan.steps] == [uses], request
    return dict(plan.steps[0].with_)


@pytest.mark.parametrize("request_text, expected", [
    ("5 的 4 次方减去 25 是多少？", 5**4 - 25),
    ("二的十次方", 1024),
    ("What's 6 to the power of 3?", 216),
    ("what is 9 squared plus 19", 100),
    ("How much is 12.5% of 8,000?", 1000),
    ("8000 的百分之十二是多少", 960),
    ("一部 2999 元的手机打八五折，再便宜 100 元，要付多少钱？", 2999 * 0.85 - 100),
    ("A 250 dollar jacket is 30% off. Then I use a 20 dollar coupon. How much do I pay?", 250 * 0.7 - 20),
    ("half of 1,250", 625),
    ("三百六十的三分之一", 120),
    ("(120 - 45) * 4，然后除以 3", 100),
    ("take 48, add 12, then divide by 6", 10),
    ("Dinner was 64 dollars, add an 18% tip. How much is that?", 64 * 1.18),
])
async def test_arithmetic_in_words(tools: ToolRegistry, request_text: str, expected: float) -> None:
    args = await one_step(tools, request_text, "math.calculate")
    assert calculate(args["expression"])["result"] == pytest.approx(expected)


@pytest.mark.parametrize("request_text, expected", [
    ("A coat costs 320 dollars and is 40% off. What do I pay?", 320 * 0.6),
    ("I make 7000 a month and spend 30% on rent. How much is left?", 4900),
    ("This TV is 2000 dollars. Today it is 15% off. How much do I pay?", 1700),
    ("这台冰箱原价 4000 元，现在打八五折，要付多少钱？", 3400),
    ("我的月薪 10000 元。扣掉 20% 的税，还剩多少？", 8000),
    ("I had 640 dollars. Then I spent 215 on shoes. How much do I have left?", 425),
    ("钱包里有 800 元，买了一双 260 元的鞋，还剩多少钱？", 540),
    ("卡里有 5000 元，昨天花了 1800 元，还剩多少", 3200),
])
async def test_a_computation_spread_over_statements(tools: ToolRegistry, request_text: str, expected: float) -> None:
    plan = await plan_of(tools, request_text)
    assert not plan.unsupported, plan.unsupported
    assert [s.uses for s in plan.steps] == ["math.calculate"], request_text
    assert calculate(plan.steps[0].with_["expression"])["result"] == pytest.approx(expected)


@pytest.mark.parametrize("request_text, value, source, target", [
    ("26 英里合多少公里？", 26, "mi", "km"),
    ("一百八十厘米是几英尺", 180, "cm", "ft"),
    ("How many kilograms is 150 pounds?", 150, "lb", "kg"),
    ("convert 2.5 gallons into liters", 2.5, "gal", "L"),
    ("今天 35 摄氏度，换算成华氏度是多少", 35, "°C", "°F"),
    ("What is 451 Fahrenheit in Celsius?", 451, "°F", "°C"),
    ("我家 3 亩地是多少平方米", 3, "mu", "m²"),
    ("120 km/h is how many mph?", 120, "km/h", "mph"),
    ("两斤是多少克", 2, "jin", "g"),
])
async def test_unit_conversions(tools: ToolRegistry, request_text: str, value: float, source: str,
                                target: str) -> None:
    args = await one_step(tools, request_text, "measure.convert")
    assert args == {"value": value, "from_unit": source, "to_unit": target}


@pytest.mark.parametrize("request_text, value", [
    ("气温零下十二摄氏度，合多少华氏度？", -12),
    ("负 30 摄氏度等于多少华氏度", -30),
    ("What is minus 7 degrees Celsius in Fahrenheit?", -7),
    ("convert -18 °C to °F", -18),
    ("negative 4 degrees Celsius in Fahrenheit", -4),
    ("Convert 20 °C to °F", 20),
    ("-15 °C in °F", -15),
    ("-25℃等于多少℉", -25),
    ("零下八度合多少华氏度？", -8),  # a bare 度 beside a temperature unit is Celsius
])
async def test_a_negative_quantity_keeps_its_sign(tools: ToolRegistry, request_text: str, value: float) -> None:
    args = await one_step(tools, request_text, "measure.convert")
    assert args == {"value": value, "from_unit": "°C", "to_unit": "°F"}


@pytest.mark.parametrize("request_text, expected", [
    ("本金 8000 元，年利率 2.5%，存 4 年，按年复利，到期本息多少？",
     {"principal": 8000, "rate": 2.5, "years": 4, "compounding": "yearly"}),
    ("存两万块，单利，年利率百分之三，五年后拿到多少钱？",
     {"principal": 20000, "rate": 3, "years": 5, "compounding": "simple"}),
    ("I deposit $5,000 at 3.2% interest compounded monthly. How much will I have after 7 years?",
     {"principal": 5000, "rate": 3.2, "years": 7, "compounding": "monthly"}),
    ("Compound interest on 1200 dollars at 6 percent for 15 years", {"principal": 1200, "rate": 6, "years": 15}),
    # The sum needs no mark when the rate and the years are marked and one number is left; "simple interest"
    # outweighs "yearly" (a rate is always per year); "存 3 年" is how long, not how much.
    ("What simple interest do 7,500 bring in at 2.4% yearly over 6 years?",
     {"principal": 7500, "rate": 2.4, "years": 6, "compounding": "simple"}),
    ("年利率 2%，单利，存 3 年，本金 9000，利息多少？",
     {"principal": 9000, "rate": 2, "years": 3, "compounding": "simple"}),
])
async def test_interest(tools: ToolRegistry, request_text: str, expected: dict[str, Any]) -> None:
    args = await one_step(tools, request_text, "finance.interest")
    assert args == args | expected and set(expected) <= set(args)


@pytest.mark.parametrize("request_text, uses, expression", [
    ("2026年圣诞节是星期几？", "time.resolve", "2026年圣诞节"),
    ("what day of the week is 2027-03-15?", "time.resolve", "2027-03-15"),
    ("下周三是几月几号", "time.resolve", "下周三"),
    ("What's the date in 3 weeks?", "time.resolve", "in 3 weeks"),
    ("2026-02-01 和 2026-11-01 之间相差多少天？", "time.between", "2026-02-01 和 2026-11-01"),
    ("How many days from March 3 to September 9?", "time.between", "from March 3 to September 9"),
    ("距离2027年国庆节还有多少天", "time.between", "2027年国庆节"),
    ("今天离 2027 年春节还有几天", "time.between", "今天离 2027 年春节"),
])
async def test_dates(tools: ToolRegistry, request_text: str, uses: str, expression: str) -> None:
    args = await one_step(tools, request_text, uses)
    assert args["expression"] == expression


@pytest.mark.parametrize("request_text, uses, expression", [
    ("从2026年4月3日到2026年6月20日有多少天", "time.between", "从2026年4月3日到2026年6月20日"),
    ("2027年1月5日到2月1日相隔几天？", "time.between", "2027年1月5日到2月1日"),
    ("How many days from 2026-04-03 to 2026-06-20?", "time.between", "from 2026-04-03 to 2026-06-20"),
    ("How many weeks between 2027-01-05 and 2027-03-01?", "time.between", "between 2027-01-05 and 2027-03-01"),
    # A period's dates, not their difference: still the period.
    ("2026年4月3日到4月7日是哪几天", "time.resolve", "2026年4月3日到4月7日"),
    ("What dates are April 3 to April 7, 2026?", "time.resolve", "April 3 to April 7, 2026"),
])
async def test_a_count_of_days_between_two_dates_is_a_difference(tools: ToolRegistry, request_text: str, uses: str,
                                                                 expression: str) -> None:
    args = await one_step(tools, request_text, uses)
    assert args["expression"] == expression


@pytest.mark.parametrize("request_text, expression", [
    ("What weekday was 2025-12-31?", "2025-12-31"),
    ("Which day of the week is 2028-01-09?", "2028-01-09"),
    ("What day of the week will 2027-07-04 be?", "2027-07-04"),
    ("2025/12/31 是周几？", "2025/12/31"),
    ("2028-01-09 是星期几", "2028-01-09"),
    ("2027.7.4 礼拜几", "2027.7.4"),
])
async def test_a_weekday_question_resolves_the_date_it_names(tools: ToolRegistry, request_text: str,
                                                            expression: str) -> None:
    # Not time.now (today) nor a ranking of sales by day: the day the question names.
    args = await one_step(tools, request_text, "time.resolve")
    assert args["expression"] == expression


@pytest.mark.parametrize("request_text, expected", [
    ("上个月哪个地区卖出的件数最多？", {"group_by": "region", "measure": "units", "order": "desc",
                                   "start": "2026-10-01", "end": "2026-10-31"}),
    ("上周销售额最低的是哪个品类", {"group_by": "category", "measure": "revenue", "order": "asc",
                          "start": "2026-11-09", "end": "2026-11-15"}),
    ("Which day last week had the most units sold?", {"group_by": "day", "measure": "units", "order": "desc",
                                                     "start": "2026-11-09", "end": "2026-11-15"}),
    ("Which region had the lowest revenue last month?", {"group_by": "region", "measure": "revenue",
                                                        "order": "asc"}),
])
async def test_sales_rankings(tools: ToolRegistry, request_text: str, expected: dict[str, Any]) -> None:
    args = await one_step(tools, request_text, "sales.rank")
    assert args == args | expected


async def test_sales_totals_so_far(tools: ToolRegistry) -> None:
    args = await one_step(tools, "今年以来一共卖了多少件？", "sales.summary")
    assert (args["start"], args["end"]) == ("2026-01-01", "2026-11-18")
    english = await one_step(tools, "How many units have we sold so far this year?", "sales.summary")
    assert (english["start"], english["end"]) == ("2026-01-01", "2026-11-18")


async def test_the_best_seller_question_still_goes_to_top_products(tools: ToolRegistry) -> None:
    plan = await plan_of(tools, "上周卖得最好的产品是什么？它比第二名多卖了多少件")
    assert [s.uses for s in plan.steps] == ["sales.top_products", "math.calculate"]
    by_revenue = await one_step(tools, "上周销售额前三的产品", "sales.top_products")
    assert by_revenue["by"] == "revenue" and by_revenue["limit"] == 3


async def test_clauses_that_stand_alone_stay_apart(tools: ToolRegistry) -> None:
    plan = await plan_of(tools, "算一下 17*23，另外告诉我 10 英里是多少公里")
    assert [s.uses for s in plan.steps] == ["math.calculate", "measure.convert"]
    assert plan.steps[0].with_ == {"expression": "17*23"} and plan.steps[1].with_["value"] == 10
    two = await plan_of(tools, "3+5，6*7")
    assert [s.with_["expression"] for s in two.steps] == ["3+5", "6*7"]


@pytest.mark.parametrize("request_text, measure", [
    ("Which product sold the most units last week, and what share of all units sold was it?", "units"),
    ("上周销售额最高的产品是哪个？它的销售额占比是多少？", "revenue"),
])
async def test_a_share_of_the_total_is_computed_from_the_first_steps_output(tools: ToolRegistry, request_text: str,
                                                                          measure: str) -> None:
    plan = await plan_of(tools, request_text)
    assert [s.uses for s in plan.steps] == ["sales.top_products", "math.calculate"]
    top, share = plan.steps
    assert share.with_["expression"] == (f"${{{top.id}.output.products.0.{measure}}} / "
                                         f"${{{top.id}.output.total_{measure}}} * 100")


@pytest.mark.parametrize("request_text, uses, expression", [
    ("上个月销量第一的产品比第二名多卖了多少件？", "sales.rank", "@0.units - @1.units"),
    ("上周销售额最高的品类是第三名的几倍", "sales.rank", "@0.revenue / @2.revenue"),
    ("上周销量冠军比亚军多卖了多少件", "sales.top_products", "@0.units - @1.units"),
    # A date said alone before the question sets its time; it is not a part of its own.
    ("上个月，排名第一的地区销售额是第三名的几倍", "sales.rank", "@0.revenue / @2.revenue"),
    ("How many more units did last week's top product sell than the runner-up?", "sales.top_products",
     "@0.units - @1.units"),
    # A ranking, not a summary grouped by region: its first item must be the first rank.
    ("Last week, how many times more units did the first region sell than the fourth?", "sales.rank",
     "@0.units / @3.units"),
    ("What percent more revenue did last month's best region make than the second one?", "sales.rank",
     "(@0.revenue - @1.revenue) / @1.revenue * 100"),
])
async def test_one_clause_comparing_two_ranks_ranks_then_computes(tools: ToolRegistry, request_text: str, uses: str,
                                                                  expression: str) -> None:
    plan = await plan_of(tools, request_text)
    assert [s.uses for s in plan.steps] == [uses, "math.calculate"], request_text
    ranking, calc = plan.steps
    listed = "products" if uses == "sales.top_products" else "groups"
    # "@1.units" is the second item's units in the ranking's output.
    wanted = re.sub(r"@(\d)\.(\w+)", lambda m: f"${{{ranking.id}.output.{listed}.{m.group(1)}.{m.group(2)}}}",
                    expression)
    assert calc.with_["expression"] == wanted
    # The ranking holds every rank compared.
    assert ranking.with_.get("limit", 5) >= max(int(i) for i in re.findall(r"@(\d)", expression)) + 1
    assert not plan.unsupported


async def test_comparing_ranks_of_an_earlier_ranking_still_reads_that_ranking(tools: ToolRegistry) -> None:
    plan = await plan_of(tools, "上周哪个产品卖得最好？它比第二名多卖了多少件")
    assert [s.uses for s in plan.steps] == ["sales.top_products", "math.calculate"]
    # Naming the ranks again, without "it", still computes over the ranking asked for just before.
    english = await plan_of(tools, "Which region ranked first by units last week? How many times more units did the "
                                   "first region sell than the fourth?")
    assert [s.uses for s in english.steps] == ["sales.rank", "math.calculate"]
    assert english.steps[1].with_["expression"] == "${rank.output.groups.0.units} / ${rank.output.groups.3.units}"
    far = await plan_of(tools, "上个月销量第一的产品是第八名的几倍")
    assert [s.uses for s in far.steps] == ["sales.rank", "math.calculate"] and far.steps[0].with_["limit"] >= 8
    one = await plan_of(tools, "上周第一名和第二名的产品各卖了多少件")  # no arithmetic asked: one ranking
    assert "math.calculate" not in [s.uses for s in one.steps]



async def test_date_characters_inside_other_words_are_no_date(tools: ToolRegistry) -> None:
    # 几年后 + 年假 holds 后年 by accident: no date tool answers a question about leave.
    accident = await plan_of(tools, "入职满几年后年假能加到多少天")
    assert not any(s.uses.startswith("time.") for s in accident.steps), accident.steps
    real = await one_step(tools, "后年春节是几号", "time.resolve")
    assert real["expression"] == "后年春节"


@pytest.mark.parametrize("request_text", ["把上周的销售报表打印出来", "把昨天的销量数据转发给王经理",
                                          "Print last week's sales report", "Forward yesterday's sales figures to Tom"])
async def test_an_action_on_data_is_no_read_of_the_data(tools: ToolRegistry, request_text: str) -> None:
    # Built-in tools only read: printing or forwarding the report is an action none of them can do.
    plan = await plan_of(tools, request_text)
    assert plan.steps == [] and [u.reason for u in plan.unsupported] == ["no available tool can carry out this action"]


async def test_listing_data_with_ba_stays_a_data_request(tools: ToolRegistry) -> None:
    plan = await plan_of(tools, "把上周的销量按地区列出来")
    assert not plan.unsupported and plan.steps and plan.steps[0].uses.startswith("sales.")


@pytest.mark.parametrize("request_text", ["How much does the premium plan cost?",
                                          "How much is the price of a yearly pass?"])
async def test_a_price_question_is_not_a_sales_question(tools: ToolRegistry, request_text: str) -> None:
    # What a thing costs the buyer is not what the shop earned: answering it with this month's revenue (the sales
    # tools take nothing from the question) would report an unrelated figure as the answer.
    plan = await plan_of(tools, request_text)
    assert not any(s.uses.startswith("sales.") for s in plan.steps), plan.dump()


@pytest.mark.parametrize("request_text", ["How many days do new hires have to finish onboarding?",
                                          "How many days of sick leave can I take?"])
async def test_a_tool_sharing_only_time_words_does_not_ask_for_a_city(tools: ToolRegistry, request_text: str) -> None:
    # "days" is all such a question shares with the forecast: asking "which city?" would be answering another
    # question. No tool fits, so the part is unsupported (the knowledge base, when it knows, answers it).
    plan = await plan_of(tools, request_text)
    assert plan.steps == [] and len(plan.unsupported) == 1


@pytest.mark.parametrize("request_text", ["What is the lowest grade that still passes?", "一次最多能带几位访客？",
                                          "What is the most a manager can approve?"])
async def test_a_superlative_alone_is_no_sales_ranking(tools: ToolRegistry, request_text: str) -> None:
    # 最多 / lowest ask a limit of some rule here; a sales ranking would answer with a product or a region.
    plan = await plan_of(tools, request_text)
    assert not any(s.uses.startswith("sales.") for s in plan.steps), plan.dump()


@pytest.mark.parametrize("request_text", ["上个月最畅销的是哪个？", "上周谁卖得最差？",
                                          "Which region did best last month?"])
async def test_selling_superlatives_still_rank_sales(tools: ToolRegistry, request_text: str) -> None:
    plan = await plan_of(tools, request_text)
    assert [s.uses for s in plan.steps] == ["sales.rank"], plan.dump()
