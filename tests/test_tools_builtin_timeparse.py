"""timeparse: Chinese and English date expressions resolved against a fixed `now`."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openautoglm.errors import ToolArgumentError
from openautoglm.timeparse import (
    DateParseError,
    Period,
    add_months,
    cn_number,
    find_periods,
    parse_period,
    resolve_period,
)

SUNDAY = datetime(2026, 11, 22, 10, 30)  # the last day of ISO week 47
WEDNESDAY = datetime(2026, 3, 4, 9, 0)


def d(text: str) -> date:
    return date.fromisoformat(text)


CASES_SUNDAY = [
    ("今天", "2026-11-22", "2026-11-22"),
    ("今日", "2026-11-22", "2026-11-22"),
    ("明天", "2026-11-23", "2026-11-23"),
    ("后天", "2026-11-24", "2026-11-24"),
    ("大后天", "2026-11-25", "2026-11-25"),
    ("昨天", "2026-11-21", "2026-11-21"),
    ("前天", "2026-11-20", "2026-11-20"),
    ("大前天", "2026-11-19", "2026-11-19"),
    ("本周", "2026-11-16", "2026-11-22"),
    ("这周", "2026-11-16", "2026-11-22"),
    ("这个星期", "2026-11-16", "2026-11-22"),
    ("上周", "2026-11-09", "2026-11-15"),
    ("上个星期", "2026-11-09", "2026-11-15"),
    ("上礼拜", "2026-11-09", "2026-11-15"),
    ("上上周", "2026-11-02", "2026-11-08"),
    ("下周", "2026-11-23", "2026-11-29"),
    ("下个星期", "2026-11-23", "2026-11-29"),
    ("本月", "2026-11-01", "2026-11-30"),
    ("这个月", "2026-11-01", "2026-11-30"),
    ("上个月", "2026-10-01", "2026-10-31"),
    ("上月", "2026-10-01", "2026-10-31"),
    ("下个月", "2026-12-01", "2026-12-31"),
    ("今年", "2026-01-01", "2026-12-31"),
    ("去年", "2025-01-01", "2025-12-31"),
    ("明年", "2027-01-01", "2027-12-31"),
    ("最近7天", "2026-11-16", "2026-11-22"),
    ("最近七天", "2026-11-16", "2026-11-22"),
    ("过去三天", "2026-11-20", "2026-11-22"),
    ("近30天", "2026-10-24", "2026-11-22"),
    ("最近一周", "2026-11-16", "2026-11-22"),
    ("近两周", "2026-11-09", "2026-11-22"),
    ("最近一个月", "2026-10-23", "2026-11-22"),
    ("过去十五天", "2026-11-08", "2026-11-22"),
    ("周一", "2026-11-16", "2026-11-16"),
    ("周日", "2026-11-22", "2026-11-22"),
    ("星期三", "2026-11-18", "2026-11-18"),
    ("礼拜天", "2026-11-22", "2026-11-22"),
    ("下周一", "2026-11-23", "2026-11-23"),
    ("下星期五", "2026-11-27", "2026-11-27"),
    ("上周三", "2026-11-11", "2026-11-11"),
    ("这周五", "2026-11-20", "2026-11-20"),
    ("周末", "2026-11-21", "2026-11-22"),
    ("下周末", "2026-11-28", "2026-11-29"),
    ("11月3日", "2026-11-03", "2026-11-03"),
    ("11月3号", "2026-11-03", "2026-11-03"),
    ("十一月三日", "2026-11-03", "2026-11-03"),
    ("2025年12月31日", "2025-12-31", "2025-12-31"),
    ("二〇二六年十一月三日", "2026-11-03", "2026-11-03"),
    ("去年11月", "2025-11-01", "2025-11-30"),
    ("2026年2月", "2026-02-01", "2026-02-28"),
    ("3月份", "2026-03-01", "2026-03-31"),
    ("2025年", "2025-01-01", "2025-12-31"),
    ("十五号", "2026-11-15", "2026-11-15"),
    ("3号", "2026-11-03", "2026-11-03"),
    ("上个月15号", "2026-10-15", "2026-10-15"),
    ("本季度", "2026-10-01", "2026-12-31"),
    ("上季度", "2026-07-01", "2026-09-30"),
    ("第一季度", "2026-01-01", "2026-03-31"),
    ("2025年第四季度", "2025-10-01", "2025-12-31"),
    ("上半年", "2026-01-01", "2026-06-30"),
    ("去年下半年", "2025-07-01", "2025-12-31"),
    ("今年以来", "2026-01-01", "2026-11-22"),
    ("本月至今", "2026-11-01", "2026-11-22"),
    ("3天前", "2026-11-19", "2026-11-19"),
    ("三天后", "2026-11-25", "2026-11-25"),
    ("两周后", "2026-12-06", "2026-12-06"),
    ("一个月前", "2026-10-22", "2026-10-22"),
    ("11月1日到3日", "2026-11-01", "2026-11-03"),
    ("从11月1日至11月10日", "2026-11-01", "2026-11-10"),
    ("周一到周三", "2026-11-16", "2026-11-18"),
    ("上周一到周三", "2026-11-09", "2026-11-11"),
    ("2026-11-03", "2026-11-03", "2026-11-03"),
    ("2026/11/3", "2026-11-03", "2026-11-03"),
    ("20261103", "2026-11-03", "2026-11-03"),
    ("2026-10", "2026-10-01", "2026-10-31"),
    ("2026-11-01 ~ 2026-11-07", "2026-11-01", "2026-11-07"),
    # English
    ("today", "2026-11-22", "2026-11-22"),
    ("Tomorrow", "2026-11-23", "2026-11-23"),
    ("yesterday", "2026-11-21", "2026-11-21"),
    ("the day before yesterday", "2026-11-20", "2026-11-20"),
    ("the day after tomorrow", "2026-11-24", "2026-11-24"),
    ("this week", "2026-11-16", "2026-11-22"),
    ("last week", "2026-11-09", "2026-11-15"),
    ("next week", "2026-11-23", "2026-11-29"),
    ("this month", "2026-11-01", "2026-11-30"),
    ("last month", "2026-10-01", "2026-10-31"),
    ("next month", "2026-12-01", "2026-12-31"),
    ("last year", "2025-01-01", "2025-12-31"),
    ("this quarter", "2026-10-01", "2026-12-31"),
    ("last 7 days", "2026-11-16", "2026-11-22"),
    ("the past three days", "2026-11-20", "2026-11-22"),
    ("over the last 2 weeks", "2026-11-09", "2026-11-22"),
    ("the past week", "2026-11-16", "2026-11-22"),
    ("past month", "2026-10-23", "2026-11-22"),
    ("Monday", "2026-11-16", "2026-11-16"),
    ("next Monday", "2026-11-23", "2026-11-23"),
    ("last Friday", "2026-11-13", "2026-11-13"),
    ("monday next week", "2026-11-23", "2026-11-23"),
    ("this weekend", "2026-11-21", "2026-11-22"),
    ("in 3 days", "2026-11-25", "2026-11-25"),
    ("in a week", "2026-11-29", "2026-11-29"),
    ("3 days ago", "2026-11-19", "2026-11-19"),
    ("two weeks from now", "2026-12-06", "2026-12-06"),
    ("November 3", "2026-11-03", "2026-11-03"),
    ("Nov 3rd, 2025", "2025-11-03", "2025-11-03"),
    ("3 November 2026", "2026-11-03", "2026-11-03"),
    ("the 3rd of November", "2026-11-03", "2026-11-03"),
    ("November 2025", "2025-11-01", "2025-11-30"),
    ("Q3 2026", "2026-07-01", "2026-09-30"),
    ("year to date", "2026-01-01", "2026-11-22"),
    ("from 2026-11-01 to 2026-11-07", "2026-11-01", "2026-11-07"),
    ("between Monday and Wednesday", "2026-11-16", "2026-11-18"),
]


@pytest.mark.parametrize(("text", "start", "end"), CASES_SUNDAY)
def test_resolves_against_a_sunday(text: str, start: str, end: str) -> None:
    period = resolve_period(text, SUNDAY)
    assert (period.start, period.end) == (d(start), d(end)), period


CASES_WEDNESDAY = [
    ("本周", "2026-03-02", "2026-03-08"),  # a week that has not ended yet is still the whole week
    ("上周", "2026-02-23", "2026-03-01"),  # crosses a month boundary
    ("周一", "2026-03-02", "2026-03-02"),
    ("周五", "2026-03-06", "2026-03-06"),
    ("下周一", "2026-03-09", "2026-03-09"),
    ("上个月", "2026-02-01", "2026-02-28"),
    ("最近一个月", "2026-02-05", "2026-03-04"),
    ("next Monday", "2026-03-09", "2026-03-09"),
    ("last week", "2026-02-23", "2026-03-01"),
]


@pytest.mark.parametrize(("text", "start", "end"), CASES_WEDNESDAY)
def test_resolves_against_a_wednesday(text: str, start: str, end: str) -> None:
    period = resolve_period(text, WEDNESDAY)
    assert (period.start, period.end) == (d(start), d(end)), period


def test_year_and_month_boundaries() -> None:
    new_year = datetime(2027, 1, 1)  # a Friday
    assert resolve_period("上个月", new_year) == Period(d("2026-12-01"), d("2026-12-31"), "上个月")
    assert resolve_period("上周", new_year).start == d("2026-12-21")
    assert resolve_period("昨天", new_year).start == d("2026-12-31")
    assert resolve_period("去年", new_year).end == d("2026-12-31")
    assert resolve_period("上季度", new_year).start == d("2026-10-01")
    leap = datetime(2024, 3, 31)
    assert resolve_period("最近一个月", leap).start == d("2024-03-01")  # 2024-02-29 + 1 day
    assert resolve_period("上个月", leap).end == d("2024-02-29")
    assert add_months(d("2026-01-31"), 1) == d("2026-02-28")


@pytest.mark.parametrize("text", [
    "你好", "hello there", "一周一次", "每周三开会", "(12-7)/7*100", "May I help you?", "1500-12 * 3",
    "13月", "2月30日", "",
])
def test_text_without_a_date_finds_nothing(text: str) -> None:
    assert find_periods(text, SUNDAY) == []
    assert parse_period(text, SUNDAY) is None


def test_resolve_refuses_with_a_hint() -> None:
    with pytest.raises(DateParseError, match="上周") as info:
        resolve_period("whenever", SUNDAY)
    assert isinstance(info.value, ToolArgumentError)


def test_find_periods_spans_in_a_sentence() -> None:
    text = "上周哪个产品卖得最好？再和上上周以及2026年10月的销量比一下，明天告诉我"
    found = find_periods(text, SUNDAY)
    assert [m.text for m in found] == ["上周", "上上周", "2026年10月", "明天"]
    for m in found:
        assert text[m.span[0]:m.span[1]] == m.text == m.period.label
    assert found[2].period.days == 31


def test_find_periods_in_english() -> None:
    text = "Compare sales from last week with the past 30 days, then remind me next Monday."
    found = find_periods(text, SUNDAY)
    assert [m.text for m in found] == ["last week", "the past 30 days", "next Monday"]
    assert found[1].period.days == 30


@pytest.mark.parametrize(("text", "week"), [
    ("上周一共卖了多少件", "上周"), ("上周一起下单的客户有几个", "上周"), ("这周一直在涨吗", "这周"),
    ("上个星期一些产品断货了", "上个星期"), ("下礼拜一定要补货", "下礼拜"), ("本周一般几点发货", "本周"),
])
def test_a_weekday_numeral_that_starts_a_word_is_the_whole_week(text: str, week: str) -> None:
    found = find_periods(text, SUNDAY)
    assert [m.text for m in found] == [week]
    assert found[0].period.days == 7


@pytest.mark.parametrize(("text", "weekday", "day"), [
    ("上周一", "上周一", "2026-11-09"), ("下周一", "下周一", "2026-11-23"), ("上周一的销售额", "上周一", "2026-11-09"),
    ("周一下午开会", "周一", "2026-11-16"), ("上周一点击量多少", "上周一", "2026-11-09"),
    ("上星期一卖了几件", "上星期一", "2026-11-09"), ("礼拜一", "礼拜一", "2026-11-16"),
])
def test_a_weekday_numeral_on_its_own_is_that_day(text: str, weekday: str, day: str) -> None:
    found = find_periods(text, SUNDAY)
    assert [m.text for m in found] == [weekday]
    assert found[0].period.start == found[0].period.end == d(day)


def test_a_range_ending_before_it_starts_is_not_joined() -> None:
    found = find_periods("11月10日到11月3日", SUNDAY)
    assert [m.text for m in found] == ["11月10日", "11月3日"]


def test_datetime_or_date_now_and_to_dict() -> None:
    assert resolve_period("明天", SUNDAY.date()) == resolve_period("明天", SUNDAY)
    assert resolve_period("上周", SUNDAY).to_dict() == {"start": "2026-11-09", "end": "2026-11-15",
                                                       "label": "上周", "days": 7}
    assert d("2026-11-10") in resolve_period("上周", SUNDAY)


@pytest.mark.parametrize(("text", "value"), [
    ("7", 7), ("十", 10), ("十五", 15), ("二十", 20), ("二十一", 21), ("两", 2), ("一百二十", 120),
    ("三十一", 31), ("二〇二六", 2026), ("零", 0),
])
def test_chinese_numerals(text: str, value: int) -> None:
    assert cn_number(text) == value


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2150, 12, 31)))
def test_calendar_periods_tile(today: date) -> None:
    this_week, last_week = resolve_period("本周", today), resolve_period("上周", today)
    assert this_week.start.weekday() == 0 and this_week.days == 7 and today in this_week
    assert last_week.end + timedelta(days=1) == this_week.start
    this_month, last_month = resolve_period("本月", today), resolve_period("上个月", today)
    assert this_month.start.day == 1 and today in this_month
    assert last_month.end + timedelta(days=1) == this_month.start
    assert resolve_period("next month", today).start == this_month.end + timedelta(days=1)
    assert resolve_period("最近7天", today) == Period(today - timedelta(days=6), today, "最近7天")
    monday = resolve_period("下周一", today).start
    assert monday.weekday() == 0 and 1 <= (monday - today).days <= 7


def test_comparing_two_periods_is_not_a_range() -> None:
    found = find_periods("compare last week to this week", SUNDAY)
    assert [m.text for m in found] == ["last week", "this week"]
    assert [m.text for m in find_periods("sales from last week to this week", SUNDAY)] == [
        "from last week to this week"]
    assert [m.text for m in find_periods("Nov 1 to Nov 7", SUNDAY)] == ["Nov 1 to Nov 7"]
    assert [m.text for m in find_periods("Monday and Friday", SUNDAY)] == ["Monday", "Friday"]


# Relative-date words count only as words of the text: 后年 in 几年后年假 is 几年后 + 年假, 后天 in 三天后天气 is
# 三天后 + 天气, 前年 in 一年前年纪 is 一年前 + 年纪; a word jieba keeps whole around one (今天上午) still holds it.
WORD_BOUNDARY_CASES = [
    ("工作满几年后年假增加到多少天", []),
    ("过了几年后年终奖会涨吗", []),
    ("三天后天气怎么样", ["三天后"]),
    ("一年前年纪还小", ["一年前"]),
    ("后年春节是几号", ["后年春节"]),
    ("前年的销售额是多少", ["前年"]),
    ("后天下午开会", ["后天"]),
    ("今天上午卖了多少", ["今天"]),
    ("昨天今天明天", ["昨天", "今天", "明天"]),
]


@pytest.mark.parametrize("text, dates", [
    *WORD_BOUNDARY_CASES,
    ("如今年轻人都爱网购", []),  # 如今 + 年轻人: only a segmenter sees it
    ("他说明天再来", ["明天"]),
])
def test_relative_date_words_count_only_on_word_boundaries(text: str, dates: list[str]) -> None:
    assert [m.text for m in find_periods(text, SUNDAY)] == dates


@pytest.mark.parametrize("text, dates", WORD_BOUNDARY_CASES)
def test_without_jieba_a_count_of_time_before_hou_or_qian_still_decides(monkeypatch: pytest.MonkeyPatch, text: str,
                                                                       dates: list[str]) -> None:
    from openautoglm import timeparse

    monkeypatch.setattr(timeparse, "_jieba", lambda: None)
    timeparse._word_spans.cache_clear()
    try:
        assert [m.text for m in find_periods(text, SUNDAY)] == dates
    finally:
        timeparse._word_spans.cache_clear()
