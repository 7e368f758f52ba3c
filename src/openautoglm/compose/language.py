"""Which language a reply is written in: the one the caller names, else the one the instructions ask for (a system
prompt such as "always answer in English"), else the request's own (any Chinese character makes it Chinese)."""

from __future__ import annotations

import re
from typing import Literal

from ..language import requested_language
from ..plan import Plan, iter_strings

Lang = Literal["zh", "en"]

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def is_chinese(text: str) -> bool:
    return bool(CJK.search(text or ""))


def reply_language(request: str, language: str | None = None, instructions: str | None = None) -> Lang:
    named = (language or "").strip().lower()
    if named.startswith("zh") or named in ("chinese", "中文"):
        return "zh"
    if named.startswith("en") or named == "english":
        return "en"
    asked = requested_language(instructions)
    if asked in ("zh", "en"):
        return "zh" if asked == "zh" else "en"
    return "zh" if is_chinese(request) else "en"


def plan_words(plan: Plan) -> str:
    """What a plan given without a request says, for its reply's language: its name, description, steps'
    descriptions and literal arguments."""
    words = [plan.name or "", plan.description or ""]
    for step in plan.steps:
        words.append(step.description or "")
        words.extend(s for s in iter_strings(step.with_) if "${" not in s)
    return " ".join(w for w in words if w)
