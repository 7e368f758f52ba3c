"""The rule planner: a valid plan from any request without trusting a model to plan.

request -> parts (connectives) -> a tool per part (keywords, bilingual concepts, tool descriptions; semantic
retrieval when an embedder is given) -> arguments (rules from the tool's schema; the model only for short
constrained fills of what rules cannot) -> dependencies (references, order, writing parts that use what came
before) -> validation. A part no tool fits is looked up in the knowledge base when retrieval is confident there,
else written by ``llm.generate`` when it asks for writing (or the model is capable enough to answer), else recorded
as an unsupported part of the plan (an action nobody can carry out, a fact the model would have to invent): see
:mod:`.kinds`. The plan is validated before it is returned; an invalid one is replaced by the one-step plan, with an
event saying so.
"""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import AutoGLMError, ClarificationNeeded, PlanValidationError
from ..events import EventKind
from ..language import reply_language
from ..models.base import ChatRequest
from ..plan import STEP_ID_PATTERN, Plan, Step, argument_problems, plan_problems
from ..tools.base import Tool, ToolRegistry
from ..tools.capabilities import CAPABILITIES
from ..tools.recall import RECALL
from .base import Planner, PlanningContext, Turn, direct_plan, planners
from .budget import FillBudget, fill_tokens
from .carry import carried_steps, keep_read
from .clauses import join_clauses
from .entities import numbers
from .evidence import free_number
from .fill import ArgumentFiller, Filled, Prior, needed_items, reference_expression, slot_kind, value_list
from .followup import answer_to_question, follow_up
from .intent import Intent, Part, parse_intent
from .kinds import (
    SMALL_TALK_SYSTEM,
    SMALL_TALK_TOKENS,
    Kind,
    ask_words,
    asks_about_assistant,
    classify,
    unsupported_record,
)
from .mathwords import asks_result
from .references import compares_ranks, rank_positions
from .select import (
    GENERATE,
    GENERIC_TOOLS,
    MIN_SCORE,
    Candidate,
    ToolIndex,
    date_words,
    fit_entities,
    words_besides_dates,
)
from .slots import text_with_data
from .text import concepts, features, terms
from .workflow_match import match_workflow, workflow_plan

if TYPE_CHECKING:
    from ..config import Settings

KNOWLEDGE_ANSWER = "knowledge.answer"
# A part no tool matches is answered from the knowledge base only when its best passage is at least this relevant
# (memory/kb/base.py: relevance; answerable questions measured 0.35-0.73 — the low end an English question about
# one of three facts in one passage — unanswerable ones at most 0.20).
KNOWLEDGE_RELEVANCE = 0.30
# A question the knowledge base clearly answers (relevance at least this; unrelated questions to tools measured at
# most 0.19 on the sample knowledge base, questions it answers 0.44-0.88) goes to it even when a tool took
# arguments, unless the words match that tool strongly: "工作满五年后年假有几天？" fills time.between with 五年后 on
# the word 几天 alone, and "How many business days does standard delivery take?" fills sales.summary on "many days".
KNOWLEDGE_CLEAR = 0.40
STRONG_WORD_MATCH = 2.5  # lexical score: about two distinctive words of the tool's own (3.0 for "卖得最好的产品")
MODEL_FILL_MARGIN = 1.2
# What only the user can say when the request does not: asked for, never guessed (by rules or by the model).
ASK_USER_KINDS = frozenset({"place", "identifier"})
# Only this many candidates per part are tried before the part goes to the model.
TRIES_PER_PART = 3
MODEL_FILL_KINDS = frozenset({"string", "number", "text", "enum", "file", "url", "date", "start", "end", "other",
                              "boolean"})


@dataclass
class Drafted:
    """A step of the plan being built and the part it answers."""

    step: Step
    part: Part | None
    tool: Tool | None


@dataclass
class RuleOutcome:
    plan: Plan
    intent: Intent
    explanation: list[dict[str, Any]] = field(default_factory=list)


# The threads tool ranking runs in (one embeds at a time; the others wait for its batch or share the next).
RANKING = ThreadPoolExecutor(max_workers=4, thread_name_prefix="autoglm-rank")


def planning_embedder(settings: Settings) -> Any:
    """The project's embedder for tool retrieval, or None (keyword rules alone) when it cannot be built."""
    from ..embeddings import make_embedder

    config = settings.embeddings
    if config.provider == "static":
        # Static vectors are for bulk ingestion; tool retrieval embeds a few short texts, and its weights were
        # chosen on e5's similarities, so it keeps the model.
        config = config.model_copy(update={"provider": "local"})
    try:
        return make_embedder(config)
    except AutoGLMError:
        return None


def _names_another_day(part: Part, ctx: PlanningContext) -> bool:
    """Whether the part names a date other than today (今天 is what a clock tool answers for)."""
    today = ctx.now.date()
    return any(not (d.period.start == d.period.end == today) for d in part.dates)


def _step_id(tool_name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", tool_name.split(".")[-1]) or "step"
    if not re.match(STEP_ID_PATTERN, base) or base == "inputs":
        base = f"s_{base}"
    base = base[:40]
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def ask_for(kinds: list[str], request: str, names: list[str] | None = None) -> str:
    """The question for the user: which city, which date, or the arguments named."""
    chinese = bool(re.search(r"[\u4e00-\u9fff]", request))
    if "place" in kinds:
        return "请问是哪个城市？" if chinese else "Which city do you mean?"
    if names:
        return ("请提供：" if chinese else "Please tell me the ") + ", ".join(names) + ("" if chinese else ".")
    if any(k in kinds for k in ("date", "start", "end")):
        return "请问是哪一天（或哪段时间）？" if chinese else "For which date (or period)?"
    return ("请补充：" if chinese else "Please tell me: ") + ", ".join(kinds)


def _matched_only_time_words(candidate: Candidate) -> bool:
    """Whether every word the candidate matched is a word of time (day, 明天, 星期): what any dated request shares
    with any tool that takes a date, not what it asks."""
    words = [m.split("~")[0] for m in candidate.matched if not m.startswith("<")]
    return bool(words) and all(concepts(terms(w)) == {"date"} for w in words)


def _in_domain(tool: Tool, named: set[str]) -> bool:
    """Whether the request names the tool's domain (:attr:`Tool.domain`), when it has one."""
    return not tool.domain or bool(tool.domain & named)


@planners.register("rules")
class RulePlanner(Planner):
    """Plans by rules; uses the model (when there is one) only to fill arguments rules cannot."""

    name = "rules"

    def __init__(self, embedder: Any = None, model_fill: bool = True, min_score: float = MIN_SCORE,
                 max_steps: int = 8, fill_tokens: int = 96, fill_seconds: float = 1.5) -> None:
        self.embedder = embedder
        self.model_fill = model_fill
        self.min_score = min_score
        self.max_steps = max_steps
        self.fill_tokens = fill_tokens  # the most one fill may generate; less when its slots need less
        self.fill_seconds = fill_seconds  # what all model fills of one request may take together
        self._indexes: dict[int, tuple[tuple[str, ...], ToolIndex]] = {}
        self._vectors: dict[str, list[float]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> RulePlanner:
        return cls(embedder=planning_embedder(settings))

    def index(self, tools: ToolRegistry) -> ToolIndex:
        names = tuple(tools.names())
        cached = self._indexes.get(id(tools))
        if cached is None or cached[0] != names:
            cached = (names, ToolIndex(tools, embedder=self.embedder, vector_cache=self._vectors))
            if len(self._indexes) > 64:
                self._indexes.clear()
            self._indexes[id(tools)] = cached
        return cached[1]

    async def plan(self, request: str, ctx: PlanningContext) -> Plan:
        # The answer to a question this session asked completes the request that raised it.
        if (merged := answer_to_question(request, ctx.history)) is not None:
            ctx.emit(EventKind.CLARIFICATION, answered=request, request=merged)
            request = merged
        elif (reused := follow_up(request, ctx.history, ctx.now)) is not None:
            plan, note = reused
            problems = plan_problems(plan, ctx.tools.schemas())
            if not problems:
                ctx.emit(EventKind.INTENT, follow_up=True, **note)
                ctx.explanation[:] = [{"follow_up": note}]
                return plan
            ctx.emit(EventKind.PLAN_INVALID, planner=self.name, problems=problems, follow_up=True)
        if (match := match_workflow(request, ctx.tools)) is not None:
            # The request names what a registered workflow does: run it, its inputs from the request or asked.
            plan, note = workflow_plan(request, match, ctx.now, ctx.default_city)
            ctx.emit(EventKind.INTENT, request=request, parts=[note])
            ctx.explanation[:] = [note]
            return plan
        outcome = await self.build(request, ctx)
        return outcome.plan

    async def build(self, request: str, ctx: PlanningContext, exclude: tuple[str, ...] = ()) -> RuleOutcome:
        intent = parse_intent(request, ctx.now)
        index = self.index(ctx.tools)
        filler = ArgumentFiller(ctx.default_city)
        intent = self._join_clauses(intent, index, filler, ctx, exclude)
        intent = split_rank_comparisons(intent)
        ctx.emit(EventKind.INTENT, **intent.describe())
        drafted: list[Drafted] = []
        explanation: list[dict[str, Any]] = []
        # A follow-up that opens with "它"/"it" reads the previous turn's data (planning/carry.py).
        carried = carried_steps(ctx.history, ctx.tools) if intent.parts and intent.parts[0].refers_back else []
        taken: set[str] = {c.step.id for c in carried}
        by_part: dict[int, list[Drafted]] = {}
        clarify: dict[str, str] = {}  # argument -> kind, for the question to the user
        unsupported: list[dict[str, str]] = []
        has_generate = GENERATE in ctx.tools
        budget = FillBudget(self.fill_seconds)
        if has_generate and len(intent.parts) > self.max_steps:
            # Every part becomes at least one step, so this plan would end as the one-step plan anyway: say so
            # now rather than after ranking and filling every part (minutes on a long pasted text).
            ctx.emit(EventKind.PLAN_FALLBACK, planner=self.name,
                     reason=f"{len(intent.parts)} parts: more than {self.max_steps} steps")
            ctx.explanation[:] = []
            return RuleOutcome(direct_plan(request), intent, [])

        for part in intent.parts:
            needs = max((needed_items(p) or 0 for p in intent.parts[part.index + 1:] if p.refers_back), default=0)
            priors = [c.prior for c in carried] if part.index == 0 else self._priors(part, by_part, intent)
            note: dict[str, Any] = {"part": part.text}
            if part.connective:
                note["connective"] = part.connective
            kind = classify(part.text)
            # What the part asks is matched, not the material it hands over: a translation's text is no request.
            matched_part, context = part, date_words(part)
            if kind == Kind.TRANSLATION:
                # The languages are the translation's arguments: with the verb they fit a translating tool, alone
                # they fit any tool that answers "in Chinese and English".
                verb, context = ask_words(part.text)
                matched_part = replace(part, text=f"{verb} {context}", dates=[], numbers=[], places=[], quoted=[],
                                       urls=[], files=[], arithmetic=None)
            # Ranking embeds the text (CPU-bound): in a thread, so the gateway's event loop keeps answering; threads
            # of its own, so that requests waiting for the embedder do not hold the loop's default pool, where
            # every store read and write of every task goes.
            ranked = fit_entities(await asyncio.get_running_loop().run_in_executor(
                RANKING, index.rank, words_besides_dates(matched_part), exclude, context), matched_part, ctx.tools)
            candidates = [c for c in ranked if c.score >= self.min_score]
            if kind == Kind.TRANSLATION:
                # Only a tool that says it translates does it; "translate" is also a weak writing word many share.
                candidates = [c for c in candidates if index.offers(c.tool, "translate")]
            named = {f[1:] for f in features(part.text) if f.startswith("@")}  # the concept groups it names
            candidates = [c for c in candidates if _in_domain(ctx.tools.get(c.tool), named)]
            if asks_about_assistant(part.text) and CAPABILITIES in ctx.tools:
                # Asked of the assistant itself: the tools it has answer, however few words the phrasing shares.
                candidates = [Candidate(CAPABILITIES, self.min_score, 0.0, None, ["<about the assistant>"]),
                              *[c for c in candidates if c.tool != CAPABILITIES]]
            else:
                candidates = [c for c in candidates if c.tool != CAPABILITIES]  # 这个手表有什么功能: not about me
            if part.ranks:
                # A summary grouped by region is not a ranking: its first item is not the first rank.
                candidates = [c for c in candidates if _takes_count(ctx.tools.get(c.tool))] or candidates
            last_clause = re.split(r"[，,。.]", part.text.strip(" ?？"))[-1]
            if kind == Kind.ACTION and part.arithmetic and asks_result(last_clause):
                # "我有 500 元，买了一件 180 元的衣服，还剩多少钱？" tells of a purchase to ask a sum: a question.
                kind = Kind.QUESTION
            if kind == Kind.ACTION:
                # A built-in tool only reads: it cannot do an action, however many words ("明天", "上海") it shares.
                candidates = [c for c in candidates if ctx.tools.get(c.tool).source != "builtin"
                              or acts(ctx.tools.get(c.tool))]
            note["candidates"] = [c.describe() for c in ranked[:4]]
            chosen: tuple[Candidate, Filled] | None = None
            for cand in self._tries(candidates, part, priors, ctx.tools):
                tool = ctx.tools.get(cand.tool)
                filled = filler.fill(tool, part, intent, priors, needs or None)
                if filled.missing and cand.score >= self.min_score * MODEL_FILL_MARGIN:
                    # Only a clear match earns a model fill: arguments the rules found are themselves evidence
                    # that the tool fits; arguments the model invents are not.
                    await self._model_fill(tool, part, filled, ctx, budget)
                if kind == Kind.QUESTION and not filled.args and _names_another_day(part, ctx):
                    # "What weekday was 2026-02-14?" asks about that day: a tool that reads nothing of the request
                    # (time.now, on the word "weekday") would answer for today.
                    note.setdefault("rejected", []).append({"tool": cand.tool, "missing": ["the date the part names"]})
                    continue
                if part.arithmetic and not _takes_numbers(tool, filled, part):
                    # "原价 6000 元，现在打八五折，要付多少钱" is arithmetic, not a question for time.now (on 现在): a
                    # tool that takes none of the numbers the arithmetic reads does not answer it.
                    note.setdefault("rejected", []).append({"tool": cand.tool, "missing": ["the part's numbers"]})
                    continue
                if not filled.missing:
                    chosen = (cand, filled)
                    break
                kinds = set(filled.missing_kinds.values())
                if kinds == {"place"} and _matched_only_time_words(cand):
                    # "how many days of annual leave do employees get?" shares only "days" with the forecast: a
                    # tool matched on time words alone is no reason to ask the user for a city.
                    note.setdefault("rejected", []).append({"tool": cand.tool, "missing": filled.missing})
                    continue
                if kinds == {"place"} or (kinds <= ASK_USER_KINDS and cand.score >= self.min_score * MODEL_FILL_MARGIN
                                          and all(d.step.uses != cand.tool for d in drafted)):
                    # The right tool, short of something only the user knows (a place, an identifier): ask, rather
                    # than take a value the request did not give for it. A part that comes back to a tool already
                    # planned ("..., and don't return the full text") adds to that step; it asks nothing.
                    chosen = (cand, filled)
                    clarify.update(filled.missing_kinds.items())
                    break
                note.setdefault("rejected", []).append({"tool": cand.tool, "missing": filled.missing})
            steps_here: list[Drafted] = []
            weak = chosen is not None and chosen[0].lexical < STRONG_WORD_MATCH
            if chosen is not None and kind == Kind.QUESTION and (not chosen[1].args or weak):
                # A tool that takes nothing from the question ("笔记本丢了要在多长时间内报告" -> time.now, on the word
                # 时间) matched on words alone. When the knowledge base clearly holds the answer, the question is
                # about the organisation's own facts, and the passage is better evidence than a shared word. A tool
                # that took arguments on a weak match yields only to a passage that is clearly relevant.
                floor = KNOWLEDGE_RELEVANCE if not chosen[1].args else KNOWLEDGE_CLEAR
                steps_here = await self._from_knowledge(part, ctx, taken, floor)
                if steps_here:
                    why = (f"{chosen[0].tool} takes nothing from the question" if not chosen[1].args else
                           f"{chosen[0].tool} matched on a few shared words")
                    note.update(chosen=KNOWLEDGE_ANSWER, step=steps_here[0].step.id,
                                why=f"{why}; the knowledge base knows")
                    chosen = None
            if chosen is not None:
                cand, filled = chosen
                tool = ctx.tools.get(cand.tool)
                fills = [filled]
                place_args = [a for a, r in filled.slots.items() if r == "place named in the request"]
                number_args = [a for a, r in filled.slots.items() if "number" in r and a in filled.args]
                listed = self._listed(tool, part, filled)
                if listed is not None:
                    # "songs by Taylor Swift and Maroon 5 for 20 and 15 minutes": one call per listed value.
                    slot, values = listed
                    k = len(number_args)
                    # A number inside a listed value ("Maroon 5") is part of the name, not a quantity.
                    quantities = [n for n in part.numbers
                                  if not any(re.search(rf"\b{re.escape(n.text)}\b", v) for v in values)]
                    per_value = ([quantities[i:i + k] for i in range(0, len(quantities), k)]
                                 if k and len(quantities) == k * len(values) else [])
                    fills = []
                    for i, value in enumerate(values[: self.max_steps]):
                        one = filler.fill(tool, replace(part, numbers=per_value[i]), intent, priors, needs or None) \
                            if per_value else filled.copy()
                        one.args[slot] = value
                        one.slots[slot] = "one of several values listed for the parameter"
                        one.fillers[slot] = "value list"
                        fills.append(one)
                    if any(f.missing for f in fills):
                        fills = [filled]
                elif place_args and len(part.places) > len(place_args) and len(part.places) % len(place_args) == 0:
                    # "上海和北京的天气": the same call for each place (or group of places: "from A to B"), in
                    # parallel.
                    k = len(place_args)
                    place_groups = [part.places[i:i + k] for i in range(0, len(part.places), k)][: self.max_steps]
                    fills = [filler.fill(tool, replace(part, places=g), intent, priors, needs or None)
                             for g in place_groups]
                    if any(f.missing for f in fills):
                        fills = [filled]
                elif number_args and not part.arithmetic and len(part.numbers) > len(number_args) and (
                        len(part.numbers) % len(number_args) == 0):
                    # "factorial of 5, 10 and 15", "sides 3 and 4, 5 and 12": one call per group of numbers.
                    k = len(number_args)
                    groups = [part.numbers[i:i + k] for i in range(0, len(part.numbers), k)][: self.max_steps]
                    fills = [filler.fill(tool, replace(part, numbers=g), intent, priors, needs or None)
                             for g in groups]
                    if any(f.missing for f in fills):
                        fills = [filled]
                for one in fills:
                    step = Step(id=_step_id(tool.name, taken), uses=tool.name, with_=one.args,
                                depends_on=self._order(part, by_part, one, tool), description=part.text)
                    steps_here.append(Drafted(step, part, tool))
                note.update(chosen=tool.name, step=step.id, score=round(cand.score, 3), matched=cand.matched,
                            slots=filled.slots, fillers=filled.fillers, args=filled.args)
                if filled.missing:
                    note["missing"] = filled.missing
                if part.writes and has_generate and not tool.writes and kind != Kind.TRANSLATION:
                    # "提醒我明天带伞": fetch the data, then write with it.
                    data = "\n".join(f"${{{d.step.id}.output}}" for d in steps_here)
                    write = Step(id=_step_id(GENERATE, taken), uses=GENERATE,
                                 with_={"prompt": f"{part.text}\n{data}"})  # the tool fences the data
                    steps_here.append(Drafted(write, part, ctx.tools.get(GENERATE)))
                    note["then"] = {"step": write.id, "uses": GENERATE, "why": "the part asks for writing"}
            elif not steps_here:
                why = "no tool fits this part" if not candidates else "no tool could be filled"
                steps_here, record = await self._unmatched(part, kind, intent, priors, ctx, taken, request)
                if record is not None:
                    if record not in unsupported:  # the two parts of one clause (split_rank_comparisons) say it once
                        unsupported.append(record)
                    note.update(unsupported=record, why=why)
                else:
                    note.update(chosen=steps_here[0].step.uses, step=steps_here[0].step.id, why=why)
            by_part[part.index] = steps_here
            drafted.extend(steps_here)
            explanation.append(note)

        if kept := keep_read(carried, [d.step for d in drafted]):
            recall = ctx.tools.get(RECALL)
            drafted = [Drafted(c.step, None, recall) for c in kept] + drafted
            explanation.insert(0, {"carried": [c.step.with_ for c in kept]})
            ctx.emit(EventKind.INTENT, follow_up=True, carried=[c.step.with_ for c in kept])
        if clarify:
            asked = sorted(set(clarify.values()))
            question = ask_for(asked, request, [a for a, k in clarify.items() if k not in ("place", "date")])
            ctx.explanation[:] = explanation
            missing = ["city"] if "place" in asked else []
            raise ClarificationNeeded(question, missing=missing + [a for a, k in clarify.items() if k != "place"])
        if (not drafted and not unsupported) or len(drafted) > self.max_steps:
            ctx.emit(EventKind.PLAN_FALLBACK, planner=self.name,
                     reason="nothing to plan" if not drafted else f"more than {self.max_steps} steps")
            plan = direct_plan(request)
        else:
            plan = Plan.model_validate({"steps": [d.step for d in drafted], "unsupported": unsupported})
            problems = plan_problems(plan, ctx.tools.schemas())
            if problems:
                ctx.emit(EventKind.PLAN_INVALID, planner=self.name, problems=problems, plan=plan.dump())
                ctx.emit(EventKind.PLAN_FALLBACK, planner=self.name, reason="rule plan invalid", to="direct")
                plan = direct_plan(request)
        ctx.explanation[:] = explanation
        return RuleOutcome(plan, intent, explanation)

    async def _unmatched(self, part: Part, kind: Kind, intent: Intent, priors: list[Prior], ctx: PlanningContext,
                         taken: set[str], request: str) -> tuple[list[Drafted], dict[str, str] | None]:
        """A part no tool fits: the knowledge base if it knows, the model if the part asks for writing (or the
        model is capable of answering), else an unsupported part: the steps, or the record of why not."""
        if kind == Kind.QUESTION and (known := await self._from_knowledge(part, ctx, taken)):
            return known, None
        capable = bool(getattr(ctx.model, "can_plan", False))
        # The embedded model may write and chat; answering a question or translating needs a capable one.
        writes = kind in (Kind.WRITING, Kind.CONVERSATION) or (kind in (Kind.QUESTION, Kind.TRANSLATION) and capable)
        if not writes or GENERATE not in ctx.tools:
            return [], unsupported_record(part.text, kind)
        uses_priors = list(priors) if (part.refers_back or part.writes or part.sequential) else []
        prompt = text_with_data(part, uses_priors)[0] if uses_priors else part.text
        if len(intent.parts) == 1 and not uses_priors:
            prompt = request
        args: dict[str, Any] = {"prompt": prompt}
        if kind == Kind.CONVERSATION and not uses_priors:
            # Small talk: one short friendly line in the request's language, nothing to state.
            args |= {"system": SMALL_TALK_SYSTEM[reply_language(request)], "max_tokens": SMALL_TALK_TOKENS}
        step = Step(id=_step_id(GENERATE, taken), uses=GENERATE, with_=args, description=part.text)
        return [Drafted(step, part, ctx.tools.get(GENERATE))], None

    @staticmethod
    async def _from_knowledge(part: Part, ctx: PlanningContext, taken: set[str],
                              floor: float = KNOWLEDGE_RELEVANCE) -> list[Drafted]:
        """A knowledge.answer step for ``part`` when the knowledge base's best passage is at least ``floor``
        relevant."""
        if ctx.knowledge is None or KNOWLEDGE_ANSWER not in ctx.tools:
            return []
        relevance = await ctx.knowledge(part.text)
        ctx.emit(EventKind.INTENT, part=part.text, knowledge_relevance=relevance)
        if relevance is None or relevance < floor:
            return []
        step = Step(id=_step_id(KNOWLEDGE_ANSWER, taken), uses=KNOWLEDGE_ANSWER, with_={"question": part.text},
                    description=part.text)
        return [Drafted(step, part, ctx.tools.get(KNOWLEDGE_ANSWER))]

    async def replan(self, request: str, plan: Plan, results: Any, ctx: PlanningContext) -> Plan | None:
        from .replan import replan

        return await replan(request, plan, results, ctx, index=self.index(ctx.tools))

    @staticmethod
    def _tries(candidates: list[Candidate], part: Part, priors: list[Prior], tools: ToolRegistry) -> list[Candidate]:
        """The candidates whose arguments are tried: the best few, and for a computation over earlier results
        ("how many more units did it sell than the second one?") also a tool that takes an arithmetic expression,
        however the words ranked it: the data tools the words match best would only fetch the data again."""
        tries = candidates[:TRIES_PER_PART]
        computing = [c for c in candidates if any(
            slot_kind(name, spec if isinstance(spec, dict) else {}) == "expression"
            for name, spec in ((tools.get(c.tool).parameters or {}).get("properties") or {}).items())]
        if part.arithmetic:
            # Arithmetic the rules read in the words ("86 dollars, add a 15% tip"): when the tools the words
            # match best cannot take it, a calculator can.
            tries += [c for c in computing if c not in tries]
        if part.computes and part.refers_back and priors:
            if any(reference_expression(part, p) for p in priors):
                # The earlier results hold what is asked ("what share of the week's revenue was it"): compute it
                # from them before trying any tool that would fetch it anew.
                return computing + [c for c in tries if c not in computing]
            tries += [c for c in computing if c not in tries]
        return tries

    def _join_clauses(self, intent: Intent, index: ToolIndex, filler: ArgumentFiller, ctx: PlanningContext,
                      exclude: tuple[str, ...]) -> Intent:
        """Comma-separated clauses that together fill one tool become one part (see :mod:`.clauses`)."""
        if len(intent.parts) < 2:
            return intent

        def fitting(part: Part) -> list[str]:
            ranked = fit_entities(index.rank(part.text, exclude, date_words(part)), part, ctx.tools)
            return [c.tool for c in ranked if c.score >= self.min_score]

        def fills(name: str, part: Part) -> bool:
            return not filler.fill(ctx.tools.get(name), part, intent, []).missing

        return join_clauses(intent, fitting, fills)

    def _priors(self, part: Part, by_part: dict[int, list[Drafted]], intent: Intent) -> list[Prior]:
        """The earlier steps a part may read: those of the nearest earlier part that produced any."""
        if part.index == 0:
            return []
        if part.independent and not part.refers_back:
            return []
        for i in range(part.index - 1, -1, -1):
            steps = by_part.get(i) or []
            if steps:
                # A part that fetched and then wrote offers the written text last; the data step stays readable.
                return [Prior(d.step.id, d.tool, d.part) for d in steps if d.tool is not None]
        return []

    @staticmethod
    def _listed(tool: Tool, part: Part, filled: Filled) -> tuple[str, list[str]] | None:
        """The one string parameter the part lists several values for, when its fill took one of them."""
        props = (tool.parameters or {}).get("properties") or {}
        found = []
        for name, value in filled.args.items():
            spec = props.get(name) or {}
            if spec.get("type") not in (None, "string") or not isinstance(value, str):
                continue
            values = value_list(name, part.text)
            if value in values:
                found.append((name, values))
        return found[0] if len(found) == 1 else None

    def _order(self, part: Part, by_part: dict[int, list[Drafted]], filled: Filled, tool: Tool | None = None
               ) -> list[str]:
        """Ordering without data: "然后"/"then" with nothing referenced still means after the previous part; and
        actions that change the world ("book a flight, make a call and order a taxi") happen in the order the
        user listed them, so that one failing or being denied does not leave the later ones done regardless."""
        if filled.references or part.index == 0:
            return []
        previous = by_part.get(part.index - 1) or []
        if part.sequential:
            return [previous[-1].step.id] if previous else []
        if part.independent or tool is None or not acts(tool):
            return []
        return [d.step.id for d in previous if d.tool is not None and acts(d.tool)]

    async def _model_fill(self, tool: Tool, part: Part, filled: Filled, ctx: PlanningContext,
                          budget: FillBudget | None = None) -> None:
        """Ask the model for the arguments rules could not fill, one tool schema at a time, constrained, within
        the request's fill budget (planning/budget.py)."""
        model = ctx.model
        if not self.model_fill or model is None or not getattr(model, "supports_json_schema", False):
            return
        kinds = filled.missing_kinds
        if not filled.missing or any(k not in MODEL_FILL_KINDS for k in kinds.values()) or "place" in kinds.values():
            return
        budget = budget or FillBudget(self.fill_seconds)
        required = set((tool.parameters or {}).get("required") or [])
        refusal = budget.refusal(tool.name, part.text)
        if refusal is None and len(required) >= 2 and required <= set(filled.missing):
            # Not one of several arguments is in the request by rules: the match is words alone, and a fill
            # (seconds of a small model) would invent the values rather than find them.
            refusal = "rules found none of the tool's required arguments in the request"
        if refusal is not None:
            ctx.emit(EventKind.BUDGET_CUT, stage="argument fill", tool=tool.name, missing=list(filled.missing),
                     reason=refusal)
            return
        props = (tool.parameters or {}).get("properties") or {}
        wanted = {name: _plain_schema(props.get(name) or {}) for name in filled.missing}
        schema = {"type": "object", "properties": wanted, "required": list(wanted), "additionalProperties": False}
        max_tokens = fill_tokens({n: kinds.get(n, "other") for n in wanted}, props, self.fill_tokens)
        prompt = (f"Request: {part.text}\nTool: {tool.name}: {tool.description}\n"
                  f"Fill the arguments {', '.join(wanted)} with values taken from the request.")
        request = ChatRequest.of(prompt, system="You extract tool arguments from a request. Answer with JSON only.",
                                 max_tokens=max_tokens, json_schema=schema, temperature=0.0)
        allowed = budget.left()
        try:
            async with asyncio.timeout(allowed):  # cancelling stops the embedded model at its next token
                response = await model.complete(request)
            values = json.loads(response.text)
        except TimeoutError:
            budget.failed.add((tool.name, part.text))
            ctx.emit(EventKind.BUDGET_CUT, stage="argument fill", tool=tool.name, missing=list(filled.missing),
                     reason=f"stopped after {allowed:.2f}s: the planning budget of {budget.seconds:g}s for model "
                            "fills ran out", max_tokens=max_tokens)
            return
        except (AutoGLMError, ValueError) as exc:
            # Deterministic at temperature 0: the same ask would fail the same way, so it is not asked again.
            budget.failed.add((tool.name, part.text))
            ctx.emit(EventKind.ERROR, stage="argument fill", tool=tool.name, error=str(exc))
            return
        if not isinstance(values, dict):
            return
        ctx.emit(EventKind.MODEL_COMPLETION, stage="argument fill", tool=tool.name, text=response.text,
                 prompt_tokens=response.prompt_tokens, completion_tokens=response.completion_tokens)
        for name in list(filled.missing):
            if name not in values:
                continue
            candidate = {name: values[name]}
            if argument_problems(candidate, {"type": "object", "properties": {name: props.get(name) or {}}}):
                continue
            if isinstance(values[name], str) and not values[name].strip():
                continue
            if not grounded(values[name], part.text):
                # A small model invents plausible values ("100", "New York"); only what the request says counts.
                filled.slots[f"{name} (rejected)"] = f"model value {values[name]!r} is not in the request"
                continue
            if not free_number(values[name], part, filled.args.values()):
                # "an order of 2 units ... ship it": the 2 is the quantity's, never an order id or another count.
                filled.slots[f"{name} (rejected)"] = f"model value {values[name]!r} is a number said for something else"
                continue
            filled.args[name] = values[name]
            filled.slots[name] = f"model fill ({slot_kind(name, props.get(name) or {})})"
            filled.fillers[name] = "model"
            filled.missing.remove(name)
            filled.missing_kinds.pop(name, None)


# The first word of a tool's description that says the tool changes something outside the plan: books, buys,
# sends, pays. A tool that declares ``side_effects`` acts whatever its description says.
ACTION_VERBS = frozenset({
    "book", "books", "buy", "buys", "purchase", "sell", "sells", "send", "sends", "pay", "pays", "order", "orders",
    "share", "shares", "post", "posts", "publish", "apply", "applies", "enroll", "enrolls", "register", "deliver",
    "delivers", "transfer", "transfers", "make", "makes", "place", "places", "play", "plays", "set", "sets", "take",
    "takes", "record", "records", "print", "prints", "borrow", "borrows", "organize", "organise", "organizes",
    "attend", "attends", "consult", "see", "let", "manage", "manages", "install", "delete", "deletes", "remove",
    "removes", "cancel", "cancels", "reserve", "reserves", "rent", "rents", "schedule", "schedules", "submit",
    "submits", "call", "calls", "do", "does", "drive", "write", "writes", "save", "saves", "upload", "uploads",
    "create", "creates", "update", "updates", "move", "moves", "start", "starts", "stop", "stops",
    "订", "预订", "预定", "购买", "买", "卖", "出售", "发送", "发", "支付", "付款", "转账", "下单", "分享", "发布",
    "申请", "报名", "预约", "安排", "删除", "创建", "保存", "上传", "播放", "设置", "打电话", "拨打", "取消"})


def acts(tool: Tool) -> bool:
    """Whether a tool changes the world (declared, or read off the verb its description starts with)."""
    if tool.side_effects:
        return True
    if tool.name in GENERIC_TOOLS:
        return False
    desc = (tool.description or "").strip()
    first = re.match(r"[A-Za-z]+", desc)
    if first:
        return first.group(0).lower() in ACTION_VERBS
    return any(desc.startswith(v) for v in ACTION_VERBS if not v.isascii())


def split_rank_comparisons(intent: Intent) -> Intent:
    """A clause that compares two ranks of one ranking ("上个月销量第一的产品比第二名多卖了多少件") becomes the two
    parts it says at once: the ranking, then the computation over its output (as if it read "…, and how many more
    did it sell than the second?"), which the reference machinery turns into arithmetic (:mod:`.references`)."""
    if not any(compares_ranks(p) for p in intent.parts):
        return intent
    parts: list[Part] = []
    for part in intent.parts:
        if compares_ranks(part) and parts and rank_positions(parts[-1]):
            # "Which region ranked first? How many times more did the first sell than the fourth?": the ranking
            # is the part before; this one computes over it.
            parts.append(replace(part, refers_back=True))
        elif compares_ranks(part):
            # The ranking must hold every rank compared: as many items as the lowest rank named.
            needed = max(rank_positions(part)) + 1
            parts.append(replace(part, computes=False, arithmetic=None, top_n=max(part.top_n or 0, needed), ranks=True))
            parts.append(replace(part, connective="then", refers_back=True))
        else:
            parts.append(part)
    return replace(intent, parts=[replace(p, index=i) for i, p in enumerate(parts)])


def _takes_count(tool: Tool) -> bool:
    """Whether a tool takes how many items to return (``limit``, ``top_n``): it returns a ranked list."""
    props = (tool.parameters or {}).get("properties") or {}
    return any(slot_kind(name, spec if isinstance(spec, dict) else {}) == "count" for name, spec in props.items())


def _takes_numbers(tool: Tool, filled: Filled, part: Part) -> bool:
    """Whether a tool's arguments take the part's numbers: an expression, or a numeric argument the part says."""
    props = (tool.parameters or {}).get("properties") or {}
    if any(slot_kind(name, spec if isinstance(spec, dict) else {}) == "expression" for name, spec in props.items()):
        return True
    said = {n.value for n in part.numbers}
    return not said or any(isinstance(v, int | float) and not isinstance(v, bool) and float(v) in said
                           for v in filled.args.values())


def grounded(value: Any, text: str) -> bool:
    """Whether a value a model extracted is found in the request: numbers among its numbers, text among its
    words. Booleans and enum choices carry no invented content and pass."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        written = {n.value for n in numbers(text)}
        return float(value) in written
    if isinstance(value, str):
        low = text.lower()
        if value.lower() in low:
            return True
        words = [w for w in re.findall(r"\w+", value.lower()) if len(w) > 1]
        return bool(words) and sum(w in low for w in words) / len(words) >= 0.6
    if isinstance(value, list):
        return all(grounded(v, text) for v in value)
    return False


def _plain_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """A property schema a grammar can follow: the type, enum and item type; descriptions dropped."""
    out: dict[str, Any] = {}
    for key in ("type", "enum", "items", "minimum", "maximum"):
        if key in spec:
            out[key] = spec[key]
    if "type" not in out and "enum" not in out:
        out["type"] = "string"
    return out


def plan_problems_or_none(plan: Plan, tools: ToolRegistry) -> list[str]:
    try:
        return plan_problems(plan, tools.schemas())
    except PlanValidationError as exc:
        return exc.problems


__all__ = ["GENERATE", "GENERIC_TOOLS", "RuleOutcome", "RulePlanner", "Turn", "acts", "ask_for", "fit_entities"]
