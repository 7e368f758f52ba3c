"""A request that names what a registered workflow does runs that workflow, not a guess at its parts.

"Ship 2 units of SKU-TEA to customer C-100" against the workflow ``order_to_shipment`` ("Ship a customer's order:
check the customer in the CRM, open the sales order in the ERP, book the shipment...") is that workflow: its inputs
are filled by the same slot fillers as any tool's arguments (a value named next to its input, a unit that fits,
an identifier shaped like the one its description shows), and an input nothing in the request gives is asked for
(the task ends ``needs_input``), never taken from an unrelated number of the sentence. Two workflows that fit
equally well are asked about too.

The match is lexical and deliberately strict (``MIN_SHARED`` content words of the request in the workflow's name
and description, one of them in its name, ahead of every other workflow): a request that only brushes a
workflow's words is planned step by step as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import ClarificationNeeded
from ..plan import Plan, Step
from ..tools.base import Tool, ToolRegistry
from .fill import ArgumentFiller
from .intent import parse_part

WORKFLOW_SOURCE = "workflow"
MIN_SHARED = 2  # content words a request must share with a workflow's name and description, one of its name
STEP_ID = "workflow"
STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "its", "of", "on",
    "or", "our", "please", "the", "their", "then", "this", "to", "with", "my", "me", "we", "you", "your", "do",
    "does", "can", "could", "would", "will", "run", "start", "make", "get", "give",
))
_SUFFIXES = ("ment", "ing", "ed", "s")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]+")
_CJK = re.compile(r"[\u4e00-\u9fff]+")
# A question about the things a workflow acts on ("How many orders...?", "几个订单") is not a request to act.
_QUESTION = re.compile(
    r"[?？]$|^(how|what|which|when|where|who|why|is|are|was|were|does|did)\b|几|多少|吗|什么|哪|是否", re.IGNORECASE)


@dataclass(frozen=True)
class WorkflowMatch:
    tool: Tool
    shared: tuple[str, ...]


def words(text: str) -> set[str]:
    """Content words (lower case, a plural or possessive 's' off) and Chinese character pairs."""
    found = set()
    for w in _WORD.findall(text):
        w = w.lower().removesuffix("'s").strip("-'")
        if len(w) >= 3 and w not in STOPWORDS:
            found.add(_stem(w))
    for run in _CJK.findall(text):
        found.update(run[i:i + 2] for i in range(len(run) - 1))
    return found


def _stem(word: str) -> str:
    """ship, ships, shipped, shipment, shipping -> ship: enough to meet a request's verb in a workflow's noun."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]  # shipp(ed) -> ship
    return word


def match_workflow(request: str, tools: ToolRegistry) -> WorkflowMatch | None:
    """The workflow the request clearly names; :class:`ClarificationNeeded` when two fit equally well. Only a
    request to do something: a question about orders is not an order to ship."""
    if _QUESTION.search(request.strip()):
        return None
    asked = words(request)
    scored: list[tuple[int, str, WorkflowMatch]] = []
    for tool in tools:
        if tool.source != WORKFLOW_SOURCE:
            continue
        name = tool.name.split(".", 1)[-1].replace("_", " ").replace("-", " ")
        shared = asked & words(f"{name} {tool.description}")
        chinese = {w for w in shared if _CJK.match(w)}
        # A name is ASCII: a Chinese request meets the workflow in its description, on two character pairs or more.
        if len(shared) >= MIN_SHARED and (shared & words(name) or len(chinese) >= MIN_SHARED):
            scored.append((len(shared), tool.name, WorkflowMatch(tool, tuple(sorted(shared)))))
    if not scored:
        return None
    scored.sort(key=lambda s: (-s[0], s[1]))
    if len(scored) > 1 and scored[1][0] == scored[0][0]:
        names = [s[1] for s in scored if s[0] == scored[0][0]]
        in_chinese = bool(_CJK.search(request))
        question = (f"请问要运行哪个流程：{'、'.join(names)}？"
                    if in_chinese else f"Which workflow do you mean: {', '.join(names)}?")
        raise ClarificationNeeded(question, missing=["workflow"])
    return scored[0][2]


def workflow_plan(request: str, match: WorkflowMatch, now: Any, default_city: str | None = None,
                  ) -> tuple[Plan, dict[str, Any]]:
    """A one-step plan running the workflow with the inputs the request gives; asks for the ones it does not."""
    tool = match.tool
    part = parse_part(request, 0, "", now)
    from .intent import Intent

    filled = ArgumentFiller(default_city).fill(tool, part, Intent(request=request, parts=[part], now=now), [])
    props = (tool.parameters or {}).get("properties") or {}
    for name in list(filled.args):
        # An input whose description shows an example: two tokens of that shape (two products where one is
        # wanted) leave the rules' pick a guess, so ask; a value not of that shape is not the input's, so the
        # token that is takes its place (or the user is asked).
        others = {v for k, v in filled.args.items() if k != name and isinstance(v, str)}
        shaped = _shaped(str((props.get(name) or {}).get("description") or ""), request) - others
        if len(shaped) > 1 or (shaped and filled.args[name] not in shaped):
            del filled.args[name]
            filled.slots.pop(name, None)
            filled.missing.append(name)
    taken = {v for v in filled.args.values() if isinstance(v, str)}
    for name in list(filled.missing):
        spec = props.get(name) or {}
        if spec.get("type") not in ("string", None):
            continue  # numbers come only from the slot fillers' evidence (a unit, the input's name beside it)
        described = str(spec.get("description") or "")
        found = _after_name(name, described, request, taken) or _shaped_like_example(described, request, taken)
        if found is not None:
            value, why = found
            filled.args[name] = value
            filled.slots[name] = why
            filled.missing.remove(name)
            taken.add(value)
    note: dict[str, Any] = {"workflow": tool.name, "shared_words": list(match.shared), "inputs": filled.slots}
    if filled.missing:
        asked = [f"{n} ({props.get(n, {}).get('description')})" if props.get(n, {}).get("description") else n
                 for n in filled.missing]
        in_chinese = bool(_CJK.search(request))
        question = ((f"要运行 {tool.name}，请提供：" + "；".join(asked)) if in_chinese
                    else f"To run {tool.name}, please tell me: " + "; ".join(asked) + ".")
        raise ClarificationNeeded(question, missing=list(filled.missing))
    step = Step.model_validate({"id": STEP_ID, "uses": tool.name, "with": filled.args})
    return Plan(steps=[step], description=tool.description), note


_TOKEN = r"[A-Za-z0-9][A-Za-z0-9_\-]*"
_EXAMPLE = re.compile(r"\be\.g\.,?\s*([A-Za-z0-9][A-Za-z0-9_\-]*)")


def _after_name(name: str, description: str, request: str, taken: set[str]) -> tuple[str, str] | None:
    """An identifier (it has a digit) written right after a word of the input's name ("event E-7" -> event_id),
    or after a Chinese word of its description ("事件 E-7" when it says 事件编号)."""
    nouns = [w for w in re.split(r"[_\-]", name) if len(w) >= 3 and w not in ("ids", "code", "number")]
    nouns += sorted({run[i:i + 2] for run in _CJK.findall(description) for i in range(len(run) - 1)})
    found = set()
    for noun in nouns:
        for m in re.finditer(rf"\b{re.escape(noun)}s?\b\s*(?:#|:|=|no\.?)?\s*({_TOKEN})", request, re.IGNORECASE):
            value = m.group(1)
            if any(c.isdigit() for c in value) and value not in taken:
                found.add(value)
    return (found.pop(), "identifier written after the input's name") if len(found) == 1 else None


def _shaped(description: str, request: str) -> set[str]:
    """The tokens of the request shaped like the example the input's description gives ("e.g. SKU-TEA" finds
    SKU-KETTLE): its prefix up to a dash, then letters, digits or both as the example has."""
    example = _EXAMPLE.search(description)
    if example is None:
        return set()
    text = example.group(1)
    head, sep, tail = text.partition("-") if "-" in text else text.partition("_")
    if not sep or not tail:
        return set()
    body = r"\d+" if tail.isdigit() else r"[A-Za-z]+" if tail.isalpha() else r"[A-Za-z0-9]+"
    pattern = re.compile(rf"(?<![A-Za-z0-9_\-]){re.escape(head + sep)}{body}(?![A-Za-z0-9_\-])",
                         0 if head.isupper() else re.IGNORECASE)
    return {m.group(0) for m in pattern.finditer(request)}


def _shaped_like_example(description: str, request: str, taken: set[str]) -> tuple[str, str] | None:
    """The one token shaped like the description's example; two are ambiguous: nothing is taken (the user is
    asked)."""
    found = _shaped(description, request) - taken
    return (found.pop(), "shaped like the example in the input's description") if len(found) == 1 else None
