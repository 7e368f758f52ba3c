"""Clauses of one request that only a comma separates, joined when they feed the same tool.

"存 5 万元，年利率百分之三，按月复利，三年后本息多少？" and "If I put 2000 dollars in at 5% a year, compounded yearly,
how much is there after 10 years?" are one computation spread over clauses: each clause alone leaves the tool's
arguments incomplete. A clause joins the one before when nothing but punctuation separates them and one of them
leaves the tool that fits it best unfilled, while the other goes on with that tool's arguments (the tool fits it
too, or the two together fill it). Clauses
that each stand on their own ("3+5，6*7", two complete questions) stay apart; a clause that only asks for the
result ("What will I have?", "最后多少钱？") joins the clause it asks about.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from .intent import Intent, Part, parse_part
from .mathwords import asks_result, states_quantity

# The names of the tools that fit a part well enough, best first; and whether the part alone fills all of a tool's
# required arguments.
Fitting = Callable[[Part], list[str]]
Fills = Callable[[str, Part], bool]
TRIES = 3


def join_clauses(intent: Intent, fitting: Fitting, fills: Fills) -> Intent:
    parts: list[Part] = []
    for part in intent.parts:
        prev = parts[-1] if parts else None
        if prev is not None and not part.connective:
            joined = parse_part(f"{prev.text}，{part.text}", prev.index, prev.connective, intent.now)
            if _belong_together(prev, part, joined, fitting, fills):
                parts[-1] = joined
                continue
        parts.append(part)
    if len(parts) == len(intent.parts):
        return intent
    return replace(intent, parts=[replace(p, index=i) for i, p in enumerate(parts)])


def _belong_together(prev: Part, part: Part, joined: Part, fitting: Fitting, fills: Fills) -> bool:
    before = fitting(prev)
    if before and (asks_result(part.text) or _only_asks(part, fitting)):
        return True  # "…for 6 years. What will I have?": the question of the computation before it
    # The earlier clause starts a tool's arguments that the later one goes on with ...
    if before and not fills(before[0], prev) and (before[0] in fitting(part)[:TRIES] or fills(before[0], joined)):
        return True
    # ... or the later clause needs a tool whose arguments the earlier one holds ("35 摄氏度，换算成华氏度是多少").
    # The earlier clause may hold only a value ("借 10000 元，年利率 5%，2 年后要还多少"): it joins when it gives the
    # later clause's tool what that clause lacks, unless it is a complete request of its own.
    after = fitting(part)
    if not after or fills(after[0], part):
        return False
    if not before and states_quantity(prev.text):
        return True  # a sum stated for the computation that follows: "借 10000 元，年利率 5%，…"
    return fills(after[0], joined) and (after[0] in before or not before or not fills(before[0], prev))


_ASKS = re.compile(r"[?？]|多少|几|\b(?:what|how|which)\b", re.I)


def _only_asks(part: Part, fitting: Fitting) -> bool:
    """A clause that asks and brings nothing of its own ("what will it be worth?", "最后能拿到多少"): no number, date,
    place or quoted text, and no tool its words fit. It asks about what the clause before it set out."""
    if part.numbers or part.dates or part.places or part.quoted or part.urls or part.files:
        return False
    return bool(_ASKS.search(part.text)) and not fitting(part)
