"""Quantities a request gives with what they measure: a unit to convert from and one to convert to (and the
quantity written before the first), a rate in percent, a span of years, a sum of money. Rules only; every value
is read off the request's own words, numbers in Chinese or English words included (三年, 百分之三, 5 万元, ten years).

    unit_pair("How many pounds is 5 kg?")            -> ("kg", "lb")      the unit written after the number is
                                                                            the one given; the other is wanted
    percent("年利率 3.5%，存 5 年")                     -> 3.5
    years("after ten years")                         -> 10
    money("If I put 2000 dollars in an account")     -> 2000

:func:`fill` picks the reading for a tool parameter from its name and description, and :func:`described_choice`
an enum value by the words its description gives it, for the planner's argument fill.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..tools.units import find_units
from .mathwords import digits

NUM = r"\d+(?:\.\d+)?"


def unit_pair(text: str) -> tuple[str, str] | None:
    """(unit given, unit wanted) named in ``text``, or None unless two different units are named."""
    mentions = find_units(digits(text))
    symbols = list(dict.fromkeys(m.symbol for m in mentions))
    if len(symbols) < 2:
        return None
    given = next((m.symbol for m in mentions if m.after_number), symbols[0])
    wanted = next(s for s in symbols if s != given)
    return given, wanted


# A sign written before a quantity: "-5 °C", "−5", "零下 5 度", "负 40", "minus 10 degrees", "negative 3".
# A hyphen counts only where it cannot be a subtraction or a range ("10-5 kg"): not right after a digit.
_NEGATIVE = r"(?:(?<![\d.])[-−]|零下|负|\bminus\s+|\bnegative\s+|\bbelow\s+zero\s+)"


def quantity(text: str) -> float | None:
    """The number a unit is written after: the quantity to convert ("十英里" -> 10, "5 kg" -> 5), with its sign
    ("零下 5 摄氏度" -> -5, "minus 10 degrees Celsius" -> -10)."""
    t = digits(text)
    for mention in find_units(t):
        m = re.search(rf"({_NEGATIVE}\s*)?({NUM})\s*(?:度|degrees?)?\s*$", t[:mention.start], re.I)
        if mention.after_number and m:
            value = float(m.group(2))
            return -value if m.group(1) else value
    return None


def _first(pattern: str, text: str) -> float | None:
    m = re.search(pattern, digits(text), re.I)
    return float(next(g for g in m.groups() if g)) if m else None


def percent(text: str) -> float | None:
    """The number written as a percentage: 5%, 百分之三, 3.5 percent, a rate of 4."""
    return _first(rf"({NUM})\s*(?:%|percent\b|per\s*cent\b)|百分之\s*({NUM})"
                  rf"|(?:利率|rate\s+of)\s*(?:为|是|of)?\s*({NUM})", text)


def years(text: str) -> float | None:
    """A span of years: 10 years, 五年, 存 3 年; 18 months and 6 个月 as fractions of a year."""
    found = _first(rf"({NUM})\s*(?:years?\b|yrs?\b|(?:个)?年(?![利率底初末度级]))", text)
    if found is not None:
        return found
    months = _first(rf"({NUM})\s*(?:months?\b|个月)", text)
    return round(months / 12, 6) if months is not None else None


_MONEY = (rf"[$¥￥€£]\s*({NUM})|({NUM})\s*(?:dollars?|bucks|yuan|rmb|euros?|元|块|美元|人民币)"
          rf"|(?:本金|principal\s+of|deposit(?:s|ed)?|invest(?:s|ed)?|put|borrow(?:s|ed)?|loan\s+of|存入?|借|贷款)\s*"
          # "存 2 年" is how long, not how much: a number followed by a span of time is no sum.
          rf"(?:of\s+)?({NUM})(?![\d.]|\s*(?:个)?(?:年|月|天|周|years?\b|months?\b|days?\b|weeks?\b))"
          # The sum that grows: "how much will 1500 grow to", "what will 800 be worth", "1 万变成多少".
          rf"|({NUM})\s*(?:grows?\b|becomes?\b|be\s+worth\b|turns?\s+into\b|(?:会)?(?:变成|涨到|增长到|增加到|滚到))")


def money(text: str) -> float | None:
    """A sum of money: $2000, 2000 dollars, 5 万元, 本金 1000, put 500, 存 3000."""
    return _first(_MONEY, text)


# What a parameter holds, read off its name and description; each with the reading that fills it.
_KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("unit_from", re.compile(r"^(?:from|source|input)_?units?$|\bunit (?:it is|to convert) from\b|\bunit it is in\b")),
    ("unit_to", re.compile(r"^(?:to|target|output)_?units?$|\bunit (?:wanted|to convert to)\b")),
    ("quantity", re.compile(r"\bquantity to convert\b|\bvalue to convert\b")),
    ("percent", re.compile(r"percent|percentage|利率|\binterest rate\b")),
    ("years", re.compile(r"^(?:years?|num_years|n_years|duration_years|term_years)$|\bhow many years\b|\bin years\b")),
    ("money", re.compile(r"^(?:principal|deposit|capital|loan|investment)$|\bsum deposited\b|\bprincipal\b|本金")),
]


def kind_of(name: str, spec: Mapping[str, Any]) -> str | None:
    """Which quantity a parameter holds (``unit_from``, ``unit_to``, ``percent``, ``years``, ``money``), or None."""
    low, desc = name.lower(), str(spec.get("description") or "").lower()
    typ = spec.get("type")
    for kind, pattern in _KINDS:
        numeric = kind not in ("unit_from", "unit_to")
        if numeric != (typ in ("number", "integer")):
            continue
        if pattern.search(low) or pattern.search(desc):
            return kind
    return None


def fill(name: str, spec: Mapping[str, Any], text: str) -> tuple[Any, str] | None:
    """(value, rule) for a parameter of one of these kinds, read off ``text``; None when the text does not say."""
    kind = kind_of(name, spec)
    if kind in ("unit_from", "unit_to"):
        pair = unit_pair(text)
        if pair is None:
            return None
        return (pair[0], "the unit written after the number") if kind == "unit_from" else \
            (pair[1], "the other unit the request names")
    reader = {"quantity": quantity, "percent": percent, "years": years, "money": money}.get(kind or "")
    value = reader(text) if reader else None
    if value is None:
        return None
    if spec.get("type") == "integer":
        if not float(value).is_integer():
            return None
        value = int(value)
    elif float(value).is_integer():
        value = int(value)
    return value, f"a {kind} written in the request"


def described_choice(values: list[Any], spec: Mapping[str, Any], text: str) -> Any:
    """The enum value whose words, as the parameter's description gives them in parentheses after the value
    ('"units" (销量, 件数, units sold)', 'region (地区)'), appear in ``text``; the longest word wins, so 销售额 is not
    read as 销售. None when no such word is in the text."""
    desc = str(spec.get("description") or "")
    low = text.lower()
    best: tuple[int, Any] | None = None
    for value in values:
        if not isinstance(value, str):
            continue
        for m in re.finditer(rf"[\"']?\b{re.escape(value)}\b[\"']?\s*\(([^)]*)\)", desc, re.I):
            for word in re.split(r"\s*[,，、/;；]\s*|\s+or\s+", m.group(1)):
                word = word.strip().lower()
                if word and word in low and (best is None or len(word) > best[0]):
                    best = (len(word), value)
    return best[1] if best else None


_WEEKDAY_ASKED = re.compile(r"\b(?:which|what) day of (?:the )?week\b|\bday of (?:the )?week\b|星期几|周几|礼拜几",
                            re.I)


def named_choices(parameters: Mapping[str, Any], text: str) -> int:
    """How many of a tool's enum parameters the text sets to something other than their default: evidence that the
    tool does what is asked ("which day ..." for a ranking that can group by day)."""
    # "Which day of the week is 2027-03-05?" asks a date's weekday: its "which day" picks no day among others.
    text = _WEEKDAY_ASKED.sub(" ", text)
    count = 0
    for spec in (parameters.get("properties") or {}).values():
        if not isinstance(spec, Mapping) or not spec.get("enum"):
            continue
        # Only the words a description gives a value count: a bare "day" ("what day of the week") says little.
        choice = described_choice(list(spec["enum"]), spec, text)
        if choice is not None and choice != spec.get("default"):
            count += 1
    return count
