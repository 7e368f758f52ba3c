"""Entities in a piece of a request: numbers, ordinals, places, quoted strings, files and URLs, arithmetic.

Dates are found by :mod:`openautoglm.timeparse` (see :mod:`.intent`); this module does the rest, by rules only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from .mathwords import cn_to_int, to_expression

PLACES_FILE = resources.files("openautoglm.planning") / "places.yaml"

_CN_NUMBER = "[零〇一二两三四五六七八九十百千万亿]+"
_EN_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
                "eighth": 8, "ninth": 9, "tenth": 10, "runner-up": 2, "runner up": 2, "top": 1, "best": 1}
_EN_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
               "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "hundred": 100}
# Chinese writes numbers against words ("一个2件", "卖了120台"): only a Latin letter, digit or dot before a number
# makes it part of something else ("A1", "v2", "1.5").
_NOT_BEFORE = r"(?<![A-Za-z0-9_.])"
NUMBER = re.compile(rf"{_NOT_BEFORE}-?\d+(?:\.\d+)?[eE]-?\d+(?![\w])"
                    rf"|{_NOT_BEFORE}-?\d+(?:,\d{{3}})*(?:\.\d+)?(?![\w])"
                    rf"|{_NOT_BEFORE}-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Number:
    value: float
    text: str
    start: int

    @property
    def as_int(self) -> int | float:
        return int(self.value) if float(self.value).is_integer() else self.value


def numbers(text: str) -> list[Number]:
    found: list[Number] = []
    for m in NUMBER.finditer(text):
        raw = m.group(0).replace(",", "")
        try:
            found.append(Number(float(raw), m.group(0), m.start()))
        except ValueError:
            continue
    return found


def ordinals(text: str) -> list[int]:
    """Ordinal positions a request refers to, 1-based: 第二名 -> 2, the second one -> 2, 前三 -> 1..3."""
    out: list[int] = []
    for m in re.finditer(rf"第\s*(\d+|{_CN_NUMBER})", text):
        n = int(m.group(1)) if m.group(1).isdigit() else cn_to_int(m.group(1))
        if n:
            out.append(n)
    # 冠军 (the champion) is the first, as 最好 is (planning/references.py); 亚军 and 季军 name the next two places.
    out += [2 if m.group(0) == "亚军" else 3 for m in re.finditer("亚军|季军", text)]
    for m in re.finditer(r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|runner[- ]up)\b",
                         text, re.I):
        out.append(_EN_ORDINALS[m.group(1).lower().replace("-", " ").replace("runner up", "runner-up")])
    return out


def top_n(text: str) -> int | None:
    """How many items a request asks for: 前三 / 前5名 / top 10 / the 3 best."""
    m = re.search(rf"前\s*(\d+|{_CN_NUMBER})", text)
    if m:
        return int(m.group(1)) if m.group(1).isdigit() else cn_to_int(m.group(1))
    m = re.search(r"\btop[- ]?(\d+|" + "|".join(_EN_NUMBERS) + r")\b", text, re.I)
    if m:
        word = m.group(1).lower()
        return int(word) if word.isdigit() else _EN_NUMBERS[word]
    return None


@cache
def _place_names() -> tuple[list[str], list[str]]:
    data = yaml.safe_load(PLACES_FILE.read_text(encoding="utf-8")) or {}
    zh = sorted((str(p) for p in data.get("zh") or []), key=len, reverse=True)
    en = sorted((str(p) for p in data.get("en") or []), key=len, reverse=True)
    return zh, en


_IN_PLACE = re.compile(r"\b(?:in|at|for|to|from|near)\s+((?:[A-Z][a-z'\-]+)(?:\s+[A-Z][a-z'\-]+){0,2})")
_ZH_PLACE = re.compile(r"(?:在|去|到|飞往|位于)([\u4e00-\u9fff]{2,4}?)(?:市|省|县|区)")


def places(text: str) -> list[str]:
    """Place names, in the order they appear."""
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, name: str) -> None:
        end = start + len(name)
        if any(s < end and start < e for s, e in taken):
            return
        taken.append((start, end))
        found.append((start, name))

    zh, en = _place_names()
    for name in zh:
        for m in re.finditer(re.escape(name), text):
            add(m.start(), name)
    for name in en:
        for m in re.finditer(r"\b" + re.escape(name) + r"\b", text, re.I):
            add(m.start(), name)
    for m in _ADDRESS.finditer(text):
        add(m.start(), m.group(0))
    for m in _ZH_PLACE.finditer(text):
        add(m.start(1), m.group(1))
    for m in _IN_PLACE.finditer(text):
        words = m.group(1).split()
        # "in Monday", "for Tomorrow": capitalised words that are not places
        if words[0].lower() in _NOT_PLACES:
            continue
        add(m.start(1), m.group(1))
    return [name for _, name in sorted(found)]


_ADDRESS = re.compile(r"(?<![A-Za-z0-9])\d+\s+(?:[A-Z][a-z]+\s+){1,3}"
                      r"(?:St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Lane|Ln|Drive|"
                      r"Way|Place|Square|Court)\b\.?")
_NOT_PLACES = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february",
               "march", "april", "may", "june", "july", "august", "september", "october", "november", "december",
               "today", "tomorrow", "the", "a", "an", "my", "i", "python", "english", "chinese"}

_QUOTED = re.compile(r"'([^']{1,200})'|\"([^\"]{1,200})\"|“([^”]{1,200})”|‘([^’]{1,200})’"
                     r"|「([^」]{1,200})」|《([^》]{1,200})》")
_FILE = re.compile(r"(?<![\w/])(?:[\w\-./~]+/)?[\w\-]+\.(?:txt|csv|json|pdf|docx?|xlsx?|md|jpg|jpeg|png|gif|wav|mp3|mp4"
                   r"|avi|mov|yaml|yml|py|html|log)\b", re.I)
_URL = re.compile(r"https?://[^\s'\"<>，。]+")


def quoted(text: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in _QUOTED.finditer(text)]


def files(text: str) -> list[str]:
    return [m.group(0) for m in _FILE.finditer(text) if not m.group(0).startswith("http")]


def urls(text: str) -> list[str]:
    return [m.group(0).rstrip(".,)") for m in _URL.finditer(text)]


def arithmetic(text: str) -> str | None:
    """The arithmetic in ``text`` as an expression (``17% of 2300`` -> ``(17 / 100 * 2300)``), or None; see
    :mod:`.mathwords`."""
    return to_expression(text)
