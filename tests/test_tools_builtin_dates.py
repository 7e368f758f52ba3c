"""time.between, holidays and "so far" periods, and the time tools' sentences, on a fixed clock."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

import pytest

from openautoglm.errors import ToolArgumentError
from openautoglm.timeparse import parse_period
from openautoglm.tools import ToolContext, ToolRegistry
from openautoglm.tools.timetools import time_tools

NOW = datetime(2026, 11, 22, 9, 30)  # a Sunday


def clock(tz: tzinfo | None) -> datetime:
    return NOW.replace(tzinfo=tz)


@pytest.fixture
def tools() -> ToolRegistry:
    return ToolRegistry(time_tools("Asia/Shanghai", clock=clock))


async def call(tools: ToolRegistry, name: str, **args: Any) -> Any:
    tool = tools.get(name)
    return await tool(tool.validate(args), ToolContext())


@pytest.mark.parametrize("expression, start, end", [
    ("between 2026-03-02 and 2026-09-14", date(2026, 3, 2), date(2026, 9, 14)),
    ("2025年12月1日到2026年2月1日", date(2025, 12, 1), date(2026, 2, 1)),
    ("2026年国庆和2027年元旦之间", date(2026, 10, 1), date(2027, 1, 1)),
    ("from March 1 until June 30", date(2026, 3, 1), date(2026, 6, 30)),
    ("Christmas", NOW.date(), date(2026, 12, 25)),
    ("2027年劳动节", NOW.date(), date(2027, 5, 1)),
    ("元旦", NOW.date(), date(2026, 1, 1)),
])
async def test_days_between(tools: ToolRegistry, expression: str, start: date, end: date) -> None:
    out = await call(tools, "time.between", expression=expression)
    days = (end - start).days
    assert (out["start"], out["end"], out["days"]) == (start.isoformat(), end.isoformat(), days)
    assert (out["weeks"], out["extra_days"]) == divmod(abs(days), 7)


async def test_between_sentences(tools: ToolRegistry) -> None:
    tool = tools.get("time.between")
    span = await call(tools, "time.between", expression="between 2026-01-15 and 2026-07-04")
    assert tool.answer(span, "en") == "There are 170 days between 2026-01-15 and 2026-07-04 (24 weeks and 2 days)."
    assert tool.answer(span, "zh") == "2026-01-15 到 2026-07-04 相差 170 天（24 周又 2 天）。"
    ahead = await call(tools, "time.between", expression="2027年元旦")
    assert tool.answer(ahead, "zh") == "距离 2027-01-01（星期五）还有 40 天。"
    past = await call(tools, "time.between", expression="Halloween")
    assert tool.answer(past, "en") == "2026-10-31 (Saturday) was 22 days ago."
    with pytest.raises(ToolArgumentError, match="could not read a date"):
        await call(tools, "time.between", expression="some day")


async def test_resolve_and_now_sentences_carry_the_weekday(tools: ToolRegistry) -> None:
    resolve = tools.get("time.resolve")
    new_year = await call(tools, "time.resolve", expression="2027年元旦")
    assert resolve.answer(new_year, "zh") == "2027年元旦是 2027年1月1日（2027-01-01），星期五。"
    friday = await call(tools, "time.resolve", expression="next Friday")
    assert resolve.answer(friday, "en") == "next Friday is Friday, November 27, 2026 (2026-11-27)."
    week = await call(tools, "time.resolve", expression="上周")
    assert resolve.answer(week, "zh") == "上周是 2026-11-09 至 2026-11-15（共 7 天）。"
    now = await call(tools, "time.now")
    assert tools.get("time.now").answer(now, "en") == "It is Sunday, November 22, 2026, 09:30 (Asia/Shanghai)."


@pytest.mark.parametrize("text, start, end", [
    ("今年到目前为止卖了多少", date(2026, 1, 1), NOW.date()),
    ("本月至今", date(2026, 11, 1), NOW.date()),
    ("units sold so far this year", date(2026, 1, 1), NOW.date()),
    ("this month so far", date(2026, 11, 1), NOW.date()),
    ("2028年圣诞节", date(2028, 12, 25), date(2028, 12, 25)),
    ("New Year's Day 2030", date(2030, 1, 1), date(2030, 1, 1)),
    ("国庆节", date(2026, 10, 1), date(2026, 10, 1)),
    ("2027 年春节", date(2027, 2, 6), date(2027, 2, 6)),
    ("今年中秋节", date(2026, 9, 25), date(2026, 9, 25)),
    ("2026 年 3 月 5 日", date(2026, 3, 5), date(2026, 3, 5)),
    ("3 个月后", date(2027, 2, 22), date(2027, 2, 22)),
    ("45 days from today", date(2027, 1, 6), date(2027, 1, 6)),
    ("下个月的最后一天是星期几", date(2026, 12, 31), date(2026, 12, 31)),
    ("the first day of next month", date(2026, 12, 1), date(2026, 12, 1)),
    ("明年第一天", date(2027, 1, 1), date(2027, 1, 1)),
])
def test_holidays_and_so_far(text: str, start: date, end: date) -> None:
    period = parse_period(text, NOW)
    assert period is not None and (period.start, period.end) == (start, end)


def test_next_friday_is_friday_of_next_calendar_week() -> None:
    for today in (date(2026, 11, 23), date(2026, 11, 27), date(2026, 11, 29)):  # a Monday, a Friday, a Sunday
        period = parse_period("下周五是几号", today)
        assert period is not None and period.start == date(2026, 12, 4)


@pytest.mark.parametrize("expression, label_days, sentence", [
    ("2028年2月", 29, "2028年2月（2028-02-01 至 2028-02-29）共 29 天。"),
    ("February 2027", 28, None),
    ("2028年", 366, None),
    ("下个月", 31, None),  # December 2026
])
async def test_one_period_alone_counts_its_own_days(tools: ToolRegistry, expression: str, label_days: int,
                                                    sentence: str | None) -> None:
    out = await call(tools, "time.between", expression=expression)
    assert out["days"] == label_days and out["length_of"] and not out["from_today"]
    assert (date.fromisoformat(out["end"]) - date.fromisoformat(out["start"])).days == label_days - 1
    if sentence:
        assert tools.get("time.between").answer(out, "zh") == sentence
