"""The knowledge base as tools: ``knowledge.search`` finds passages, ``knowledge.answer`` answers with citations.

Both open the knowledge base on first use (through ``open_kb``), so listing tools never touches it. Every answer
ends with its sources — file and position, with the excerpt used — written by code, not by the model, so the
citation is there even when a small model's wording is poor.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from importlib.resources import files
from typing import Any

from ...engine import ToolOutput
from ...models.base import ChatModel, ChatRequest
from ...tools.base import Tool, ToolContext
from ...tools.llm import DATA_NOTICE, _ModelTool, fence_data
from .base import KnowledgeBase, SearchHit

PROMPT = (files("openautoglm.memory") / "prompts" / "kb_answer.txt").read_text(encoding="utf-8")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_MARKER = re.compile(r"\[(\d+)\]")

_FILTERS = {
    "type": "object",
    "properties": {
        "source": {"type": "string", "description": "only files whose path or name matches this glob, e.g. '*.pdf'"},
        "types": {"type": "array", "items": {"type": "string"}, "description": "only these file types, e.g. ['md']"},
    },
    "additionalProperties": False,
}


def _hit_dict(hit: SearchHit) -> dict[str, Any]:
    return {"source": hit.source, "name": hit.name, "position": hit.position, "score": hit.score,
            "relevance": hit.relevance, "text": hit.text}


def _excerpt(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class KnowledgeSearchTool(Tool):
    name = "knowledge.search"
    portable = False  # it holds this process's knowledge base: it runs where the task runs
    description = ("Search the organisation's own documents (policies, manuals, FAQs, reports) in the knowledge "
                   "base; returns passages with their file, position and score. 搜索知识库文档。")
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "what to look for, in Chinese or English"},
            "k": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5, "description": "how many results"},
            "filters": _FILTERS,
        },
        "required": ["query"],
        "additionalProperties": False,
    }
    returns = {"type": "array", "items": {"type": "object"}}  # noqa: RUF012
    source = "builtin"

    def __init__(self, open_kb: Callable[[], KnowledgeBase]) -> None:
        self.open_kb = open_kb

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        kb = await asyncio.to_thread(self.open_kb)
        hits = await asyncio.to_thread(kb.search, str(args["query"]), int(args.get("k") or 5),
                                       filters=args.get("filters"))
        return [_hit_dict(h) for h in hits]

    def answer(self, output: Any, lang: str) -> str | None:
        if not isinstance(output, list):
            return None
        if not output:
            return "知识库里没有找到相关内容。" if lang == "zh" else "The knowledge base has nothing on this."
        best = output[0]
        if lang == "zh":
            return f"知识库中最相关的内容：{_excerpt(best['text'])}（来源：{best['name']}，{best['position']}）"
        return f"The closest passage in the knowledge base: {_excerpt(best['text'])} (source: {best['name']}, " \
               f"{best['position']})"

    def summarize(self, output: Any) -> str:
        if not output:
            return "no matching passages in the knowledge base"
        return "\n".join(f"[{i}] {h['name']} ({h['position']}): {_excerpt(h['text'])}"
                         for i, h in enumerate(output, start=1))


class KnowledgeAnswerTool(_ModelTool):
    name = "knowledge.answer"
    description = ("Answer a question from the organisation's own documents in the knowledge base (policies such "
                   "as returns or refunds, manuals, FAQs), citing the files used. 根据知识库文档回答问题并注明来源。")
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "question": {"type": "string", "description": "the question, in Chinese or English"},
            "k": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3,
                  "description": "how many passages to read"},
            "filters": _FILTERS,
            "system": {"type": "string", "description": "optional instructions for the writing (language, tone)"},
        },
        "required": ["question"],
        "additionalProperties": False,
    }
    returns = {"type": "object"}  # noqa: RUF012
    source = "builtin"
    # Retrieval, then a model reading the excerpts: more than a plain tool call on a CPU-only machine.
    timeout_s = 120.0

    def __init__(self, open_kb: Callable[[], KnowledgeBase], model: ChatModel, max_tokens: int = 160,
                 context_chars: int = 1200, mode: str = "auto") -> None:
        super().__init__(model, max_tokens)
        self.open_kb = open_kb
        self.mode = mode
        # The excerpts shown to the model, in characters: a small local model reads slowly and has a short context.
        self.context_chars = context_chars

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        question = str(args["question"])
        kb = await asyncio.to_thread(self.open_kb)
        hits = await asyncio.to_thread(kb.search, question, int(args.get("k") or 3), filters=args.get("filters"))
        chinese = bool(_CJK.search(question))
        if not hits:
            text = "知识库里没有找到相关内容。" if chinese else "The knowledge base has nothing on this."
            return {"answer": text, "sources": []}
        share = max(120, self.context_chars // len(hits))
        if not self._generate():
            answer = extract_answer(question, hits)
            return {"answer": answer, "sources": _sources(hits), "method": "extract", "relevance": _best(hits)}
        excerpts = "\n".join(f"[{i}] {h.citation}\n{fence_data(_excerpt(h.text, share))}"
                             for i, h in enumerate(hits, start=1))
        system = f"{DATA_NOTICE}\n{args['system']}" if args.get("system") else DATA_NOTICE
        request = ChatRequest.of(PROMPT.format(excerpts=excerpts, question=question), system=system,
                                 max_tokens=self.max_tokens, capability="text-generation")
        response = await self.ask(request, ctx)
        output = {"answer": response.text.strip(), "sources": _sources(hits), "method": "generate",
                  "relevance": _best(hits)}
        return ToolOutput(output, response.node or self.model.name)

    def _generate(self) -> bool:
        if self.mode != "auto":
            return self.mode == "generate"
        # A model too small to plan also garbles facts it is shown (SmolLM2-135M does): quote the documents instead.
        model = getattr(self.model, "resolved", self.model)
        return bool(getattr(model, "can_plan", False))

    def answer(self, output: Any, lang: str) -> str | None:
        """The answer without its [n] markers, naming the files those markers pointed to."""
        if not isinstance(output, dict):
            return None
        text = str(output.get("answer", "")).strip()
        sources = output.get("sources") or []
        if not sources:
            return text or None
        cited = [int(n) for n in _MARKER.findall(text) if 0 < int(n) <= len(sources)] or [1]
        places = list(dict.fromkeys(f"{sources[n - 1]['name']} ({sources[n - 1]['position']})" for n in cited))
        text = re.sub(r"\s*\[\d+\]", "", text).replace("**", "").strip()
        if text and text[-1] not in "。.!?！？":
            text += "。" if lang == "zh" else "."
        return f"{text}来源：{'；'.join(places)}" if lang == "zh" else f"{text} Source: {'; '.join(places)}"

    def summarize(self, output: Any) -> str:
        if not isinstance(output, dict):
            return super().summarize(output)
        sources = output.get("sources") or []
        if not sources:
            return str(output.get("answer", ""))
        label = "来源" if any(_CJK.search(s["excerpt"]) for s in sources) else "Sources"
        lines = [str(output.get("answer", "")).strip(), f"{label}:"]
        lines += [f"[{i}] {s['name']} ({s['position']}): {s['excerpt']}" for i, s in enumerate(sources, start=1)]
        return "\n".join(lines)


def knowledge_tools(open_kb: Callable[[], KnowledgeBase], model: ChatModel, answer_mode: str = "auto") -> list[Tool]:
    return [KnowledgeSearchTool(open_kb), KnowledgeAnswerTool(open_kb, model, mode=answer_mode)]


def _sources(hits: list[SearchHit]) -> list[dict[str, Any]]:
    return [{"source": h.source, "name": h.name, "position": h.position, "score": h.score,
             "relevance": h.relevance, "excerpt": _excerpt(h.text)} for h in hits]


def _best(hits: list[SearchHit]) -> float:
    """How sure retrieval is of the passages an answer rests on: the best one's relevance."""
    return max((h.relevance for h in hits), default=0.0)


QUOTED_SHARE = 0.5  # a passage is quoted only with at least this share of the best passage's relevance


def extract_answer(question: str, hits: list[SearchHit], max_chars: int = 240) -> str:
    """The sentences of the best passages that share the most words with the question, in document order, each
    marked with its source number; the top passage's opening when no sentence shares a word (another language).
    Only passages judged nearly as relevant as the best one are quoted: a question asked in English about a Chinese
    document shares no word with the passage that answers it, and common words ("each month") must not let a
    weaker passage in the question's language be quoted instead."""
    from .text import sentences, tokenize

    wanted = set(tokenize(question))
    scored: list[tuple[float, int, int, str]] = []
    top = max(h.relevance for h in hits)
    for n, hit in enumerate(hits, start=1):
        if hit.relevance < QUOTED_SHARE * top:
            continue
        for i, sentence in enumerate(s for line in hit.text.splitlines() for s in sentences(line)):
            overlap = len(wanted & set(tokenize(sentence)))
            if overlap:
                # Earlier passages rank higher; within one, more shared words win.
                scored.append((overlap - 0.5 * (n - 1), n, i, sentence))
    if not scored:
        return f"{_excerpt(hits[0].text, max_chars)} [1]"
    best = sorted(scored, key=lambda item: -item[0])
    chosen: list[tuple[int, int, str]] = []
    size = 0
    for _, n, i, sentence in best:
        if chosen and size + len(sentence) > max_chars:
            break
        chosen.append((n, i, sentence))
        size += len(sentence)
    chosen.sort()
    return " ".join(f"{sentence} [{n}]" for n, _, sentence in chosen)


class LazyKnowledgeBase:
    """Opens the knowledge base once, on first call, from settings (or hands out one given in code)."""

    def __init__(self, factory: Callable[[], KnowledgeBase]) -> None:
        import threading

        self._factory = factory
        self._kb: KnowledgeBase | None = None
        self._lock = threading.Lock()

    def __call__(self) -> KnowledgeBase:
        with self._lock:
            if self._kb is None:
                self._kb = self._factory()
            return self._kb

    @property
    def opened(self) -> KnowledgeBase | None:
        return self._kb
