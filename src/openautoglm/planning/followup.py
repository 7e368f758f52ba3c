"""Multi-turn planning: an answer to the question the last turn asked, and follow-ups such as "再查一下上海的"
that reuse the last plan with new places or dates."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from ..plan import Plan, parse_plan
from .context import Turn
from .intent import parse_part
from .text import features

# "再查一下上海的", "那后天呢", "换成广州", "what about Shanghai", "and for tomorrow?", "same for London"
_FOLLOW_UP = re.compile(r"^(?:那|那么|再|又|还是|换成|改成|换|改为|也|同样)|(?:呢|的呢|怎么样)[？?]?$|"
                        r"^(?:what about|how about|and for|and in|same for|same in|now for|again for|also for)\b",
                        re.I)
_ANSWERABLE_WORDS = 14


# What a question asks by kind (a city, a date) rather than by an argument's name.
_ASKED_BY_KIND = frozenset({"city", "date", "start", "end"})


def answer_to_question(request: str, history: list[Turn]) -> str | None:
    """When the last turn asked the user something, the request that asked it, completed with this answer."""
    if not history:
        return None
    last = history[-1]
    if last.status != "needs_input":
        return None
    answer = request.strip()
    named = [m for m in last.missing if m not in _ASKED_BY_KIND]
    if len(named) == 1 and len(last.missing) == 1 and not re.search(r"[=:：]", answer) and '"' not in answer:
        # The question named one argument ("Please tell me the order_id"): the answer is its value, written out
        # so that the argument filler takes it as such.
        answer = f'{named[0]}: "{answer}"'
    return f"{last.request}（{answer}）" if re.search(r"[\u4e00-\u9fff]", last.request) else (
        f"{last.request} ({answer})")


def _substitute(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _substitute(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, old, new) for v in value]
    return value


def follow_up(request: str, history: list[Turn], now: datetime) -> tuple[Plan, dict[str, Any]] | None:
    """The last plan with this request's places and dates in place of the old ones, or None when the request is
    not a follow-up (it asks something new, or there is nothing to reuse)."""
    if not history or not _FOLLOW_UP.search(request.strip()):
        return None
    last = next((t for t in reversed(history) if t.plan is not None and t.status != "needs_input"), None)
    if last is None or last.plan is None:
        return None
    new = parse_part(request, 0, "", now)
    old = parse_part(last.request, 0, "", now)
    # A follow-up brings entities and little else; a request with its own subject is planned afresh.
    words = [f for f in features(request) if not f.startswith("@")]
    if not (new.places or new.dates) or len(words) > _ANSWERABLE_WORDS:
        return None
    data = last.plan.dump()
    changes: dict[str, str] = {}
    if new.places and old.places and old.places[0] != new.places[0]:
        changes[old.places[0]] = new.places[0]
    if new.dates and old.dates:
        o, n = old.dates[0].period, new.dates[0].period
        changes[o.start.isoformat()] = n.start.isoformat()
        if o.end != o.start:
            changes[o.end.isoformat()] = n.end.isoformat()
        changes[old.dates[0].text] = new.dates[0].text
    if not changes:
        return None
    text = json.dumps(data, ensure_ascii=False)
    if not any(k in text for k in changes):
        return None
    for before, after in changes.items():
        data = _substitute(data, before, after)
    return parse_plan(data), {"reused_plan_of": last.request, "changes": changes}
