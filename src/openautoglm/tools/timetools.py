"""``time.now`` and ``time.resolve``: the clock, and date expressions (今天, 上周, next Monday) as date ranges.

Output shapes (for planners)::

    time.now()        -> {"datetime": "2026-11-22T10:47:00+08:00", "date": "2026-11-22", "time": "10:47:00",
                          "weekday": "Sunday", "weekday_zh": "星期日", "iso_week": 47, "timezone": "Asia/Shanghai"}
    time.resolve("上周") -> {"expression": "上周", "start": "2026-11-09", "end": "2026-11-15", "label": "上周",
                          "days": 7, "today": "2026-11-22", "timezone": "Asia/Shanghai"}

``${when.output.start}`` / ``${when.output.end}`` feed tools that take dates (``sales.top_products``).
The clock is passed in (``clock``), so tests run at a fixed time; the time zone is the argument, else the
``timezone`` setting, else the machine's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ToolArgumentError
from ..timeparse import resolve_period
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


class _TimeTool(FunctionTool):
    def summarize(self, output: Any) -> str:
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
        """The current date and time, with the weekday in Chinese and English.

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
        """Turn a date expression into a date range: 今天, 明天, 上周, 本月, 最近7天, 下周一, 11月3日,
        last week, next Monday, in 3 days, 2026-11-03, or a range such as 11月1日到3日.

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

    return [
        _TimeTool(now, name="time.now", source="builtin", timeout_s=5.0),
        _TimeTool(resolve, name="time.resolve", source="builtin", timeout_s=5.0),
    ]
