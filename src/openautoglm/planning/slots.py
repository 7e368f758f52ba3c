"""Slot fillers: one small class per kind of argument, tried in order.

A filler says which parameters it takes (:meth:`SlotFiller.matches`, read off the parameter's name, type, format,
enum and description) and fills one from the part of the request a step answers (:meth:`SlotFiller.fill`). The
first filler in :data:`SLOT_FILLERS` that matches a parameter owns it: its ``kind`` is what the planner asks the
user for when nothing fills it, and ``autoglm plan --explain`` names it. A new kind of argument is one new class
and one line in :data:`SLOT_FILLERS` (or :func:`register_filler`, which puts it first, from outside the package).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..timeparse import PeriodMatch
from ..tools.base import Tool
from . import measures
from .evidence import (
    IDENTIFIER,
    NUMERIC_IDENTIFIER,
    coerce_number,
    enum_choice,
    in_code,
    modifier_of,
    near_name,
    near_number,
    number_ties,
    snake_case,
    written_identifier,
)
from .intent import Intent, Part
from .references import Prior, output_field, reference_expression

START_NAMES = {"start", "start_date", "from_date", "date_from", "begin", "begin_date", "since", "start_day", "from"}
END_NAMES = {"end", "end_date", "to_date", "date_to", "until", "end_day", "to"}
DATE_NAMES = {"date", "day", "when", "on", "target_date", "on_date"}
PLACE_NAMES = {"city", "location", "place", "destination", "origin", "region", "country", "area", "address",
               "city_name", "town", "state", "province", "where"}
COUNT_NAMES = {"limit", "top", "n", "k", "top_k", "top_n", "count", "max_results", "num_results", "size", "num",
               "max_items", "number_of_results"}
EXPRESSION_NAMES = {"expression", "expr", "formula", "equation"}
TEXT_NAMES = {"prompt", "text", "query", "question", "content", "message", "input", "instruction", "instructions",
              "topic", "keyword", "keywords", "q", "body", "request", "description", "sentence", "task"}
FILE_NAMES = {"path", "file", "filename", "file_path", "filepath", "document", "image", "audio", "video", "doc",
              "image_path", "audio_path", "video_path", "file_name"}
URL_NAMES = {"url", "link", "uri", "href", "website", "webpage"}


@dataclass(frozen=True)
class Slot:
    """One parameter of a tool, as the fillers read it."""

    name: str
    spec: Mapping[str, Any]
    required: bool = False

    @property
    def low(self) -> str:
        return self.name.lower()

    @property
    def desc(self) -> str:
        return str(self.spec.get("description") or "").lower()

    @property
    def type(self) -> Any:
        return self.spec.get("type")

    @property
    def format(self) -> str:
        return str(self.spec.get("format") or "")


@dataclass
class FillJob:
    """What the fillers of one step read: the tool, the part it answers, the whole request, the earlier steps,
    and what other arguments of the step have already taken."""

    tool: Tool
    part: Part
    intent: Intent
    priors: list[Prior]
    needs: int | None = None  # how many list items a later part reads from this step
    default_city: str | None = None
    used_numbers: set[int] = field(default_factory=set)  # indexes into part.numbers
    used_strings: set[str] = field(default_factory=set)
    args: dict[str, Any] = field(default_factory=dict)  # the arguments filled so far
    owners: dict[str, SlotFiller] = field(default_factory=dict)  # parameter -> the filler that owns it

    @property
    def dates(self) -> list[PeriodMatch]:
        # A period named elsewhere in the request ("上周..., 再算...") still applies to a part that names none.
        return self.part.dates or self.intent.dates

    @property
    def places(self) -> list[str]:
        return self.part.places or self.intent.places

    @property
    def required(self) -> set[str]:
        return set((self.tool.parameters or {}).get("required") or [])


@dataclass(frozen=True)
class Found:
    """A value for one argument, the rule that found it, and the earlier steps it reads."""

    value: Any
    rule: str
    references: frozenset[str] = frozenset()


class SlotFiller:
    """Fills the parameters it matches. Subclasses set ``kind`` and implement :meth:`matches` and :meth:`fill`."""

    kind = "other"

    @property
    def name(self) -> str:
        return type(self).__name__

    def matches(self, slot: Slot) -> bool:
        raise NotImplementedError

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        """The value the request gives this slot, or None."""
        return None

    def fill_leftover(self, slot: Slot, job: FillJob) -> Found | None:
        """A second chance once every argument of the step had its first: for what only the leftovers decide."""
        return None


def _mentions_date(desc: str) -> bool:
    return bool(re.search(r"\b(?:date|day|period|time)\b|日期", desc))


class DateWordsFiller(SlotFiller):
    """An expression parameter of a date tool: this part's own date words ("next Monday"), never a date said
    elsewhere in the request."""

    kind = "date_text"

    def matches(self, slot: Slot) -> bool:
        return slot.low in EXPRESSION_NAMES and _mentions_date(slot.desc)

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        dates = job.part.dates
        if not dates:
            return None
        # Two dates the words do not join ("今天距离2027年国庆节"): both, as written between them, for a tool that
        # counts the days between; a tool that reads one date reads the first.
        return Found(job.part.text[dates[0].span[0]:dates[-1].span[1]], "date words in the request")


class ExpressionFiller(SlotFiller):
    """Arithmetic: written in the request, or over an earlier step's list of records ("它比第二名多卖了百分之几")."""

    kind = "expression"

    def matches(self, slot: Slot) -> bool:
        return slot.low in EXPRESSION_NAMES or "arithmetic" in slot.desc or "math expression" in slot.desc

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        if job.part.arithmetic:
            return Found(job.part.arithmetic, "arithmetic in the request")
        for prior in reversed(job.priors):
            found = reference_expression(job.part, prior)
            if found:
                return Found(found[0], f"{found[1]} over {prior.step_id}'s output", frozenset({prior.step_id}))
        return None


class PlaceFiller(SlotFiller):
    """A city, region or address: a place the request names, else ``settings.default_city`` when required."""

    kind = "place"

    def matches(self, slot: Slot) -> bool:
        named = slot.low in PLACE_NAMES or re.search(r"\b(?:city|location|place|destination|address)\b", slot.desc)
        return bool(named) and slot.type in (None, "string")

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        free = [p for p in job.places if p not in job.used_strings]
        if free:
            job.used_strings.add(free[0])
            # An optional region-like filter is applied only when this part itself names the place.
            if not slot.required and not job.part.places:
                return None
            return Found(free[0], "place named in the request")
        if slot.required and job.default_city:
            return Found(job.default_city, "settings.default_city")
        return None


class DayFiller(SlotFiller):
    """A day read off the request's date words: the period's first day (``edge = "start"``) or last (``"end"``)."""

    edge = "start"

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        if not job.dates:
            return None
        match = job.dates[0]
        period = match.period
        day = period.start if self.edge == "start" else period.end
        return Found(day.isoformat(), f"date '{match.text}' -> {period.start.isoformat()}..{period.end.isoformat()}")


class RangeStartFiller(DayFiller):
    kind = "start"

    def matches(self, slot: Slot) -> bool:
        return slot.low in START_NAMES or (slot.format == "date" and ("start" in slot.low or "first day" in slot.desc))


class RangeEndFiller(DayFiller):
    kind = "end"
    edge = "end"

    def matches(self, slot: Slot) -> bool:
        return slot.low in END_NAMES or (slot.format == "date" and ("end" in slot.low or "last day" in slot.desc))


class DateFiller(DayFiller):
    kind = "date"

    def matches(self, slot: Slot) -> bool:
        return (slot.low in DATE_NAMES or slot.format == "date" or slot.low.endswith("_date")
                or (slot.type == "string" and "yyyy-mm-dd" in slot.desc))


class PlaceByNameFiller(PlaceFiller):
    """A place parameter of another type than string ("region": integer): a place kind, so the user is asked."""

    def matches(self, slot: Slot) -> bool:
        return slot.low in PLACE_NAMES or bool(re.search(r"\b(?:city|location|place)\b", slot.desc))


class CountFiller(SlotFiller):
    """How many results to list: "top N" in the part, or as many as a later part reads ("第二名" needs two)."""

    kind = "count"

    def matches(self, slot: Slot) -> bool:
        return slot.type == "integer" and (slot.low in COUNT_NAMES or bool(re.search(
            r"how many (?:rows|items|results)|number of (?:items|results|rows)", slot.desc)))

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        wanted = job.part.top_n or job.needs
        if not wanted:
            return None
        default = slot.spec.get("default")
        if isinstance(default, int) and not job.part.top_n:
            wanted = max(wanted, default)
        return Found(wanted, "'top N' in the request" if job.part.top_n else f"a later part reads item {job.needs}")


class EnumFiller(SlotFiller):
    kind = "enum"

    def matches(self, slot: Slot) -> bool:
        return "enum" in slot.spec

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        values = list(slot.spec.get("enum") or [])
        described = measures.described_choice(values, slot.spec, job.part.text)
        if described is not None:
            return Found(described, "a word the parameter's description gives for the value")
        choice = enum_choice(values, job.part, job.tool)
        return None if choice is None else Found(choice, "enum value named by the request's words")


class MeasureFiller(SlotFiller):
    """A quantity read by what it measures, not by its position: the unit given and the unit wanted, the
    quantity written before the unit, a rate in percent, a span of years, a sum of money (see :mod:`.measures`).
    When the request does not write it so, it stays empty: the next free number is not a rate or a sum."""

    kind = "measure"

    def matches(self, slot: Slot) -> bool:
        return measures.kind_of(slot.name, slot.spec) is not None

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        found = measures.fill(slot.name, slot.spec, job.part.text)
        if found is None:
            return None
        value, rule = found
        for i, n in enumerate(job.part.numbers):
            if n.value == value and i not in job.used_numbers:
                job.used_numbers.add(i)
                break
        return Found(value, rule)

    def fill_leftover(self, slot: Slot, job: FillJob) -> Found | None:
        # A sum of money needs no marker when nothing else is left to be it: "how much does 1200 earn at 3.5% over
        # 4 years" reads the rate and the years by their marks, and the one number left over is the sum. A rate or
        # a span is never taken this way: a bare number says nothing of being a percent or a count of years.
        if not slot.required or measures.kind_of(slot.name, slot.spec) != "money":
            return None
        open_numeric = sum(1 for name, owner in job.owners.items() if isinstance(owner, MeasureFiller | NumberFiller)
                           and name not in job.args and name in job.required)
        tied = number_ties(slot.name, job.part, job.used_numbers, open_numeric)
        if tied is None:
            return None
        index, rule = tied
        job.used_numbers.add(index)
        return Found(coerce_number(job.part.numbers[index].value, slot.spec), rule)


class UrlFiller(SlotFiller):
    kind = "url"

    def matches(self, slot: Slot) -> bool:
        return slot.low in URL_NAMES or "url" in slot.desc.split()

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        return Found(job.part.urls[0], "URL in the request") if job.part.urls else None


class FileFiller(SlotFiller):
    """A file named (or quoted) in the part; else, when required, what the step before produced."""

    kind = "file"

    def matches(self, slot: Slot) -> bool:
        return slot.low in FILE_NAMES or slot.low.endswith(("_path", "_file"))

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        pool = [f for f in (job.part.files or job.part.quoted) if f not in job.used_strings]
        if pool:
            job.used_strings.add(pool[0])
            return Found(pool[0], "file named in the request")
        if job.priors and slot.required:
            # Data flows on: the file this step needs is what the step before produced.
            last = job.priors[-1].step_id
            return Found(f"${{{last}.output}}", f"output of {last}", frozenset({last}))
        return None


class NumberFiller(SlotFiller):
    """A number the request ties to this parameter: written next to its name, with a unit that fits it; or,
    once every other argument had its chance, the next number nothing else claimed, when the text leaves no doubt
    which parameter it is for (see :func:`~.evidence.number_ties`)."""

    kind = "number"

    def matches(self, slot: Slot) -> bool:
        return slot.type in ("integer", "number")

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        near = near_number(slot.name, slot.spec, job.part, job.used_numbers)
        if near is None:
            return None
        job.used_numbers.add(near[0])
        return Found(coerce_number(near[1], slot.spec), "number next to the parameter's name")

    def fill_leftover(self, slot: Slot, job: FillJob) -> Found | None:
        if not slot.required:
            return None
        open_numeric = sum(1 for name, owner in job.owners.items() if isinstance(owner, NumberFiller)
                           and name not in job.args and name in job.required)
        tied = number_ties(slot.name, job.part, job.used_numbers, open_numeric)
        if tied is None:
            return None
        index, rule = tied
        job.used_numbers.add(index)
        return Found(coerce_number(job.part.numbers[index].value, slot.spec), rule)


class IdentifierFiller(SlotFiller):
    """An identifier (``order_id``, ``customer_id``, ``sku_code``): copied from the request where it is written next
    to the parameter's noun ("order #A-17", "customer Acme"), or read from an earlier step whose output carries
    it ("create an order ... and ship it" -> ``${create_order.output.order_id}``). Never made from a quantity or
    another number of the sentence, and never guessed by the model: when the request has none, the user is asked."""

    kind = "identifier"

    def matches(self, slot: Slot) -> bool:
        name = snake_case(slot.name)
        if slot.type == "integer":
            return bool(NUMERIC_IDENTIFIER.search(name))
        return slot.type in ("string", None) and bool(IDENTIFIER.search(name))

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        if slot.type == "integer":
            near = near_number(slot.name, slot.spec, job.part, job.used_numbers)
            if near is not None and not in_code(job.part, near[0]):
                job.used_numbers.add(near[0])
                return Found(round(near[1]), "number next to the parameter's name")
        elif slot.required and (named := written_identifier(slot.name, job.part, job.used_strings)):
            job.used_strings.add(named)
            return Found(named, "value written next to the parameter's noun")
        for prior in reversed(job.priors):
            path = output_field(prior.tool, slot.name)
            if path is not None:
                ref = ".".join((prior.step_id, "output", *path))
                return Found(f"${{{ref}}}", f"{'.'.join(path)} of {prior.step_id}'s output",
                             frozenset({prior.step_id}))
        if slot.type != "integer" and slot.required and (
                named := near_name(slot.name, slot.spec, job.part, job.used_strings | set(job.places))):
            # A name or a token (a phone number, "#123") written after the parameter's description words.
            job.used_strings.add(named)
            return Found(named, "name written next to the parameter's words")
        return None


class BooleanFiller(SlotFiller):
    """A flag: rules set none (a default or the model decides), but it is a kind of its own, never free text."""

    kind = "boolean"

    def matches(self, slot: Slot) -> bool:
        return slot.type == "boolean"


def text_with_data(part: Part, priors: list[Prior]) -> tuple[str, frozenset[str]]:
    """The part's words, followed by the earlier steps' outputs when the part refers back or writes."""
    if priors and (part.refers_back or part.writes):
        data = "\n".join(f"${{{p.step_id}.output}}" for p in priors)
        return f"{part.text}\n{data}", frozenset(p.step_id for p in priors)  # llm tools fence the data themselves
    return part.text, frozenset()


class TextFiller(SlotFiller):
    """A prompt, query or message: the part's own words (with the earlier outputs it refers to)."""

    kind = "text"

    def matches(self, slot: Slot) -> bool:
        return slot.low in TEXT_NAMES

    def fill(self, slot: Slot, job: FillJob) -> Found:
        text, refs = text_with_data(job.part, job.priors)
        return Found(text, "the part's own words", refs)


class NameFiller(SlotFiller):
    """A short required string (a title, a name, an id): quoted in the request, a name written next to the
    parameter's words, or the words naming the parameter's noun."""

    kind = "string"

    def matches(self, slot: Slot) -> bool:
        return slot.type in ("string", None)

    def fill(self, slot: Slot, job: FillJob) -> Found | None:
        if not slot.required:
            return None
        pool = [q for q in job.part.quoted if q not in job.used_strings]
        if pool:
            found = Found(pool[0], "quoted in the request")
        elif named := near_name(slot.name, slot.spec, job.part, job.used_strings | set(job.places)):
            found = Found(named, "name written next to the parameter's words")
        elif named := modifier_of(slot.name, job.part.text, job.used_strings):
            found = Found(named, "words naming the parameter's noun ('my electricity bill', 'year 2021')")
        else:
            return None
        job.used_strings.add(found.value)
        return found


class OtherFiller(SlotFiller):
    """Objects, arrays and anything else: left to the model, or to the user."""

    def matches(self, slot: Slot) -> bool:
        return True


# The order is the precedence: the first filler that matches a parameter owns it. Keep OtherFiller last.
SLOT_FILLERS: list[SlotFiller] = [
    DateWordsFiller(),
    ExpressionFiller(),
    MeasureFiller(),
    PlaceFiller(),
    RangeStartFiller(),
    RangeEndFiller(),
    DateFiller(),
    PlaceByNameFiller(),
    CountFiller(),
    EnumFiller(),
    UrlFiller(),
    FileFiller(),
    IdentifierFiller(),
    NumberFiller(),
    BooleanFiller(),
    TextFiller(),
    NameFiller(),
    OtherFiller(),
]


def register_filler(filler: SlotFiller, before: type[SlotFiller] | None = None) -> None:
    """Add a filler before the first registered filler of class ``before``; by default before every built-in one,
    since a filler written for one's own tools is more specific than any of them."""
    at = next((i for i, f in enumerate(SLOT_FILLERS) if type(f) is before), 0) if before else 0
    SLOT_FILLERS.insert(at, filler)


def filler_for(name: str, spec: Mapping[str, Any], required: bool = False) -> SlotFiller:
    slot = Slot(name, spec, required)
    return next(f for f in SLOT_FILLERS if f.matches(slot))


def slot_kind(name: str, spec: Mapping[str, Any]) -> str:
    """The kind of argument a parameter takes (place, date, count, expression, ...)."""
    return filler_for(name, spec).kind
