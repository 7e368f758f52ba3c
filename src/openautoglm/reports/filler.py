"""How the rule planner picks which report a request asks for (``report.run``'s ``report``): the report's name or
title in the request, else the one report of the topic whose own period is as long as the period the request
names (上个月 → the monthly one). Two that fit equally are left for the user to choose: never a guess."""

from __future__ import annotations

from typing import Any

from ..planning.slots import FillJob, Found, Slot, SlotFiller, register_filler

CHOICES = "x-report-choices"
PERIOD = "x-report-period"
_MONTHLY = ("last_month", "this_month")
_WEEKLY = ("last_week", "this_week")


class ReportChoiceFiller(SlotFiller):
    kind = "report"

    def matches(self, slot: Slot) -> bool:
        return CHOICES in slot.spec

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        choices: list[dict[str, Any]] = list(slot.spec.get(CHOICES) or [])
        text = job.part.text.lower()
        for c in choices:
            if c["name"].lower() in text or (c["title"] and c["title"].lower() in text):
                return Found(c["name"], "report named in the request")
        dates = job.dates
        if not dates:
            return None
        days = dates[0].period.days
        span = _MONTHLY if 28 <= days <= 31 else _WEEKLY if days == 7 else ()
        fitting = [c for c in choices if c["period"] in span and _topic(c) & _words(text)]
        if len(fitting) == 1:
            return Found(fitting[0]["name"], f"the report whose period fits '{dates[0].text}'")
        return None


class ReportPeriodFiller(SlotFiller):
    """The period a report covers: the date words of the request, as written (上个月, last week)."""

    kind = "report_period"

    def matches(self, slot: Slot) -> bool:
        return PERIOD in slot.spec

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        return Found(job.dates[0].text, "date words in the request") if job.dates else None


def _words(text: str) -> set[str]:
    return {w for w in ("销售", "sales", "营收", "revenue") if w in text}


def _topic(choice: dict[str, Any]) -> set[str]:
    return _words(f"{choice['name']} {choice['title']} {choice['description']}".lower())


register_filler(ReportChoiceFiller())
register_filler(ReportPeriodFiller())
