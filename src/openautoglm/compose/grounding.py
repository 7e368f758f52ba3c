"""Is every number, date and name in a text found in what the steps produced (or in the request)?

Used on the capable model's reply before anyone reads it, and on text a model generated inside a plan: a text that
states a figure, a day or a name no step produced is rejected. A number counts as found when some known number
rounds to it at the precision it is written with (17.1 for 17.137); a date when its month and day are among the
known dates; a name (a capitalised English word inside a sentence, or words in quotes) when it occurs in the
known text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel

from ..plan import render

_MONTHS = {m: i for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july", "august",
                                       "september", "october", "november", "december"), start=1)}
_MONTH_RE = "|".join([*_MONTHS, *(m[:3] for m in _MONTHS), "sept"])
_DATES = re.compile(
    r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"
    r"|(?:(?P<y2>\d{4})\s*年\s*)?(?P<m2>\d{1,2})\s*月\s*(?P<d2>\d{1,2})\s*[日号]"
    rf"|\b(?P<mon>{_MONTH_RE})\.?\s+(?P<d3>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s*(?P<y3>\d{{4}}))?"
    rf"|\b(?P<d4>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon4>{_MONTH_RE})\b(?:,?\s*(?P<y4>\d{{4}}))?", re.I)
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])-?\d+(?:\.\d+)?")  # a figure right after a Chinese character counts too
_THOUSANDS = re.compile(r"(?<=\d)[,，](?=\d{3}\b)")
_QUOTED = re.compile(r"[「“\"《]([^」”\"》]{2,40})[」”\"》]")
_CAPITALISED = re.compile(r"(?<![\w'])[A-Z][a-zA-Z]+(?:[ -][A-Z][a-zA-Z]+)*")
# Words that start with a capital inside a sentence without naming anything a step must have produced.
_COMMON = frozenset((
    "i", "i'm", "i've", "i'll", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
    "december", "ok", "okay", "note", "sorry", "unfortunately", "however", "also", "the", "a", "an", "in", "on",
    "at", "for", "from", "to", "of", "and", "or", "but", "so", "this", "that", "these", "those", "it", "its",
    "there", "here", "yes", "no", "please", "thanks", "hello", "hi", "hey", "dear", "good", "morning", "evening",
    "afternoon", "best", "regards", "cheers"))
# Small whole numbers are counts and list positions ("the top 2", "1."), not facts to be checked.
FREE_NUMBERS = frozenset({0.0, 1.0, 2.0})


@dataclass
class Known:
    """What the steps produced, as numbers, (month, day) pairs and lower-cased text."""

    numbers: set[float] = field(default_factory=set)
    days: set[tuple[int, int]] = field(default_factory=set)
    text: str = ""

    @classmethod
    def of(cls, values: Iterable[Any]) -> Known:
        known = cls()
        texts: list[str] = []
        for value in values:
            _collect(value, known, texts)
        known.text = "\n".join(texts).lower()
        for text in texts:
            for m in _DATES.finditer(text):
                if (day := _month_day(m)) is not None:
                    known.days.add(day)
            for token in _NUMBER.findall(_THOUSANDS.sub("", text)):
                known.numbers.add(float(token))
        return known

    def has_number(self, token: str) -> bool:
        value = float(token)
        if value in FREE_NUMBERS:
            return True
        decimals = len(token.split(".")[1]) if "." in token else 0
        tolerance = 0.5 * 10 ** -decimals + 1e-9
        # 0.1714 may be said as 17.14 (%), and 17.14 (%) as 0.1714.
        return any(abs(v - value) <= tolerance or abs(v * 100 - value) <= tolerance or abs(v / 100 - value)
                   <= tolerance for v in self.numbers)


def _collect(value: Any, known: Known, texts: list[str]) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, int | float):
        known.numbers.add(float(value))
        texts.append(str(value))
    elif isinstance(value, str):
        texts.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            texts.append(str(k))
            _collect(v, known, texts)
    elif isinstance(value, list | tuple | set):
        for v in value:
            _collect(v, known, texts)
    else:
        texts.append(render(value) if not isinstance(value, str) else value)


def _month(name: str) -> int:
    return next((n for full, n in _MONTHS.items() if full.startswith(name.lower()[:3])), 0)


def _month_day(m: re.Match[str]) -> tuple[int, int] | None:
    g = m.groupdict()
    if g["m"] or g["m2"]:
        month, day = int(g["m"] or g["m2"]), int(g["d"] or g["d2"])
    else:
        month, day = _month(g["mon"] or g["mon4"]), int(g["d3"] or g["d4"])
    try:
        date(2000, month, day)  # a real day of some year (2000 is a leap year)
    except ValueError:
        return None
    return month, day


def ungrounded(text: str, known: Known) -> list[str]:
    """Each number, date and name in ``text`` that ``known`` does not hold, in words; empty when all are found."""
    problems: list[str] = []
    spans: list[tuple[int, int]] = []
    for m in _DATES.finditer(text):
        day = _month_day(m)
        if day is None:
            continue
        spans.append(m.span())
        if day not in known.days:
            problems.append(f"the date {m.group(0).strip()!r} is not in any step's result")
    flat = _THOUSANDS.sub("", text)
    shift = _offsets(text)
    for m in _NUMBER.finditer(flat):
        start = shift(m.start())
        if any(s <= start < e for s, e in spans):
            continue
        if not known.has_number(m.group(0)):
            problems.append(f"the number {m.group(0)} is not in any step's result")
    for m in _QUOTED.finditer(text):
        if m.group(1).strip().lower() not in known.text:
            problems.append(f"the name {m.group(1)!r} is not in any step's result")
    for m in _CAPITALISED.finditer(text):
        words = [w for w in re.split(r"[ -]", m.group(0)) if w.lower() not in _COMMON]
        if not words or (_starts_sentence(text, m.start()) and len(words) == 1 and words[0] == m.group(0)):
            continue
        name = " ".join(words)
        if name.lower() not in known.text and not all(w.lower() in known.text for w in words):
            problems.append(f"the name {name!r} is not in any step's result")
    return problems


def _starts_sentence(text: str, i: int) -> bool:
    before = text[:i].rstrip()
    return not before or before[-1] in ".!?:;。！？：；\n(（\"“"


def _offsets(text: str) -> Any:
    """Maps a position in ``text`` without thousands separators back to ``text``."""
    removed = [m.start() for m in _THOUSANDS.finditer(text)]

    def shift(i: int) -> int:
        for n, r in enumerate(removed):
            if r - n > i:
                return i + n
        return i + len(removed)

    return shift
