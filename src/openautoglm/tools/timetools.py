"""``time.now`` and ``time.resolve``: the clock, and date expressions (今天, 上周, next Monday) as date ranges.

Output shapes (for planners)::

    time.now()        -> {"datetime": "2026-11-22T10:47:00+08:00", "date": "2026-11-22", "time": "10:47:00",
                          "weekday": "Sunday", "weekday_zh": "星期日", "iso_week": 47, "timezone": "Asia/Shanghai"}
    time.resolve("上周") -> {"expression": "上周", "start": "2026-11-09", "end": "2026-11-15", "label": "上周",
                          "days": 7, "today": "2026-11-22", "timezone": "Asia/Shanghai"}
                          # one day adds "weekday" and "weekday_zh"
    time.between("2026-01-15 到 2026-07-04") -> {"expression": ..., "start": "2026-01-15", "end": "2026-07-04",
                          "days": 170, "length_of": null, "weeks": 24, "extra_days": 2, "from_today": false,
                          "start_weekday": "Thursday", "end_weekday": "Saturday", "start_weekday_zh": "星期四",
                          "end_weekday_zh": "星期六", "today": "2026-11-22"}
                          # one date alone ("2027年元旦", "until Christmas") counts from today; days < 0: passed;
                          # one period alone ("2028年2月") counts its own days: "length_of" names it

``${when.output.start}`` / ``${when.output.end}`` feed tools that take dates (``sales.top_products``).
The clock is passed in (``clock``), so tests run at a fixed time; the time zone is the argument, else the
``timezone`` setting, else the machine's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ToolArgumentError
from ..timeparse import DateParseError, add_months, find_periods, resolve_period
from .base import FunctionTool, Tool

Clock = Callable[[tzinfo | None], datetime]
WEEKDAYS_ZH = ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"]


def system_clock(tz: tzinfo | None) -> datetime:
    return datetime.now(tz).astimezone(tz) if tz else datetime.now().astimezone()


def zone(name: str | None) -> tzinfo | None:
    """The named IANA zone, or None for the machine's local time; a clear error for an unknown name."""
    if not name:
        return None
    if name.upper() in ("UTC", "Z", "GMT"):
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolArgumentError(
            f"unknown time zone {name!r}: use an IANA name such as Asia/Shanghai, Europe/Berlin or UTC"
        ) from None


def _zone_name(now: datetime, name: str | None) -> str:
    if name:
        return "UTC" if name.upper() in ("UTC", "Z", "GMT") else name
    return now.tzname() or "local"


def _zh_day(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.year}年{d.month}月{d.day}日"


def _en_day(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.strftime('%B')} {d.day}, {d.year}"


class _TimeTool(FunctionTool):
    def answer(self, output: Any, lang: str) -> str | None:
        if not isinstance(output, dict):
            return None
        zh = lang == "zh"
        if "datetime" in output:
            hm = output["time"][:5]
            if zh:
                return f"现在是 {_zh_day(output['date'])} {output['weekday_zh']} {hm}（{output['timezone']}）。"
            return f"It is {output['weekday']}, {_en_day(output['date'])}, {hm} ({output['timezone']})."
        if "start" not in output or "end" not in output:
            return None
        what = output.get("expression", "")
        if "weekday" in output:
            if zh:
                return f"{what}是 {_zh_day(output['start'])}（{output['start']}），{output['weekday_zh']}。"
            return f"{what} is {output['weekday']}, {_en_day(output['start'])} ({output['start']})."
        if zh:
            return f"{what}是 {output['start']} 至 {output['end']}（共 {output['days']} 天）。"
        return f"{what} is {output['start']} to {output['end']} ({output['days']} days)."

    def summarize(self, output: Any) -> str:
        if isinstance(output, dict) and "extra_days" in output:
            return f"{output['start']} → {output['end']}: {output['days']} 天 / days"
        if isinstance(output, dict) and "start" in output and "end" in output:
            span = output["start"] if output["start"] == output["end"] else f"{output['start']} – {output['end']}"
            if "weekday" in output:
                span += f" {output['weekday_zh']} / {output['weekday']}"
            days = output.get("days")
            return f"{output.get('expression', '')}: {span}" + (f" ({days} 天 / days)" if days and days > 1 else "")
        if isinstance(output, dict) and "datetime" in output:
            return (f"{output['date']} {output['time']} {output['weekday_zh']} / {output['weekday']}"
                    f" ({output['timezone']})")
        return super().summarize(output)


def time_tools(default_timezone: str | None = None, clock: Clock = system_clock) -> list[Tool]:
    def now(timezone: str | None = None) -> dict[str, Any]:
        """The current date and time: what time it is now (现在几点, 几点钟, what time, o'clock), today's date and
        the weekday in Chinese and English.

        Args:
            timezone: an IANA time zone such as Asia/Shanghai; default: the configured one, else the machine's.
        """
        name = timezone or default_timezone
        current = clock(zone(name))
        return {
            "datetime": current.isoformat(timespec="seconds"),
            "date": current.date().isoformat(),
            "time": current.strftime("%H:%M:%S"),
            "weekday": current.strftime("%A"),
            "weekday_zh": WEEKDAYS_ZH[current.weekday()],
            "iso_week": current.isocalendar().week,
            "timezone": _zone_name(current, name),
        }

    def resolve(expression: str, timezone: str | None = None) -> dict[str, Any]:
        """Turn a date expression into a date range (the dates a period covers: 哪几天, which dates), and a day into its
        date (几号) and day of the week (星期几, 周几, 礼拜几, weekday): 今天, 明天,
        上周, 本月, 最近7天, 下周一, 11月3日, 3天后, last week, next Monday, in 3 days, in 2 weeks, 2026-11-03,
        11月1日到3日.

        Args:
            expression: the words naming a day or period, in Chinese or English.
            timezone: an IANA time zone that decides what "today" is; default: the configured one.
        """
        name = timezone or default_timezone
        current = clock(zone(name))
        period = resolve_period(expression, current)
        out = {"expression": expression, **period.to_dict(), "today": current.date().isoformat(),
               "timezone": _zone_name(current, name)}
        if period.start == period.end:  # one day: people who ask about a day usually want its weekday too
            out |= {"weekday": period.start.strftime("%A"), "weekday_zh": WEEKDAYS_ZH[period.start.weekday()]}
        return out

    def between(expression: str, unit: Literal["days", "weeks", "months"] = "days",
                timezone: str | None = None) -> dict[str, Any]:
        """Count the days, weeks or months between two dates, or from today until (or since) a date: how many days
        apart, how many weeks or months, how many days left (相差天数, 相隔几天, 多少周, 几个月, 倒计时).

        Args:
            expression: the dates in words, in Chinese or English: two dates or a range ("2026-01-15 到 2026-07-04",
                "between March 1 and June 30"), or one date counted from today.
            unit: what the question counts in: "days" (几天, 多少天, how many days), "weeks" (几周, 多少周, 几个星期,
                几个礼拜, how many weeks, in weeks) or "months" (几个月, 多少个月, how many months, in months).
            timezone: an IANA time zone that decides what "today" is; default: the configured one.
        """
        name = timezone or default_timezone
        current = clock(zone(name))
        today = current.date()
        found = find_periods(expression, current)
        if not found:
            raise DateParseError(f"time.between: could not read a date from {expression!r}: try 2026-01-15 到 "
                                 "2026-07-04, between March 1 and June 30, or one date such as 2027年元旦")
        from_today = len(found) == 1 and found[0].period.days == 1
        # One named period alone (2028年2月, this quarter) asks how long it is: its days counted inclusively, so
        # February 2028 has 29, where the distance from its first to its last day is 28.
        length_of = found[0].period.label if len(found) == 1 and not (from_today or found[0].joined) else None
        if len(found) >= 2:
            first, last = found[0].period.start, found[1].period.start
        elif from_today:
            first, last = today, found[0].period.start
        else:
            first, last = found[0].period.start, found[0].period.end
        days = found[0].period.days if length_of is not None else (last - first).days
        early, late = sorted((first, last))
        months = (late.year - early.year) * 12 + late.month - early.month - (late.day < early.day)
        month_days = (late - add_months(early, months)).days
        return {"expression": expression, "start": first.isoformat(), "end": last.isoformat(), "days": days,
                "length_of": length_of, "unit": unit, "weeks": abs(days) // 7, "extra_days": abs(days) % 7,
                "months": months, "month_extra_days": month_days, "from_today": from_today,
                "start_weekday": first.strftime("%A"), "end_weekday": last.strftime("%A"),
                "start_weekday_zh": WEEKDAYS_ZH[first.weekday()], "end_weekday_zh": WEEKDAYS_ZH[last.weekday()],
                "today": today.isoformat()}

    between_tool = _BetweenTool(between, name="time.between", source="builtin", timeout_s=5.0)
    between_tool.returns = {"type": "object", "properties": {
        "start": {"type": "string", "format": "date"}, "end": {"type": "string", "format": "date"},
        "days": {"type": "integer"}, "length_of": {"type": ["string", "null"]}, "unit": {"type": "string"},
        "weeks": {"type": "integer"}, "extra_days": {"type": "integer"}, "months": {"type": "integer"},
        "month_extra_days": {"type": "integer"}, "from_today": {"type": "boolean"},
        "start_weekday": {"type": "string"}, "end_weekday": {"type": "string"},
        "start_weekday_zh": {"type": "string"}, "end_weekday_zh": {"type": "string"}, "today": {"type": "string"}}}
    return [
        _TimeTool(now, name="time.now", source="builtin", timeout_s=5.0),
        _TimeTool(resolve, name="time.resolve", source="builtin", timeout_s=5.0),
        between_tool,
    ]


def _span(output: dict[str, Any], lang: str, weeks_aside: bool = True) -> str:
    """The span in the unit the question counts in, the days after it: "14 weeks (98 days)", "13 周又 1 天"."""
    n, unit = abs(output["days"]), output.get("unit", "days")
    zh = lang == "zh"
    if unit == "weeks":
        whole, rest = output["weeks"], output["extra_days"]
        if zh:
            return f"{whole} 周" + (f"又 {rest} 天" if rest else "") + f"（共 {n} 天）"
        return f"{whole} week{'s' * (whole != 1)}" + (f" and {rest} day{'s' * (rest != 1)}" if rest else "") + \
            f" ({n} days)"
    if unit == "months" and "months" in output:
        whole, rest = output["months"], output["month_extra_days"]
        if zh:
            return f"{whole} 个月" + (f"又 {rest} 天" if rest else "") + f"（共 {n} 天）"
        return f"{whole} month{'s' * (whole != 1)}" + (f" and {rest} day{'s' * (rest != 1)}" if rest else "") + \
            f" ({n} days)"
    aside = weeks_aside and output["weeks"]
    if zh:
        return f"{n} 天" + (f"（{output['weeks']} 周又 {output['extra_days']} 天）" if aside else "")
    return f"{n} day{'s' * (n != 1)}" + (f" ({output['weeks']} weeks and {output['extra_days']} days)"
                                         if aside else "")


class _BetweenTool(_TimeTool):
    def answer(self, output: Any, lang: str) -> str | None:
        if not (isinstance(output, dict) and "extra_days" in output):
            return None
        days, start, end = output["days"], output["start"], output["end"]
        span = _span(output, lang, weeks_aside=not output["from_today"])
        if output["from_today"]:
            if lang == "zh":
                if days >= 0:
                    return f"距离 {end}（{output['end_weekday_zh']}）还有 {span}。"
                return f"{end}（{output['end_weekday_zh']}）已经过去 {span}。"
            if days >= 0:
                return f"{end} ({output['end_weekday']}) is {span} from today ({start})."
            return f"{end} ({output['end_weekday']}) was {span} ago."
        if output.get("length_of"):
            n = abs(days)
            if lang == "zh":
                return f"{output['length_of']}（{start} 至 {end}）共 {n} 天。"
            return f"{output['length_of']} ({start} to {end}) has {n} day{'s' * (n != 1)}."
        if lang == "zh":
            return f"{start} 到 {end} 相差 {span}。"
        if output.get("unit", "days") != "days":
            return f"From {start} to {end} is {span}."
        n, weeks = abs(days), output["weeks"]
        aside = f" ({weeks} weeks and {output['extra_days']} days)" if weeks else ""
        return f"There are {n} day{'s' * (n != 1)} between {start} and {end}{aside}."
