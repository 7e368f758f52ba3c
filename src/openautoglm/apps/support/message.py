"""What a customer message says about itself, before anything is looked up: its language, whether it is angry,
whether it asks about an order (and which), whether it leans on the previous message ("那运费呢？"), and how
little it says. These are features of the message only; the evidence for an answer is measured elsewhere."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...compose.language import Lang, is_chinese
from ...memory.kb.text import tokenize

# Words and marks of an upset customer. Anger lowers confidence: such a message wants a person, not a policy quote.
_ANGER = re.compile(
    r"垃圾|骗子|投诉|气死|太差|差劲|坑人|无语|受够|什么破|搞什么|欺骗|退钱|曝光|黑心|恶心|愤怒|忍无可忍|到底|"
    r"\b(?:scam|scammer|ridiculous|outrageous|terrible|worst|useless|furious|angry|unacceptable|disgusting|"
    r"fraud|rip-?off|sue|lawyer|complain(?:t)?|pathetic|joke|fed up|never again|wtf)\b"
    r"|[!！]{2,}|[?？]{3,}", re.I)
_SHOUT = re.compile(r"\b[A-Z]{4,}\b")
# Asking where one's own order is, or what happened to it (general shipping questions are the documents' job).
ORDER_WORDS = re.compile(r"我的(?:订单|快递|包裹)|订单.{0,8}(?:到哪|状态|什么时候到|发货了)|物流|单号|"
                         r"\b(?:my (?:order|parcel|package|delivery)|track(?:ing)?|order status)\b", re.I)
# A message that carries its topic over from the previous one: "那运费呢？", "and the shipping?", "what about ...".
_FOLLOW_UP = re.compile(r"^\s*(?:那|那么|还有|另外)?.{0,12}(?:呢)[?？]?\s*$|^\s*(?:and|what about|how about)\b", re.I)


@dataclass(frozen=True)
class MessageFeatures:
    text: str
    lang: Lang
    anger: float
    """0 calm … 1 very upset (marks found, saturating at three)."""
    order_id: str | None
    asks_order: bool
    follow_up: bool
    brevity: float
    """1 with one word of content or none, 0.5 with two, else 0."""

    @property
    def angry(self) -> bool:
        return self.anger > 0


def read_message(text: str, order_id_pattern: str) -> MessageFeatures:
    marks = len(_ANGER.findall(text)) + len(_SHOUT.findall(text))
    found = re.search(order_id_pattern, text.upper())
    return MessageFeatures(
        text=text,
        lang="zh" if is_chinese(text) else "en",
        anger=min(1.0, marks / 3),
        order_id=found.group(0) if found else None,
        asks_order=bool(found or ORDER_WORDS.search(text)),
        follow_up=bool(_FOLLOW_UP.search(text)) and len(text) <= 40,
        brevity={0: 1.0, 1: 1.0, 2: 0.5}.get(len(set(tokenize(text))), 0.0),
    )
