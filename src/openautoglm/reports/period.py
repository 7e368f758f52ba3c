"""The period a report covers and the one before it (for growth): ``last_month``, ``last_week``, ``this_month``,
``yesterday``, a month ``2026-10``, a range ``2026-10-01..2026-10-31``, or date words (上个月, last week)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..errors import ToolArgumentError
from ..timeparse import parse_period


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    start: date
    end: date
    previous_start: date
    previous_end: date
    label: str

    def params(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "previous_start": self.previous_start.isoformat(), "previous_end": self.previous_end.isoformat()}

    def describe(self) -> str:
        return f"{self.start.isoformat()} – {self.end.isoformat()}"


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _month_end(day: date) -> date:
    return (_month_start(day) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _previous(start: date, end: date) -> tuple[date, date]:
    """The period before: the month before for whole months, else as many days just before."""
    if start.day == 1 and end == _month_end(start):
        before = _month_start(start - timedelta(days=1))
        return before, _month_end(before)
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


def resolve(expression: str, today: date) -> ReportPeriod:
    text = expression.strip()
    key = text.lower().replace("-", "_").replace(" ", "_")
    start: date | None = None
    end: date | None = None
    if key == "last_month":
        end = _month_start(today) - timedelta(days=1)
        start = _month_start(end)
    elif key == "this_month":
        start, end = _month_start(today), today
    elif key == "last_week":
        start = today - timedelta(days=today.weekday() + 7)
        end = start + timedelta(days=6)
    elif key == "this_week":
        start, end = today - timedelta(days=today.weekday()), today
    elif key == "yesterday":
        start = end = today - timedelta(days=1)
    elif ".." in text:
        first, _, last = text.partition("..")
        try:
            start, end = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
        except ValueError:
            start = None
    elif len(text) == 7 and text[4] == "-":
        try:
            start = date.fromisoformat(text + "-01")
            end = _month_end(start)
        except ValueError:
            start = None
    if start is None or end is None:
        found = parse_period(text, datetime.combine(today, datetime.min.time()))
        if found is None:
            raise ToolArgumentError(f"cannot read the period {expression!r}: use last_month, last_week, this_month, "
                                    "2026-10, 2026-10-01..2026-10-31 or words such as 上个月")
        start, end = found.start, found.end
    if end < start:
        raise ToolArgumentError(f"the period {expression!r} ends ({end}) before it starts ({start})")
    previous_start, previous_end = _previous(start, end)
    return ReportPeriod(start, end, previous_start, previous_end, text)
