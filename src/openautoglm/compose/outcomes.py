"""What each part of the request came to: a fact from a tool, an answer from the knowledge base, text a model
wrote, or a part that failed, was skipped or could not be done at all, each with the sentence the reply says for
it and how far it can be trusted.

A tool's sentence is its own (:meth:`Tool.answer`); text a model wrote inside the plan is shown only after the
checks on generated text pass and every figure in it is found in the results it was given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from ..engine import StepResult, StepStatus
from ..language import requested_language
from ..plan import Step, render, step_dependencies
from ..planning.kinds import Kind, classify, small_talk_act
from ..tools.base import Tool
from ..tools.recall import RECALL
from . import phrases
from .base import ComposeInput
from .checks import text_problems
from .comparisons import comparison
from .grounding import Known, ungrounded
from .language import Lang

GENERATIVE = frozenset({"llm.generate", "llm.extract"})
KNOWLEDGE = frozenset({"knowledge.answer", "knowledge.search"})
# A part that asks for a percentage ("多卖了百分之几", "by what percent"), not one that merely gives one ("15% 的 240").
_PERCENT_ASKED = re.compile(r"百分之几|百分之多少|百分比|多少\s*%|几\s*%|"
                            r"\b(?:what|which|how many) (?:percent|percentage)\b|\bby what percent|\bpercentage\b",
                            re.I)
_ENDS_IN_NUMBER = re.compile(r"=\s*(-?[\d,]+(?:\.\d+)?)\s*[。.]?$")


class Source(StrEnum):
    FACT = "fact"  # a deterministic tool's result
    KNOWLEDGE = "knowledge"  # passages retrieved from the knowledge base
    GENERATED = "generated"  # text a model wrote, checked
    COURTESY = "courtesy"  # the composer's own reply to small talk whose model text failed its checks
    STAND_IN = "stand_in"  # a model answering for a tool that failed
    FAILED = "failed"
    SKIPPED = "skipped"
    UNSUPPORTED = "unsupported"


DONE = frozenset({Source.FACT, Source.KNOWLEDGE, Source.GENERATED, Source.COURTESY})


@dataclass
class Outcome:
    source: Source
    sentence: str
    part: str
    step_id: str | None = None
    uses: str | None = None
    output: Any = None
    # How far this piece can be trusted, in [0, 1]: see compose/confidence.py.
    score: float = 0.0
    position: int = 0
    # The steps whose results this one used: a part built on the one before it continues that sentence.
    uses_results_of: frozenset[str] = frozenset()

    @property
    def done(self) -> bool:
        return self.source in DONE


def outcomes(inp: ComposeInput, lang: Lang, capable: bool) -> list[Outcome]:
    """Every step's and every unsupported part's outcome, in the order their parts come in the request."""
    plan = inp.plan
    by_id = {s.id: s for s in plan.steps}
    replaced = {r.id: r for r in inp.replaced}
    # What a model writing inside the plan may state: the request and what the tools (not other models) produced.
    produced = [r.output for r in inp.steps if r.status == StepStatus.SUCCEEDED and r.uses not in GENERATIVE]
    outputs = {r.id: r.output for r in inp.steps if r.status == StepStatus.SUCCEEDED}
    out: list[Outcome] = []
    for result in inp.steps:
        step = by_id.get(result.id)
        if step is None:
            continue
        part = step.description or (inp.request if len(plan.steps) == 1 else step.uses)
        # An earlier turn's data, read again, is worded by the tool that produced it.
        named = str(step.with_.get("uses") or "") if step.uses == RECALL else step.uses
        tool = inp.tools.get(named) if named in inp.tools else None
        outcome = _outcome(step, result, part, tool, lang, capable, replaced.get(result.id),
                           [inp.request, *produced], inp.instructions, outputs)
        if outcome is not None:
            outcome.uses_results_of = frozenset(step_dependencies(step))
            out.append(outcome)
    # Data carried from an earlier turn was answered then; it is said again only when nothing else ran.
    if any(o.uses != RECALL for o in out):
        out = [o for o in out if o.uses != RECALL]
    for item in inp.unsupported_parts:
        out.append(Outcome(Source.UNSUPPORTED, phrases.unsupported(item.text, item.reason, item.needs, lang),
                           item.text))
    for i, o in enumerate(out):
        found = inp.request.find(o.part)
        o.position = found if found >= 0 else len(inp.request) + i
    out.sort(key=lambda o: o.position)  # stable: a part's several steps keep the plan's order
    seen: set[str] = set()
    unique = []
    for o in out:
        if o.sentence and o.sentence in seen:
            continue
        seen.add(o.sentence)
        unique.append(o)
    return unique


def _outcome(step: Step, result: StepResult, part: str, tool: Tool | None, lang: Lang, capable: bool,
             stood_in_for: StepResult | None, given: list[Any], instructions: str | None,
             outputs: dict[str, Any] | None = None) -> Outcome | None:
    def made(source: Source, sentence: str, output: Any = None, score: float = 0.0) -> Outcome:
        return Outcome(source, sentence, part, step.id, step.uses, output, score)

    if result.status == StepStatus.SKIPPED:
        if (result.error or "").startswith("condition "):
            return None  # not needed: its `when` was false
        return made(Source.SKIPPED, phrases.skipped(part, lang))
    if result.status != StepStatus.SUCCEEDED:
        return made(Source.FAILED, phrases.failed(part, result.error or "did not run", lang))
    output = result.output
    if step.uses in GENERATIVE:
        text = render(output).strip()
        if stood_in_for is not None:
            if not capable:  # a small model answering for a tool would be stating facts it cannot know
                return made(Source.FAILED, phrases.failed(part, stood_in_for.error or "", lang))
            return made(Source.STAND_IN, phrases.unchecked(text, stood_in_for.uses, lang), output=output, score=0.3)
        prompt = str(step.with_.get("prompt") or "")
        small_talk = classify(part) == Kind.CONVERSATION
        if small_talk:
            text = next((line.strip() for line in text.splitlines() if line.strip()), "")  # one line is the reply
        # Writing asked for in another language ("翻译成英文") is checked against that language.
        wanted = requested_language(f"{part}\n{prompt}")
        expected: Lang = "en" if wanted == "en" else "zh" if wanted == "zh" else lang
        problems = text_problems(text, expected, prompt, instructions)
        problems += ungrounded(text, Known.of(given))
        if small_talk and small_talk_act(part) != "greeting" and _bare(text) == _bare(part):
            problems.append("repeats the request")  # "最近怎么样？" asked back is no answer ("你好" back is)
        if small_talk and not capable:
            # A small model's small talk passes checks yet misreads the moment ("Thanks!" → "I'm sorry for your
            # loss."): the courtesy reply for the act is what it gets; a capable model's line is used, checked.
            problems.append("small talk is worded by a capable model only")
        if problems and small_talk:
            # A greeting answered in the wrong language or in a loop still deserves a greeting back: the courtesy
            # reply for its act, which states nothing (the model's text and why it failed are in the trace).
            return made(Source.COURTESY, phrases.courtesy(small_talk_act(part), lang), output=output, score=0.6)
        if problems:
            return made(Source.FAILED, phrases.failed(part, phrases.unchecked_text(problems, lang, capable), lang))
        if small_talk:
            # Checked whole, said in one sentence: what a small model adds after it is filler or a loop of itself.
            text = _first_sentence(text)
        return made(Source.GENERATED, text, output=output, score=0.6 if capable else 0.45)
    sentence = _sentence(tool, output, lang)
    expression = step.with_.get("expression")
    if isinstance(expression, str) and isinstance(output, dict) and outputs:
        # Two items of a ranking compared: said as the answer ("A 比 B 多卖了 205 件"), not as a calculation.
        sentence = comparison(expression, output.get("result"), outputs, lang) or sentence
    if step.uses in KNOWLEDGE:
        relevance = _relevance(output)
        if relevance is None:
            return made(Source.FAILED, sentence, output=output)
        return made(Source.KNOWLEDGE, sentence, output=output, score=0.5 + 0.45 * relevance)
    if _PERCENT_ASKED.search(part) and (m := _ENDS_IN_NUMBER.search(sentence)) and "%" not in sentence:
        sentence = phrases.percent(sentence.rstrip("。. "), float(m.group(1).replace(",", "")), lang)
    if stood_in_for is not None:  # another tool doing the same job answered: say so, never pass it off
        sentence = phrases.instead(stood_in_for.uses, step.uses, lang) + sentence
    return made(Source.FACT, sentence, output=output, score=0.95)


# A sentence and its end mark(s); the whole text when it has no end mark.
_FIRST_SENTENCE = re.compile(r"[^.!?。！？]*[.!?。！？]*")


def _first_sentence(line: str) -> str:
    found = _FIRST_SENTENCE.match(line)
    return found.group(0).strip() if found else line


def _bare(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


def _sentence(tool: Tool | None, output: Any, lang: Lang) -> str:
    """The tool's own sentence; else its summary, unless that is only the raw data (then the data in words)."""
    if tool is not None:
        own = tool.answer(output, lang)
        if own:
            return own
        if type(tool).summarize is not Tool.summarize or isinstance(output, str):
            return tool.summarize(output)
    return plain(output)


def plain(value: Any, limit: int = 12) -> str:
    """Data in words, without JSON: ``key: value`` pairs, list items separated by semicolons."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        items = [f"{k}: {plain(v, limit)}" for k, v in list(value.items())[:limit]]
        return ", ".join(items) + (", …" if len(value) > limit else "")
    if isinstance(value, list | tuple):
        items = [plain(v, limit) for v in value[:limit]]
        return "; ".join(items) + ("; …" if len(value) > limit else "")
    return render(value)


def _relevance(output: Any) -> float | None:
    """How sure retrieval was of the passages behind a knowledge answer, or None when it found nothing."""
    hits = output.get("sources") if isinstance(output, dict) else output
    if not hits:
        return None
    if isinstance(output, dict) and isinstance(output.get("relevance"), int | float):
        return float(output["relevance"])
    found = [h.get("relevance", h.get("score")) for h in hits if isinstance(h, dict)]
    scores = [float(s) for s in found if isinstance(s, int | float)]
    return max(0.0, min(1.0, max(scores))) if scores else 0.5
