"""measure.convert and finance.interest: figures checked against arithmetic written out in the test, sentences that
state the result with its inputs, currencies only at configured rates."""

from __future__ import annotations

import math
from typing import Any

import pytest

from openautoglm.config import Settings
from openautoglm.errors import ToolArgumentError
from openautoglm.models.scripted import ScriptedModel
from openautoglm.tools import Tool, ToolContext
from openautoglm.tools.builtin import BUILTIN_GROUPS, builtin_tools, enabled
from openautoglm.tools.finance import InterestTool
from openautoglm.tools.units import UnitsTool, find_units


async def call(tool: Tool, **args: Any) -> Any:
    return await tool(tool.validate(args), ToolContext())


@pytest.mark.parametrize("value, source, target, expected", [
    (26.2, "miles", "公里", 26.2 * 1609.344 / 1000),
    (180, "厘米", "feet", 1.8 / 0.3048),
    (12, "英寸", "cm", 12 * 2.54),
    (3, "千克", "lbs", 3 / 0.45359237),
    (16, "oz", "克", 16 * 28.349523125),
    (5, "斤", "公斤", 2.5),
    (1, "吨", "磅", 1000 / 0.45359237),
    (100, "°C", "华氏度", 212),
    (-40, "fahrenheit", "celsius", -40),
    (0, "摄氏度", "kelvin", 273.15),
    (98.6, "华氏度", "摄氏度", (98.6 - 32) * 5 / 9),
    (2, "gallons", "升", 2 * 3.785411784),
    (500, "毫升", "cups", 0.5 / (3.785411784 / 16)),
    (120, "km/h", "mph", 120 / 1.609344),
    (10, "米每秒", "公里每小时", 36),
    (3, "亩", "平方米", 3 * 10_000 / 15),
    (2, "公顷", "英亩", 20_000 / 4046.8564224),
    (1000, "square feet", "平方米", 1000 * 0.3048**2),
])
async def test_conversions_match_the_definitions(value: float, source: str, target: str, expected: float) -> None:
    out = await call(UnitsTool(), value=value, from_unit=source, to_unit=target)
    assert out["result"] == pytest.approx(expected)


async def test_the_sentence_states_the_result_with_its_inputs() -> None:
    tool = UnitsTool()
    out = await call(tool, value=10, from_unit="英里", to_unit="公里")
    assert tool.answer(out, "zh") == "10 英里 = 16.09 公里。"
    assert tool.answer(out, "en") == "10 miles = 16.09 kilometres."
    feet = await call(tool, value=1, from_unit="m", to_unit="ft")
    assert tool.answer(feet, "en") == "1 metre = 3.28 feet."
    hot = await call(tool, value=30, from_unit="摄氏度", to_unit="华氏度")
    assert tool.answer(hot, "zh") == "30 摄氏度 = 86 华氏度。"


async def test_mismatched_and_unknown_units_are_refused_clearly() -> None:
    tool = UnitsTool()
    with pytest.raises(ToolArgumentError, match=r"cannot convert length .* to mass"):
        await call(tool, value=1, from_unit="km", to_unit="kg")
    with pytest.raises(ToolArgumentError, match="unknown unit 'furlongs'"):
        await call(tool, value=1, from_unit="furlongs", to_unit="m")


async def test_currency_only_at_configured_rates() -> None:
    with pytest.raises(ToolArgumentError, match="currency_rates"):
        await call(UnitsTool(), value=100, from_unit="美元", to_unit="人民币")
    tool = UnitsTool({"CNY": 1, "USD": 7.2, "EUR": 7.8})
    out = await call(tool, value=100, from_unit="美元", to_unit="人民币")
    assert out["result"] == pytest.approx(720) and out["dimension"] == "currency"
    euros = await call(tool, value=78, from_unit="CNY", to_unit="euros")
    assert euros["result"] == pytest.approx(10)
    with pytest.raises(ToolArgumentError, match="no exchange rate for '日元'"):
        await call(tool, value=1000, from_unit="日元", to_unit="CNY")


def test_currency_rates_come_from_the_settings(tmp_path: Any) -> None:
    settings = Settings(home=tmp_path, currency_rates={"CNY": 1, "USD": 7.0})
    tools = {t.name: t for t in builtin_tools(ScriptedModel(["x"]), settings)}
    assert isinstance(tools["measure.convert"], UnitsTool) and tools["measure.convert"].currencies
    assert {"measure", "finance"} <= set(BUILTIN_GROUPS)
    chosen = {t.name for t in enabled(list(tools.values()), ["measure", "finance"])}
    assert {"measure.convert", "finance.interest"} <= chosen and "sales.rank" not in chosen


def test_units_are_found_in_sentences_with_which_one_is_given() -> None:
    found = find_units("How many pounds is 5 kg?")
    assert [(u.symbol, u.after_number) for u in found] == [("lb", False), ("kg", True)]
    assert [u.symbol for u in find_units("1 平方公里等于多少亩")] == ["km²", "mu"]  # 平方公里 is not 公里
    assert [u.symbol for u in find_units("drive at 100 km/h")] == ["km/h"]
    assert find_units("I am in the garden at 5 m") and not find_units("in a minute, go")


@pytest.mark.parametrize("args, expected", [
    ({"principal": 2000, "rate": 5, "years": 10}, 2000 * 1.05**10),
    ({"principal": 10000, "rate": 3, "years": 5, "compounding": "monthly"}, 10000 * (1 + 0.03 / 12) ** 60),
    ({"principal": 10000, "rate": 3, "years": 5, "compounding": "simple"}, 10000 * (1 + 0.03 * 5)),
    ({"principal": 500, "rate": 4, "years": 2, "compounding": "quarterly"}, 500 * 1.01**8),
    ({"principal": 1000, "rate": 6, "years": 3, "compounding": "continuous"}, 1000 * math.exp(0.18)),
])
async def test_interest_matches_the_formulas(args: dict[str, Any], expected: float) -> None:
    out = await call(InterestTool(), **args)
    assert out["amount"] == pytest.approx(expected, abs=0.005)
    assert out["interest"] == pytest.approx(expected - args["principal"], abs=0.01)


async def test_interest_sentences_and_refusals() -> None:
    tool = InterestTool()
    out = await call(tool, principal=2000, rate=5, years=10)
    assert tool.answer(out, "en") == ("2,000 at 5% a year, compounded yearly, comes to 3,257.79 after 10 years "
                                      "(interest 1,257.79).")
    assert tool.answer(out, "zh") == "本金 2,000，年利率 5%，按年复利，10 年后本息合计 3,257.79（利息 1,257.79）。"
    with pytest.raises(ToolArgumentError, match="rate"):
        await call(tool, principal=100, rate=5000, years=1)


def test_a_bare_du_is_celsius_only_beside_another_temperature() -> None:
    assert [(m.symbol, m.after_number) for m in find_units("零下 12 度是多少华氏度")] == [("°C", True), ("°F", False)]
    assert find_units("这个月用了 100 度电") == []
