"""Which language a reply is written in: the one the caller names, else the one the instructions ask for (a system
prompt such as "always answer in English"), else the request's own (any Chinese character makes it Chinese)."""

from __future__ import annotations

import re
from typing import Literal

from ..language import reply_language as pick_language
from ..plan import Plan, iter_strings

Lang = Literal["zh", "en"]

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def is_chinese(text: str) -> bool:
    return bool(CJK.search(text or ""))


def reply_language(request: str, language: str | None = None, instructions: str | None = None) -> Lang:
    """The reply's language (:func:`openautoglm.language.reply_language`, typed for the composer)."""
    return "zh" if pick_language(request, instructions, language=language) == "zh" else "en"


def plan_words(plan: Plan) -> str:
    """What a plan given without a request says, for its reply's language: its name, description, steps'
    descriptions and literal arguments."""
    words = [plan.name or "", plan.description or ""]
    for step in plan.steps:
        words.append(step.description or "")
        words.extend(s for s in iter_strings(step.with_) if "${" not in s)
    return " ".join(w for w in words if w)
