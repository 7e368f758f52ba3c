"""Drafts of a reply, each built from one kind of evidence and naming it: passages of the knowledge base, or an
order the configured order tool returned. Code writes every fact of a draft (sentences quoted from a document, an
order's fields in a template); a model may only rephrase it later, under a grounding check."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ...compose.language import Lang, is_chinese
from ...memory.kb import SearchHit
from ...memory.kb.text import tokenize

MAX_SENTENCES = 2
# Whole sentences only (the knowledge base's own splitter also cuts at semicolons, which halves a policy's clause).
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.])\s+(?=[A-Z0-9])")
CONTEXT_WEIGHT = 0.3  # a word of the previous message counts this much against one of the message itself


@dataclass
class Draft:
    text: str
    sources: list[dict[str, Any]]
    evidence: dict[str, float] = field(default_factory=dict)
    """Measures of how well the evidence fits the message (feature name -> value in [0, 1])."""
    facts: list[Any] = field(default_factory=list)
    """What the draft may state: the source texts and values (for the grounding check)."""
    drafter: Drafter | None = None
    """The model node that worded it (None: the evidence's own words)."""


@dataclass(frozen=True)
class Drafter:
    """Which routed model call worded a draft: an agent's decision on the draft is a rating of this node."""

    node: str
    capability: str
    policy_version: int | None = None


def kb_draft(message: str, context: str, hits: list[SearchHit], lang: Lang) -> Draft | None:
    """The sentences of the best passage in the message's language that share the most words with the message
    (words of ``context``, the previous message of a follow-up, count less); None when no passage shares any."""
    own = [h for h in hits if is_chinese(h.text) == (lang == "zh")] or hits
    if not own:
        return None
    top = own[0]
    wanted = words_of(message) - asking()
    carried = words_of(context) - wanted - asking()
    scored = []
    for i, sentence in enumerate(s for line in top.text.splitlines() if not line.startswith("#")
                                 for s in _sentences(line)):
        words = words_of(sentence)
        score = len(wanted & words) + CONTEXT_WEIGHT * len(carried & words)
        if score > 0:
            scored.append((score, i, sentence))
    if not scored:
        return None
    best = sorted(scored, key=lambda s: -s[0])[:MAX_SENTENCES]
    # A second sentence only when it is nearly as good as the first: one clear answer beats two loose ones.
    chosen = [s for s in best if s[0] >= 0.6 * best[0][0]]
    text = "".join(s for _, _, s in sorted(chosen, key=lambda s: s[1])) if lang == "zh" else \
        " ".join(s for _, _, s in sorted(chosen, key=lambda s: s[1]))
    covered = words_of(text)
    coverage = len(wanted & covered) / len(wanted) if wanted else 0.0
    other = next((h.relevance for h in own[1:] if h.source != top.source), 0.0)
    source = {"type": "document", "name": top.name, "position": top.position, "source": top.source,
              "relevance": top.relevance}
    return Draft(
        text=text,
        sources=[source],
        evidence={"relevance": top.relevance, "margin": max(0.0, top.relevance - other), "coverage": coverage,
                  "order": 0.0,
                  "same_language": 1.0 if is_chinese(top.text) == (lang == "zh") else 0.0},
        facts=[top.text],
    )


def _sentences(text: str) -> list[str]:
    return [p.strip() for p in _SENTENCE_END.split(text) if p.strip()]


def words_of(text: str) -> set[str]:
    """The search tokens of ``text``, English ones without a plural or third-person -s (takes ~ take)."""
    return {w[:-1] if w.isascii() and len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in tokenize(text)}


# Words that ask rather than name a topic: an answer states a figure for them, it does not repeat them. They do not
# count in a draft's coverage of the message.
ASKING = ("多久 多少 多长 多长时间 时间 几天 几 什么 怎么 怎样 哪些 哪 吗 呢 能 能不能 可以 "
          "可不可以 是不是 有没有 要 请问 你们 我 我们 "
          "how long much many soon when which what where who do does did can could is are "
          "will would there any you your i me my have has get")


@cache
def asking() -> set[str]:
    return words_of(ASKING)  # on first use: segmenting loads jieba, which the core install does not have


_STATUS = {
    "shipped": ("已发货", "has shipped"),
    "processing": ("正在备货，尚未发货", "is being prepared and has not shipped yet"),
    "delivered": ("已签收", "has been delivered"),
    "cancelled": ("已取消", "was cancelled"),
}


# Words of a question about an order's status: what the order lookup answers besides the words of its own reply.
_ORDER_QUESTION = ("订单 到哪 到哪里 哪里 状态 什么时候 到 发货 发了 物流 快递 包裹 查 查询 帮 帮我 一下 了吗 "
                   "where is my order status shipped ship when will arrive come parcel package delivery "
                   "check track tracking number has it yet please can you for me")


@cache
def _order_question() -> set[str]:
    return words_of(_ORDER_QUESTION)


def order_draft(order_id: str, output: Any, tool: str, lang: Lang, message: str) -> Draft:
    """A sentence of the order's own fields: status, carrier and tracking number, expected delivery. Its coverage
    is the share of the message's words that ask about the order's status or that the reply contains: what else
    the message asks (change the address, add a gift card) this draft does not answer."""
    order = output if isinstance(output, dict) else {}
    status = str(order.get("status") or "")
    zh, en = _STATUS.get(status, (status, status))
    carrier, tracking, eta = order.get("carrier"), order.get("tracking_no"), order.get("eta")
    if lang == "zh":
        text = f"您的订单 {order_id} {zh}"
        if carrier and tracking:
            text += f"，承运商 {carrier}，运单号 {tracking}"
        if eta and status in ("shipped", "processing"):
            text += f"，预计 {eta} 送达"
        text += "。"
    else:
        text = f"Your order {order_id} {en}"
        if carrier and tracking:
            text += f" with {carrier}, tracking number {tracking}"
        if eta and status in ("shipped", "processing"):
            text += f", expected on {eta}"
        text += "."
    known = 1.0 if status in _STATUS else 0.0
    wanted = words_of(message.upper().replace(order_id, " ").lower()) - asking()
    answered = wanted & (_order_question() | words_of(text))
    coverage = known * (len(answered) / len(wanted) if wanted else 1.0)
    return Draft(text=text, sources=[{"type": "tool", "name": tool, "ref": order_id}],
                 evidence={"relevance": known, "margin": known, "coverage": coverage, "same_language": 1.0,
                           "order": 1.0},
                 facts=[order, order_id])
