"""What a request asks: its parts (split at Chinese and English connectives), and the entities of each part.

Rules only, no model: the parts are cut at sentence ends and at connectives (并/然后/再/同时/；/and then/also...);
each part keeps the connective that introduced it, whether it refers back to an earlier part (它/根据/then/it...),
and its dates (resolved against a clock by :mod:`openautoglm.timeparse`), numbers, ordinals, places, quoted
strings, files and URLs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..timeparse import PeriodMatch, find_periods
from . import entities as ent
from . import mathwords
from .kinds import Kind, classify
from .text import features

# Connectives that start a new part. Order matters: longer ones first.
_ZH_CONNECTIVES = ["并且", "然后", "接着", "之后", "随后", "同时", "另外", "此外", "还有", "而且", "以及", "顺便",
                   "再", "并", "也"]
_EN_CONNECTIVES = ["and then", "after that", "afterwards", "then", "and also", "also", "additionally", "as well as",
                   "plus", "and"]
# A new English part after a bare "and" must start like a request of its own.
_EN_CLAUSE_START = (r"(?:(?:by|in|to|for|from|at|on|of|with) (?:what|which|how|whom)\b|"  # "…, and by what percent…"
                    r"what|what's|whats|how|when|where|who|which|why|is|are|tell|give|show|find|get|calculate|"
                    r"compute|work out|write|generate|send|check|look|search|book|play|translate|convert|create|"
                    r"make|draft|summari[sz]e|remind|list|fetch|download|read|open|call|email|text|set|schedule|"
                    r"add|remove|delete|then|i want|i need|i'd like|please|can you|could you|let me know|describe|"
                    # Action verbs that open an item of a listed errand: "borrow X, attend Y, pay Z and share W".
                    r"pay|buy|sell|order|borrow|attend|share|post|apply|enroll|deliver|print|record|install|"
                    r"uninstall|update|upgrade|let|have|take|transfer|consult|see|watch|listen|organi[sz]e|arrange|"
                    r"reserve|rent|drive|invite|notify|upload|save|edit|analy[sz]e|extract|detect|recognize|"
                    r"classify|identify|answer|transcribe|buy|purchase|cancel|start|stop|turn|do|go|visit|meet|"
                    r"ask|reply|respond|post|tweet|publish|submit|sign|register|subscribe|borrow|return|"
                    r"dance|cook|clean|wash|"
                    # Errands of a business: "create an order ... and ship it", "... and invoice the customer".
                    r"ship|dispatch|invoice|refund|charge|approve|assign|archive|export|import)\b")
_INDEPENDENT = {"同时", "另外", "此外", "还有", "以及", "顺便", "also", "and also", "additionally", "as well as",
                "plus"}
_SEQUENTIAL = {"然后", "接着", "之后", "随后", "再", "and then", "then", "after that", "afterwards"}
# Words that point back to an earlier part's result.
_BACK_REFERENCE = re.compile(
    r"它|它们|其|该|此|上述|这个结果|结果|这些|那些|根据|基于|依据|按照|用这|把这|以此|据此|这个|那个|"
    r"\b(?:it|its|them|their|that|those|these|this|the result|the results|the output|based on|using|use the|from the|"
    r"with the|given the|accordingly)\b", re.I)
# Writing parts ("生成一段提醒", "write a summary") use what came before unless they bring their own subject.
# A computation over what came before: "多卖了百分之几", "how many times bigger", "the difference".
_COMPUTE = re.compile(r"百分之几|百分之多少|百分比|多少%|几%|几倍|多少倍|差多少|多多少|少多少|差距|总和|一共多少|平均|"
                      r"[多少](?:卖|买|赚|花|售|销|挣|用|出|产)了?多少|"  # 多卖了多少件, 少赚了多少
                      r"\b(?:percent|percentage|ratio|how many times|difference|how much more|how much less|"
                      r"how many more|how many fewer|"
                      r"average|in total|share|proportion)\b|占比|所占|比重|份额", re.I)
_WRITE_VERB = re.compile(r"生成|写|撰写|起草|总结|概括|翻译|提醒|通知|回复|建议|\b(?:write|draft|compose|generate|"
                         r"summari[sz]e|translate|remind|reply|suggest|explain|describe)\b", re.I)


@dataclass
class Part:
    """One piece of a request: ideally one thing to do."""

    text: str
    index: int
    connective: str = ""
    refers_back: bool = False
    writes: bool = False
    computes: bool = False
    dates: list[PeriodMatch] = field(default_factory=list)
    numbers: list[ent.Number] = field(default_factory=list)
    ordinals: list[int] = field(default_factory=list)
    top_n: int | None = None
    places: list[str] = field(default_factory=list)
    quoted: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    arithmetic: str | None = None
    # The ranking a clause comparing ranks needs (planning/rules.py split_rank_comparisons): only a tool that returns
    # a ranked list of a chosen length answers it.
    ranks: bool = False

    @property
    def sequential(self) -> bool:
        return self.connective.lower() in _SEQUENTIAL

    @property
    def independent(self) -> bool:
        return self.connective.lower() in _INDEPENDENT

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text}
        if self.connective:
            out["connective"] = self.connective
        if self.refers_back:
            out["refers_back"] = True
        if self.dates:
            out["dates"] = [{"text": d.text, **d.period.to_dict()} for d in self.dates]
        for name in ("ordinals", "places", "quoted", "files", "urls"):
            if value := getattr(self, name):
                out[name] = value
        if self.numbers:
            out["numbers"] = [n.as_int for n in self.numbers]
        if self.top_n:
            out["top_n"] = self.top_n
        if self.arithmetic:
            out["arithmetic"] = self.arithmetic
        return out


@dataclass
class Intent:
    request: str
    parts: list[Part]
    now: datetime

    @property
    def places(self) -> list[str]:
        return [p for part in self.parts for p in part.places]

    @property
    def dates(self) -> list[PeriodMatch]:
        return [d for part in self.parts for d in part.dates]

    def describe(self) -> dict[str, Any]:
        return {"request": self.request, "now": self.now.isoformat(timespec="seconds"),
                "parts": [p.describe() for p in self.parts]}


def _split_sentences(text: str) -> list[str]:
    # A title's dot ("Dr. Smith") does not end a sentence.
    pieces = re.split(r"(?<=[。！？!?；;])|(?<!\bDr\.)(?<!\bMr\.)(?<!\bMrs\.)(?<!\bMs\.)(?<!\bSt\.)(?<!\bNo\.)"
                      r"(?<=\.)\s+(?=[A-Z])|\n+", text)
    return [p.strip() for p in pieces if p and p.strip(" 。！？!?；;.,，")]


def _split_connectives(sentence: str) -> list[tuple[str, str]]:
    """``(connective, text)`` pieces of one sentence."""
    zh = "|".join(map(re.escape, _ZH_CONNECTIVES))
    # A Chinese connective starts a part only at a clause edge: after a comma or when a verb-like word follows.
    pattern = re.compile(
        rf"(?:[，、]|,(?=\s*[\u4e00-\u9fff]))\s*(?:({zh})\s*)?|(?<=[\u4e00-\u9fff\w])({zh})(?=(?:一下|算|查|生成|写|告诉|给|帮|计算|看|问|发|"
        rf"翻译|总结|提醒|把|用|列|比较|统计|汇总|获取|搜索|找|读|打开|创建|做|说|分析|预测|推荐|检查|安排|订|买|"
        rf"播放|下载|上传|发送|通知|请|再|也))"
        rf"|\s*,?\s*\b(and then|after that|afterwards|then|and also|also|additionally|as well as)\b\s*"
        rf"|\s*,?\s+\b(and|plus)\s+(?={_EN_CLAUSE_START})"
        rf"|,\s+(?={_EN_CLAUSE_START})",
        re.I,
    )
    out: list[tuple[str, str]] = []
    last, conn = 0, ""
    for m in pattern.finditer(sentence):
        piece = sentence[last:m.start()]
        if piece.strip():
            out.append((conn, piece))
            conn = next((g for g in m.groups() if g), "") or ""
        else:
            conn = next((g for g in m.groups() if g), "") or conn
        last = m.end()
    if sentence[last:].strip():
        out.append((conn, sentence[last:]))
    return out


def _content(text: str) -> bool:
    """Whether a piece says anything a tool could act on."""
    return bool(features(text)) or bool(ent.numbers(text))


_LEADING = re.compile(
    "^(?:" + "|".join(map(re.escape, _ZH_CONNECTIVES)) + r")(?=[\u4e00-\u9fff])|^(?:"
    + "|".join(re.escape(c) for c in _EN_CONNECTIVES) + r")\b\s*", re.I)


def _leading_connective(piece: tuple[str, str]) -> tuple[str, str]:
    """A piece that starts with a connective ("再算一下...", "and I'd like...") keeps it as its connective."""
    conn, text = piece
    m = _LEADING.match(text.strip())
    if m and len(text.strip()) > m.end():
        # "再" stays part of a follow-up's text too: "再查一下上海的" is read as a follow-up later.
        return (conn or m.group(0).strip(), text.strip()[m.end():].strip())
    return piece


def _goes_on_computing(before: str, piece: str) -> bool:
    """Whether ``piece`` continues the arithmetic of ``before``: an operation with no left operand of its own, or
    only a question for the result."""
    if mathwords.continues(piece):
        return bool(re.search(r"\d", mathwords.digits(before)))
    if mathwords.asks_result(piece) and mathwords.to_expression(before) is not None:
        return True
    # A piece that only states a quantity ("A jacket costs 250 dollars") is the operand of the piece computing with
    # it, never a part of its own.
    return mathwords.states_quantity(before) and mathwords.computes_with(before, piece)


def _only_a_date(text: str) -> bool:
    """Whether a piece says nothing but when ("Last week", "上个月"): the spans read do not depend on the clock."""
    found = find_periods(text, datetime(2026, 1, 1))
    rest = text
    for match in reversed(found):
        rest = rest[:match.span[0]] + rest[match.span[1]:]
    return bool(found) and not rest.strip(" ,，、:：")


def _small_talk(text: str) -> bool:
    return classify(text) == Kind.CONVERSATION


def split_parts(request: str) -> list[tuple[str, str]]:
    pieces: list[tuple[str, str]] = []
    for i, sentence in enumerate(_split_sentences(request)):
        for j, (conn, text) in enumerate(_split_connectives(sentence)):
            # A sentence boundary without a connective is a weak sequence marker.
            pieces.append((conn if (conn or i == 0 or j > 0) else "", text.strip(" ,，。.;；")))
    merged: list[tuple[str, str]] = []
    for conn, text in map(_leading_connective, pieces):
        if merged and _goes_on_computing(merged[-1][1], text):
            # "(45+55)*12 然后除以 8", "480 元，先打七折再减 20 元，最后多少钱": one computation, in the order said.
            prev_conn, prev = merged[-1]
            merged[-1] = (prev_conn, f"{prev}，{conn} {text}".replace("， ", "，"))
            continue
        if merged and _small_talk(text) and _small_talk(merged[-1][1]):
            # "嗨，今天过得好吗？", "Thanks! You were a big help": one exchange of courtesies, answered once.
            prev_conn, prev = merged[-1]
            merged[-1] = (prev_conn, f"{prev}, {text}" if prev.isascii() else f"{prev}，{text}")
            continue
        if merged and (not _content(text) or len(text) <= 1):
            prev_conn, prev = merged[-1]
            merged[-1] = (prev_conn, f"{prev} {text}".strip())
            continue
        if merged and _only_a_date(merged[-1][1]) and not conn:
            # "Last week, how many more units did …", "上个月，哪个地区…": the date sets the time of what follows.
            prev_conn, prev = merged.pop()
            merged.append((prev_conn, f"{prev}, {text}" if prev.isascii() else f"{prev}，{text}"))
            continue
        if merged and not _content(merged[-1][1]):
            prev_conn, prev = merged.pop()
            merged.append((prev_conn or conn, f"{prev} {text}".strip()))
            continue
        merged.append((conn, text))
    return [(c, t) for c, t in merged if t] or [("", request.strip())]


def parse_part(text: str, index: int, connective: str, now: datetime) -> Part:
    dates = find_periods(text, now)
    # Numbers inside a date expression ("最近7天", "2026-11-03") are not quantities.
    spans = [d.span for d in dates]
    nums = [n for n in ent.numbers(text) if not any(s <= n.start < e for s, e in spans)]
    return Part(
        text=text,
        index=index,
        connective=connective,
        refers_back=bool(_BACK_REFERENCE.search(text)),
        writes=bool(_WRITE_VERB.search(text)),
        computes=bool(_COMPUTE.search(text)),
        dates=dates,
        numbers=nums,
        ordinals=ent.ordinals(text),
        top_n=ent.top_n(text),
        places=ent.places(text),
        quoted=ent.quoted(text),
        files=ent.files(text),
        urls=ent.urls(text),
        # "2026/02/14" is a date, not a division.
        arithmetic=ent.arithmetic(_blank(text, spans)),
    )


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def parse_intent(request: str, now: datetime) -> Intent:
    parts = [parse_part(text, i, conn, now) for i, (conn, text) in enumerate(split_parts(request))]
    return Intent(request=request, parts=parts, now=now)
