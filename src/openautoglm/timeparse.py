"""Date expressions in Chinese and English resolved to periods of days, against a given ``now``. Pure: no I/O.

For planners and tools (helper A: this is the contract)::

    from openautoglm.timeparse import Period, PeriodMatch, find_periods, parse_period, resolve_period

    resolve_period("上周", now)        -> Period(start=date(2026, 11, 9), end=date(2026, 11, 15), label="上周")
    parse_period("no date here", now) -> None                       (resolve_period raises DateParseError)
    find_periods("上周哪个产品卖得最好", now)
        -> [PeriodMatch(span=(0, 2), text="上周", period=Period(...))]   spans index into the text
    Period.to_dict() -> {"start": "2026-11-09", "end": "2026-11-15", "label": "上周", "days": 7}

Conventions (chosen once, used everywhere):
- A period is a closed range of whole days, ``start <= end``; a single day has ``start == end``.
- Weeks start on Monday. 本周/this week, 本月/this month, 今年/this year, 本季度 are whole calendar periods, future
  days included (a caller that needs "so far" can clamp ``end`` to today).
- 最近7天 / 过去三天 / past 7 days / last 3 weeks end today and include it: 最近7天 = today-6 … today.
  最近一个月 / past month = the day after the same date a month ago … today.
- A bare weekday (周三 / 星期三 / Wednesday) is that day of the current week; 下周三 / next Wednesday is that day
  of next week; 上周三 / last Wednesday of last week.
- A month and day without a year (11月3日, November 3) is in the current year; a bare day (15号) in the current month.
- 3天后 / in 3 days / 3 days ago are single days.
- ``A到B`` / ``A to B`` / ``from A until B`` join into one period; a bare day or weekday after ``到`` is read in
  the first date's month or week (11月1日到3日, 周一到周三).
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from typing import Any

from .errors import ToolArgumentError


class DateParseError(ToolArgumentError):
    """No date expression could be read from the text."""


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "label": self.label,
                "days": self.days}


@dataclass(frozen=True, slots=True)
class PeriodMatch:
    """One date expression found in a text: ``text == source[span[0]:span[1]]``."""

    span: tuple[int, int]
    text: str
    period: Period
    joined: bool = False  # two dates joined into a range by the words (A到B, from A until B), not one named period


# ---------------------------------------------------------------------------------------------------------------
# numbers

_CN_DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_EN_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
               "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
               "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
               "thirty": 30, "sixty": 60, "ninety": 90}


def cn_number(text: str) -> int:
    """``"15"``, ``"十五"``, ``"二十一"``, ``"两"``, ``"一百二十"``, ``"二〇二六"`` → int; ValueError otherwise."""
    text = text.strip()
    if not text:
        raise ValueError("empty number")
    if text.isascii() and text.isdigit():
        return int(text)
    if all(c in _CN_DIGITS for c in text):  # 二〇二六: digit by digit
        return int("".join(str(_CN_DIGITS[c]) for c in text))
    total, digit = 0, None
    for c in text:
        if c in _CN_DIGITS:
            digit = _CN_DIGITS[c]
        elif c in _CN_UNITS:
            total += (1 if digit is None else digit) * _CN_UNITS[c]
            digit = None
        else:
            raise ValueError(f"not a number: {text!r}")
    return total + (digit or 0)


def _number(text: str) -> int:
    low = text.strip().lower()
    return _EN_NUMBERS[low] if low in _EN_NUMBERS else cn_number(low)


# ---------------------------------------------------------------------------------------------------------------
# calendar arithmetic


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later (or earlier), clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def month_period(year: int, month: int, label: str) -> Period:
    return Period(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]), label)


def _week(today: date, offset: int, label: str) -> Period:
    start = week_start(today) + timedelta(weeks=offset)
    return Period(start, start + timedelta(days=6), label)


def _month(today: date, offset: int, label: str) -> Period:
    first = add_months(today.replace(day=1), offset)
    return month_period(first.year, first.month, label)


def _year(year: int, label: str) -> Period:
    return Period(date(year, 1, 1), date(year, 12, 31), label)


def _quarter(year: int, quarter: int, label: str) -> Period:
    start = date(year, 3 * (quarter - 1) + 1, 1)
    end_month = 3 * quarter
    return Period(start, date(year, end_month, calendar.monthrange(year, end_month)[1]), label)


def _day(day: date, label: str) -> Period:
    return Period(day, day, label)


def _shift(today: date, n: int, unit: str) -> date:
    if unit == "day":
        return today + timedelta(days=n)
    if unit == "week":
        return today + timedelta(weeks=n)
    if unit == "month":
        return add_months(today, n)
    return add_months(today, 12 * n)


def _last_n(today: date, n: int, unit: str, label: str) -> Period:
    """The ``n`` units that end today, today included."""
    if n < 1:
        raise ValueError("a period needs at least one unit")
    if unit == "day":
        return Period(today - timedelta(days=n - 1), today, label)
    if unit == "week":
        return Period(today - timedelta(days=7 * n - 1), today, label)
    return Period(_shift(today, -n, unit) + timedelta(days=1), today, label)


# ---------------------------------------------------------------------------------------------------------------
# the vocabulary

_CN_NUM = "零〇○一二两三四五六七八九十百"
NUM = rf"(?:\d{{1,4}}|[{_CN_NUM}]{{1,5}})"
_CN_UNIT = {"天": "day", "日": "day", "周": "week", "星期": "week", "礼拜": "week", "月": "month", "年": "year"}
_CN_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5,
               "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}
_CN_OFFSET = {"上上": -2, "上": -1, "本": 0, "这": 0, "当": 0, "今": 0, "下": 1, "下下": 2, "来": 1}
_CN_DAY_WORDS = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3, "昨天": -1, "昨日": -1,
                 "前天": -2, "大前天": -3}
_CN_YEAR_WORDS = {"今年": 0, "本年": 0, "去年": -1, "上一年": -1, "明年": 1, "下一年": 1, "前年": -2, "后年": 2}
_EN_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_EN_MONTHS = {name: i + 1 for i, name in enumerate(["january", "february", "march", "april", "may", "june", "july",
                                                    "august", "september", "october", "november", "december"])}
_EN_MONTHS |= {name[:3]: i for name, i in list(_EN_MONTHS.items())} | {"sept": 9}
_EN_OFFSET = {"this": 0, "current": 0, "last": -1, "previous": -1, "past": -1, "next": 1, "coming": 1}
_EN_NUM = rf"(?:\d{{1,4}}|{'|'.join(sorted(_EN_NUMBERS, key=len, reverse=True))})"
_EN_MONTH = rf"(?:{'|'.join(sorted(_EN_MONTHS, key=len, reverse=True))})\.?"
_EN_WEEKDAY = rf"(?:{'|'.join(_EN_WEEKDAYS)})"
_EN_UNIT = r"(day|week|month|year)s?"

_CN_WEEK = r"(?:周|星期|礼拜)"
_CN_WEEK_PREFIX = r"(上上|下下|上|下|本|这|当)(?:一)?(?:个)?"
_CN_MONTH_PREFIX = r"(上上|下下|上|下|本|这|当)(?:个)?月"
_YEAR_DIGITS = r"(\d{4}|[零〇○一二三四五六七八九]{4})"
_CN_YEAR = rf"(?:{_YEAR_DIGITS}\s*年|(今年|本年|去年|明年|前年|后年))"
# What may not stand right before a bare weekday or day number: 一周一次, 每周三, 第3号.
_NOT_BEFORE_BARE = rf"(?<![{_CN_NUM}\d每第])"
# 一 after 周 starts a word, not a weekday, when the next character makes one of these common words with it (the
# adverbs, pronouns and quantity words among jieba's frequent 一X entries): 上周一共 is "last week in total", and
# jieba segments it 上周/一共. A second character that itself starts a longer word keeps the weekday: 周一下午,
# 周一点击量, 周一天气 are Monday's. Other numerals (周三天气, 周日常规) segment as weekdays, so only 一 needs this.
_ONE_STARTS_A_WORD = (r"一(?:共|起|下(?!午|班)|些|般|直|样|点(?!击)|天(?!气)|次|个|半|定"
                      r"|切|向|再|同|并|律|概|贯|旦|齐|致|种|会儿)")


def _en(pattern: str) -> str:
    """An English pattern bounded by non-letters on both sides."""
    return rf"(?<![A-Za-z]){pattern}(?![A-Za-z])"


@dataclass(frozen=True, slots=True)
class _Read:
    """What a pattern read: a period now, and for bare days/weekdays how to read it next to an earlier date."""

    period: Period
    after: Callable[[date], Period] | None = None


_Handler = Callable[[re.Match[str], date], _Read | Period | None]
_RULES: list[tuple[re.Pattern[str], _Handler]] = []


def _rule(pattern: str, flags: int = 0) -> Callable[[_Handler], _Handler]:
    def register(fn: _Handler) -> _Handler:
        _RULES.append((re.compile(pattern, flags), fn))
        return fn

    return register


def _year_of(m: re.Match[str], digits_group: int, words_group: int, today: date) -> int:
    if m.group(digits_group):
        return cn_number(m.group(digits_group))
    if m.group(words_group):
        return today.year + _CN_YEAR_WORDS[m.group(words_group)]
    return today.year


# -- Chinese ----------------------------------------------------------------------------------------------------


@_rule("大后天|大前天|今天|今日|明天|明日|后天|昨天|昨日|前天")
def _cn_day_word(m: re.Match[str], today: date) -> Period:
    return _day(today + timedelta(days=_CN_DAY_WORDS[m.group(0)]), m.group(0))


@_rule(rf"{_CN_WEEK_PREFIX}{_CN_WEEK}(?!末)")
def _cn_week(m: re.Match[str], today: date) -> Period:
    return _week(today, _CN_OFFSET[m.group(1)], m.group(0))


@_rule(rf"(?:{_CN_WEEK_PREFIX}{_CN_WEEK}|{_NOT_BEFORE_BARE}{_CN_WEEK})(?!{_ONE_STARTS_A_WORD})([一二三四五六日天1-7])")
def _cn_weekday(m: re.Match[str], today: date) -> _Read:
    weekday = _CN_WEEKDAY[m.group(2)]
    offset = _CN_OFFSET[m.group(1)] if m.group(1) else 0
    day = week_start(today) + timedelta(weeks=offset, days=weekday)
    after = None if m.group(1) else (lambda anchor: _day(week_start(anchor) + timedelta(days=weekday), m.group(0)))
    return _Read(_day(day, m.group(0)), after)


@_rule(rf"(?:{_CN_WEEK_PREFIX})?(?:周末|{_CN_WEEK}末)")
def _cn_weekend(m: re.Match[str], today: date) -> Period:
    start = week_start(today) + timedelta(weeks=_CN_OFFSET[m.group(1)] if m.group(1) else 0, days=5)
    return Period(start, start + timedelta(days=1), m.group(0))


@_rule(rf"{_CN_MONTH_PREFIX}(?:份)?")
def _cn_month(m: re.Match[str], today: date) -> Period:
    return _month(today, _CN_OFFSET[m.group(1)], m.group(0))


@_rule("今年|本年|去年|上一年|明年|下一年|前年|后年")
def _cn_year_word(m: re.Match[str], today: date) -> Period:
    return _year(today.year + _CN_YEAR_WORDS[m.group(0)], m.group(0))


@_rule(rf"{_YEAR_DIGITS}\s*年(?:度)?")
def _cn_year(m: re.Match[str], today: date) -> Period:
    return _year(cn_number(m.group(1)), m.group(0))


@_rule(rf"{_CN_YEAR}?\s*({NUM})\s*月(?:份)?(?:\s*({NUM})\s*(?:日|号))?")
def _cn_month_day(m: re.Match[str], today: date) -> Period:
    year = _year_of(m, 1, 2, today)
    month = cn_number(m.group(3))
    if m.group(4):
        return _day(date(year, month, cn_number(m.group(4))), m.group(0))
    return month_period(year, month, m.group(0))


@_rule(rf"(?:{_CN_MONTH_PREFIX}|{_NOT_BEFORE_BARE}(?<!月))({NUM})(?:号|日)(?![线楼栋])")
def _cn_day_of_month(m: re.Match[str], today: date) -> _Read:
    first = _month(today, _CN_OFFSET[m.group(1)] if m.group(1) else 0, "").start
    number = cn_number(m.group(2))
    after = None if m.group(1) else (lambda anchor: _day(date(anchor.year, anchor.month, number), m.group(0)))
    return _Read(_day(first.replace(day=number), m.group(0)), after)


@_rule(rf"{_CN_YEAR}?(?:第([一二三四1-4])季度|[Qq]([1-4]))")
def _cn_quarter_numbered(m: re.Match[str], today: date) -> Period:
    return _quarter(_year_of(m, 1, 2, today), cn_number(m.group(3) or m.group(4)), m.group(0))


@_rule(r"(上上|下下|上|下|本|这|当)(?:一)?(?:个)?季度")
def _cn_quarter(m: re.Match[str], today: date) -> Period:
    index = today.year * 4 + (today.month - 1) // 3 + _CN_OFFSET[m.group(1)]
    return _quarter(index // 4, index % 4 + 1, m.group(0))


@_rule(rf"{_CN_YEAR}?(上|下)半年")
def _cn_half(m: re.Match[str], today: date) -> Period:
    year = _year_of(m, 1, 2, today)
    if m.group(3) == "上":
        return Period(date(year, 1, 1), date(year, 6, 30), m.group(0))
    return Period(date(year, 7, 1), date(year, 12, 31), m.group(0))


@_rule(rf"(?:最近|过去的?|近|这)({NUM})(?:个)?(天|日|周|星期|礼拜|月|年)(?:以来|内|里)?")
def _cn_last_n(m: re.Match[str], today: date) -> Period:
    return _last_n(today, cn_number(m.group(1)), _CN_UNIT[m.group(2)], m.group(0))


@_rule(r"(?:今年以来|年初至今|今年至今|本年至今|本年度至今)")
def _cn_ytd(m: re.Match[str], today: date) -> Period:
    return Period(date(today.year, 1, 1), today, m.group(0))


@_rule(r"(?:本月以来|月初至今|本月至今|这个月以来)")
def _cn_mtd(m: re.Match[str], today: date) -> Period:
    return Period(today.replace(day=1), today, m.group(0))


@_rule(r"(?:本周以来|本周至今|这周以来|周初至今)")
def _cn_wtd(m: re.Match[str], today: date) -> Period:
    return Period(week_start(today), today, m.group(0))


@_rule(r"(今年|本年|本月|这个月|这月|本周|这周|这个星期)(?:到目前为止|到现在为止|到现在|迄今为止|迄今|截至目前|截止目前|至今)")
def _cn_so_far(m: re.Match[str], today: date) -> Period:
    first = {"年": date(today.year, 1, 1), "月": today.replace(day=1)}.get(m.group(1)[-1], week_start(today))
    return Period(first, today, m.group(0))


# Holidays on the same day every year; a year before them (2027年元旦) or the current year.
_CN_HOLIDAYS = {"元旦": (1, 1), "情人节": (2, 14), "妇女节": (3, 8), "植树节": (3, 12), "愚人节": (4, 1),
                "劳动节": (5, 1), "五一": (5, 1), "青年节": (5, 4), "儿童节": (6, 1), "六一": (6, 1), "建党节": (7, 1),
                "建军节": (8, 1), "教师节": (9, 10), "国庆节": (10, 1), "国庆": (10, 1), "万圣节": (10, 31),
                "双十一": (11, 11), "光棍节": (11, 11), "平安夜": (12, 24), "圣诞节": (12, 25), "圣诞": (12, 25)}
_EN_HOLIDAYS = {"new year's day": (1, 1), "new years day": (1, 1), "new year's eve": (12, 31),
                "valentine's day": (2, 14), "valentines day": (2, 14), "april fools' day": (4, 1),
                "april fools day": (4, 1), "independence day": (7, 4), "halloween": (10, 31),
                "christmas eve": (12, 24), "christmas day": (12, 25), "christmas": (12, 25), "xmas": (12, 25)}


# Holidays of the lunar calendar, by year (the published calendar; years outside the table are not read).
_LUNAR_HOLIDAYS = {
    "春节": {2024: (2, 10), 2025: (1, 29), 2026: (2, 17), 2027: (2, 6), 2028: (1, 26), 2029: (2, 13), 2030: (2, 3)},
    "中秋节": {2024: (9, 17), 2025: (10, 6), 2026: (9, 25), 2027: (9, 15), 2028: (10, 3), 2029: (9, 22),
             2030: (9, 12)},
    "端午节": {2024: (6, 10), 2025: (5, 31), 2026: (6, 19), 2027: (6, 9), 2028: (5, 28), 2029: (6, 16),
             2030: (6, 5)},
}
_LUNAR_NAMES = {"春节": "春节", "过年": "春节", "大年初一": "春节", "中秋节": "中秋节", "中秋": "中秋节",
                "端午节": "端午节", "端午": "端午节", "除夕": "除夕"}


@_rule(rf"{_CN_YEAR}?的?({'|'.join(sorted(_LUNAR_NAMES, key=len, reverse=True))})")
def _cn_lunar_holiday(m: re.Match[str], today: date) -> Period:
    year = _year_of(m, 1, 2, today)
    name = _LUNAR_NAMES[m.group(3)]
    if name == "除夕":  # the eve of that year's spring festival
        month, day = _LUNAR_HOLIDAYS["春节"][year]
        return _day(date(year, month, day) - timedelta(days=1), m.group(0))
    month, day = _LUNAR_HOLIDAYS[name][year]  # KeyError outside the table: not read as a date
    return _day(date(year, month, day), m.group(0))


@_rule(rf"{_CN_YEAR}?的?({'|'.join(sorted(_CN_HOLIDAYS, key=len, reverse=True))})")
def _cn_holiday(m: re.Match[str], today: date) -> Period:
    month, day = _CN_HOLIDAYS[m.group(3)]
    return _day(date(_year_of(m, 1, 2, today), month, day), m.group(0))


@_rule(rf"({'|'.join(re.escape(h) for h in sorted(_EN_HOLIDAYS, key=len, reverse=True))})(?:,?\s+(\d{{4}}))?",
       re.IGNORECASE)
def _en_holiday(m: re.Match[str], today: date) -> Period:
    month, day = _EN_HOLIDAYS[m.group(1).lower().replace("’", "'")]
    return _day(date(int(m.group(2) or today.year), month, day), m.group(0))


@_rule(rf"({NUM})\s*(?:个)?(天|日|周|星期|礼拜|月|年)(以前|以后|之前|之后|前|后)")
def _cn_offset(m: re.Match[str], today: date) -> Period:
    sign = -1 if m.group(3).endswith("前") else 1
    return _day(_shift(today, sign * cn_number(m.group(1)), _CN_UNIT[m.group(2)]), m.group(0))


# -- numeric ----------------------------------------------------------------------------------------------------


@_rule(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?![\d:])|(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")
def _iso_day(m: re.Match[str], today: date) -> Period:
    y, mo, d = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
    return _day(date(_plausible_year(y), int(mo), int(d)), m.group(0))


@_rule(r"(?<![\d\-/])(\d{4})[-/](\d{1,2})(?![\d\-/])")
def _iso_month(m: re.Match[str], today: date) -> Period:
    return month_period(_plausible_year(m.group(1)), int(m.group(2)), m.group(0))


def _plausible_year(text: str) -> int:
    # Bare digit groups are dates only when the year is plausible: "2000-12" in arithmetic is not a month.
    year = int(text)
    if not 1900 <= year <= 2199:
        raise ValueError(f"{year} is not a plausible year")
    return year


# -- English ----------------------------------------------------------------------------------------------------


@_rule(_en(r"(?:the\s+)?day\s+(before\s+yesterday|after\s+tomorrow)|today|tonight|tomorrow|yesterday"),
       re.IGNORECASE)
def _en_day_word(m: re.Match[str], today: date) -> Period:
    word = " ".join(m.group(0).lower().split())
    shift = {"today": 0, "tonight": 0, "tomorrow": 1, "yesterday": -1}.get(word)
    if shift is None:
        shift = -2 if "yesterday" in word else 2
    return _day(today + timedelta(days=shift), m.group(0))


@_rule(_en(r"(this|current|last|previous|next|coming)\s+(week|month|year|quarter)"), re.IGNORECASE)
def _en_calendar(m: re.Match[str], today: date) -> Period:
    offset, unit = _EN_OFFSET[m.group(1).lower()], m.group(2).lower()
    if unit == "week":
        return _week(today, offset, m.group(0))
    if unit == "month":
        return _month(today, offset, m.group(0))
    if unit == "year":
        return _year(today.year + offset, m.group(0))
    index = today.year * 4 + (today.month - 1) // 3 + offset
    return _quarter(index // 4, index % 4 + 1, m.group(0))


@_rule(_en(rf"(?:(?:over|in|during)\s+)?(?:the\s+)?(?:last|past|previous)\s+({_EN_NUM})\s+{_EN_UNIT}"),
       re.IGNORECASE)
def _en_last_n(m: re.Match[str], today: date) -> Period:
    return _last_n(today, _number(m.group(1)), m.group(2).lower(), m.group(0))


@_rule(_en(rf"(?:(?:over|in|during)\s+)?the\s+past\s+{_EN_UNIT}|past\s+{_EN_UNIT}"), re.IGNORECASE)
def _en_past_unit(m: re.Match[str], today: date) -> Period:
    return _last_n(today, 1, (m.group(1) or m.group(2)).lower(), m.group(0))


@_rule(_en(rf"in\s+({_EN_NUM})\s+{_EN_UNIT}|({_EN_NUM})\s+{_EN_UNIT}\s+(from\s+now|from\s+today|later|hence|ago|"
           r"before)"),
       re.IGNORECASE)
def _en_offset(m: re.Match[str], today: date) -> Period:
    if m.group(1):
        n, unit, sign = _number(m.group(1)), m.group(2).lower(), 1
    else:
        n, unit = _number(m.group(3)), m.group(4).lower()
        sign = -1 if m.group(5).lower() in ("ago", "before") else 1
    return _day(_shift(today, sign * n, unit), m.group(0))


@_rule(_en(rf"(?:(this|last|next|coming|previous)\s+)?({_EN_WEEKDAY})(?:\s+(this|last|next)\s+week)?"),
       re.IGNORECASE)
def _en_weekday(m: re.Match[str], today: date) -> _Read:
    weekday = _EN_WEEKDAYS.index(m.group(2).lower())
    which = m.group(1) or m.group(3)
    offset = _EN_OFFSET[which.lower()] if which else 0
    day = week_start(today) + timedelta(weeks=offset, days=weekday)
    after = None if which else (lambda anchor: _day(week_start(anchor) + timedelta(days=weekday), m.group(0)))
    return _Read(_day(day, m.group(0)), after)


@_rule(_en(r"(?:(this|last|next|coming|previous)\s+)?weekend"), re.IGNORECASE)
def _en_weekend(m: re.Match[str], today: date) -> Period:
    offset = _EN_OFFSET[m.group(1).lower()] if m.group(1) else 0
    start = week_start(today) + timedelta(weeks=offset, days=5)
    return Period(start, start + timedelta(days=1), m.group(0))


@_rule(_en(rf"({_EN_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?"), re.IGNORECASE)
def _en_month_day(m: re.Match[str], today: date) -> Period:
    month = _EN_MONTHS[m.group(1).lower().rstrip(".")]
    return _day(date(int(m.group(3) or today.year), month, int(m.group(2))), m.group(0))


@_rule(_en(rf"(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_EN_MONTH})(?:,?\s+(\d{{4}}))?"), re.IGNORECASE)
def _en_day_month(m: re.Match[str], today: date) -> Period:
    month = _EN_MONTHS[m.group(2).lower().rstrip(".")]
    return _day(date(int(m.group(3) or today.year), month, int(m.group(1))), m.group(0))


@_rule(_en(rf"(?:(this|last|next)\s+)?({_EN_MONTH})(?:,?\s+(\d{{4}}))?"), re.IGNORECASE)
def _en_month(m: re.Match[str], today: date) -> Period | None:
    name = m.group(2).lower().rstrip(".")
    # "may", "mar", "jun" and friends are words too: a month abbreviation or "may" alone is not trusted.
    if not (m.group(1) or m.group(3)) and (name == "may" or (len(name) <= 4 and name != "june" and name != "july")):
        return None
    year = today.year + (_EN_OFFSET[m.group(1).lower()] if m.group(1) else 0)
    return month_period(int(m.group(3)) if m.group(3) else year, _EN_MONTHS[name], m.group(0))


@_rule(_en(r"Q([1-4])(?:\s*(\d{4}))?|(\d{4})\s*-?Q([1-4])"), re.IGNORECASE)
def _en_quarter(m: re.Match[str], today: date) -> Period:
    if m.group(1):
        return _quarter(int(m.group(2) or today.year), int(m.group(1)), m.group(0))
    return _quarter(int(m.group(3)), int(m.group(4)), m.group(0))


@_rule(_en(r"year\s+to\s+date|ytd|month\s+to\s+date|mtd|week\s+to\s+date|wtd|(?:so\s+far\s+)?this\s+(year|month|week)"
           r"\s+so\s+far|so\s+far\s+this\s+(year|month|week)"), re.IGNORECASE)
def _en_to_date(m: re.Match[str], today: date) -> Period:
    kind = (m.group(1) or m.group(2) or m.group(0)).lower()[0]
    start = {"y": date(today.year, 1, 1), "m": today.replace(day=1), "w": week_start(today)}[kind]
    return Period(start, today, m.group(0))


# ---------------------------------------------------------------------------------------------------------------
# finding and joining

_RANGE_JOIN = re.compile(r"\s*(?:到|至|～|~|-|—|–|to|until|till|through|thru|and|和|与|跟)\s*", re.IGNORECASE)
# "A 和 B 之间相差几天": a Chinese "and" joins two dates when what follows says "between".
_BETWEEN_AFTER = re.compile(r"\s*(?:之间|中间|相差|相隔|间隔|差)")
_RANGE_OPEN = re.compile(r"(?:从|自|由|from|between)\s*$", re.IGNORECASE)


@dataclass(slots=True)
class _Candidate:
    start: int
    end: int
    read: _Read


def _today(now: datetime | date) -> date:
    return now.date() if isinstance(now, datetime) else now


# Relative days and years written as one Chinese word. Their characters also meet by accident inside other words:
# 工作满几年后年假 holds 后年 (几年后 + 年假), 三天后天气 holds 后天 (三天后 + 天气).
_ZH_RELATIVE_WORD = re.compile(r"大?[今明后去前]年|大?[今明后昨前]天")
# A count of time right before 后/前 makes it that count's postposition (几年后, 三天前), not a date word's start.
_DURATION_BEFORE = re.compile(r"[\d零〇一二两三四五六七八九十百千几数多半]\s*(?:个)?\s*"
                              r"(?:年|天|日|周|星期|礼拜|月|小时|钟头|分钟)$")


@cache
def _jieba() -> Any:
    """jieba (the kb extra), loaded once; None without it: then only the postposition rule decides."""
    try:
        import jieba
    except ImportError:
        return None
    jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter is not ours to print
    return jieba


@lru_cache(maxsize=512)
def _word_spans(text: str) -> tuple[tuple[int, int], ...] | None:
    jieba = _jieba()
    if jieba is None:
        return None
    return tuple((start, end) for _, start, end in jieba.tokenize(text))


def _zh_word_stands(text: str, start: int, end: int) -> bool:
    """Whether the relative-date word ``text[start:end]`` is a word of the text, not characters of its neighbours:
    no count of time before a 后/前 it starts with, and no word of jieba's segmentation straddling its edges (a word
    holding it whole, such as 今天上午 or 去年同期, is fine)."""
    if text[start] in "后前" and _DURATION_BEFORE.search(text[:start]):
        return False
    spans = _word_spans(text)
    if spans is None:
        return True
    return not any(s < end and e > start and not (s <= start and e >= end) and not (start <= s and e <= end)
                   for s, e in spans)


def _candidates(text: str, today: date) -> list[_Candidate]:
    found: list[_Candidate] = []
    for pattern, handler in _RULES:
        for m in pattern.finditer(text):
            if m.end() == m.start():
                continue
            word = _ZH_RELATIVE_WORD.match(text, m.start())
            if word and not _zh_word_stands(text, word.start(), word.end()):
                continue
            try:
                read = handler(m, today)
            except (ValueError, KeyError, OverflowError):  # 13月, 2月30日, a year out of range: not a date
                continue
            if read is None:
                continue
            found.append(_Candidate(m.start(), m.end(), read if isinstance(read, _Read) else _Read(read)))
    return found


def find_periods(text: str, now: datetime | date) -> list[PeriodMatch]:
    """Every date expression in ``text`` with its span, left to right, longest reading first, none overlapping."""
    today = _today(now)
    chosen: list[_Candidate] = []
    taken_until = -1
    for c in sorted(_candidates(text, today), key=lambda c: (c.start, -(c.end - c.start))):
        # Left to right; at each position the longest reading wins and hides what overlaps it.
        if c.start >= taken_until:
            chosen.append(c)
            taken_until = c.end
    matches: list[PeriodMatch] = []
    i = 0
    while i < len(chosen):
        c = chosen[i]
        start, end, period = c.start, c.end, c.read.period
        if i + 1 < len(chosen):
            nxt = chosen[i + 1]
            between = text[end:nxt.start]
            opener = _RANGE_OPEN.search(text[:start])
            word = between.strip().lower()
            # "compare last week to this week" is two periods, "Nov 1 to Nov 7" one: an English word joins two
            # days, or anything after "from"/"between"; "and" only after "between".
            english_word = word.isascii() and word.isalpha()
            if word == "and":
                joins = opener is not None and opener.group(0).lower().startswith("between")
            elif word in ("和", "与", "跟"):
                joins = bool(_BETWEEN_AFTER.match(text, nxt.end))
            else:
                joins = not english_word or opener is not None or (period.days == 1 and nxt.read.period.days == 1)
            if _RANGE_JOIN.fullmatch(between) and joins:
                second = nxt.read.after(period.start) if nxt.read.after else nxt.read.period
                if second.end >= period.start:
                    if opener:
                        start = opener.start()
                    joined = Period(period.start, second.end, text[start:nxt.end])
                    matches.append(PeriodMatch((start, nxt.end), text[start:nxt.end], joined, joined=True))
                    i += 2
                    continue
        matches.append(PeriodMatch((start, end), text[start:end], period))
        i += 1
    return [_edge_day(m, text) for m in matches]


_EDGE_AFTER = re.compile(r"\s*的?\s*(第一天|头一天|首日|第1天|最后一天|末日|最后1天)")
_EDGE_BEFORE = re.compile(r"(?:the\s+)?(first|last)\s+day\s+of\s+(?:the\s+)?$", re.IGNORECASE)


def _edge_day(match: PeriodMatch, text: str) -> PeriodMatch:
    """A period's first or last day, when the words ask for it: 下个月的第一天, the last day of this month."""
    period = match.period
    if period.days == 1:
        return match
    start, end = match.span
    after = _EDGE_AFTER.match(text, end)
    before = _EDGE_BEFORE.search(text[:start])
    if after:
        first, end = after.group(1) in ("第一天", "头一天", "首日", "第1天"), after.end()
    elif before:
        first, start = before.group(1).lower() == "first", before.start()
    else:
        return match
    day = period.start if first else period.end
    return PeriodMatch((start, end), text[start:end], Period(day, day, text[start:end]))


def parse_period(expression: str, now: datetime | date) -> Period | None:
    """The period ``expression`` names (the first one, if it names several), or None if it names none."""
    found = find_periods(expression, now)
    return found[0].period if found else None


def resolve_period(expression: str, now: datetime | date) -> Period:
    """Like :func:`parse_period`, but raise :class:`DateParseError` saying what is understood."""
    period = parse_period(expression, now)
    if period is None:
        raise DateParseError(
            f"could not read a date from {expression!r}: try 今天, 上周, 本月, 最近7天, 2026-11-03, "
            "11月3日, last week, next Monday or a range such as 2026-11-01 to 2026-11-07"
        )
    return period
