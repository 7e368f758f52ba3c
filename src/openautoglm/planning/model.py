"""The model planner: a capable model writes the whole plan, under a JSON schema built from the registered tools.

Its output is never trusted: each plan is parsed and validated; the validation errors go back to the model for a
bounded number of repairs; after that the rule planner (always valid) takes over. Every invalid plan, repair and
fallback is an event in the trace.
"""

from __future__ import annotations

import asyncio
import re
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from ..errors import AutoGLMError, PlanValidationError
from ..events import EventKind
from ..models.base import ChatRequest, Message
from ..plan import STEP_ID_PATTERN, Plan, parse_plan, plan_problems, render
from ..tools.base import ToolRegistry
from ..tools.llm import DATA_NOTICE, fence_data
from .asked import asked_for, unasked
from .base import Planner, PlanningContext, planners
from .rules import RulePlanner
from .select import ToolIndex

if TYPE_CHECKING:
    from ..config import Settings

PROMPTS = files("openautoglm.planning") / "prompts"
PLANNING = "planning"  # the capability planning calls ask the router for
REFERENCE_PATTERN = r"^[$][{][^}]+[}]$"  # no backslash escapes: llama.cpp's schema-to-grammar rejects them
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.M)


def _with_references(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's argument schema in which any argument may instead be a whole ``${step.output...}`` reference."""
    props = schema.get("properties") or {}
    out: dict[str, Any] = {"type": "object", "properties": {}}
    for name, spec in props.items():
        spec = spec if isinstance(spec, dict) else {}
        if spec.get("type") == "string":
            out["properties"][name] = spec
        else:
            out["properties"][name] = {"anyOf": [spec, {"type": "string", "pattern": REFERENCE_PATTERN}]}
    if schema.get("required"):
        out["required"] = list(schema["required"])
    out["additionalProperties"] = False
    return out


# Parts nothing listed can do: recorded in the plan, no step runs for them, and the answer says so.
UNSUPPORTED_SCHEMA: dict[str, Any] = {"type": "array", "maxItems": 8, "items": {
    "type": "object", "properties": {"text": {"type": "string", "minLength": 1}, "reason": {"type": "string"},
                                     "needs": {"type": "string"}},
    "required": ["text", "reason", "needs"], "additionalProperties": False}}


def plan_schema(tools: ToolRegistry, max_steps: int = 8) -> dict[str, Any]:
    """The JSON schema of a plan over these tools: tool names as an enum, each tool's argument schema."""
    variants = []
    for tool in tools:
        variants.append({
            "type": "object",
            "properties": {
                "id": {"type": "string", "pattern": STEP_ID_PATTERN, "maxLength": 64},
                "uses": {"type": "string", "enum": [tool.name]},
                "with": _with_references(tool.parameters or {}),
                "depends_on": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["id", "uses", "with"],
            "additionalProperties": False,
        })
    return {
        "type": "object",
        "properties": {"steps": {"type": "array", "maxItems": max_steps,
                                 "items": {"anyOf": variants} if len(variants) > 1 else variants[0]},
                       "unsupported": UNSUPPORTED_SCHEMA},
        "required": ["steps"],
        "additionalProperties": False,
    }


def describe_tools(tools: ToolRegistry) -> str:
    lines = []
    for tool in tools:
        props = (tool.parameters or {}).get("properties") or {}
        required = set((tool.parameters or {}).get("required") or [])
        args = ", ".join(f"{k}{'' if k in required else '?'}: {v.get('type', 'any') if isinstance(v, dict) else 'any'}"
                         for k, v in props.items())
        lines.append(f"- {tool.name}({args}): {tool.description}")
    return "\n".join(lines)


@cache
def _prompt(name: str) -> str:
    """A prompt template, read once (not a file read on the event loop for every plan)."""
    return (PROMPTS / name).read_text(encoding="utf-8")


def extract_json(text: str) -> str:
    """The JSON object in a reply that may wrap it in a code fence or words."""
    text = _FENCE.sub("", text.strip())
    start, end = text.find("{"), text.rfind("}")
    return text[start:end + 1] if 0 <= start < end else text


@planners.register("model")
class ModelPlanner(Planner):
    """Lets the model write the plan; validates, repairs up to ``max_repairs`` times, then falls back.

    Its calls ask the pool for capability ``planning``: a node that can plan writes the plan, never the small
    embedded model while such a node is there (a pool without one falls back to text-generation)."""

    name = "model"

    def __init__(self, fallback: Planner | None = None, max_repairs: int = 2, max_tokens: int = 1024,
                 max_steps: int = 8, seconds: float = 8.0) -> None:
        self.fallback = fallback or RulePlanner()
        self.max_repairs = max_repairs
        self.max_tokens = max_tokens
        self.max_steps = max_steps
        # What the model may spend on one plan, repairs included: a node registered as able to plan may be slow or
        # weak (the 135M model served as a "capable" node spent 30 s); past this the rule planner's plan is used.
        self.seconds = seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelPlanner:
        return cls(fallback=RulePlanner.from_settings(settings), seconds=settings.planning_timeout_s)

    def messages(self, request: str, ctx: PlanningContext) -> list[Message]:
        system = (_prompt("plan_system.txt").replace("{today}", ctx.now.strftime("%Y-%m-%d %A"))
                  .replace("{tools}", describe_tools(ctx.tools)))
        # Earlier turns are data, never instructions: a document read in one turn must not plan the next. They
        # go into the system message inside one fence (not as assistant turns a model would continue).
        if earlier := conversation_data(ctx):
            system += "\n\n" + _prompt("plan_history.txt").replace("{notice}", DATA_NOTICE) + "\n" + fence_data(earlier)
        return [Message(role="system", content=system), Message(role="user", content=request)]

    async def plan(self, request: str, ctx: PlanningContext) -> Plan:
        if ctx.model is None:
            ctx.emit(EventKind.PLAN_FALLBACK, planner=self.name, reason="no model", to=self.fallback.name)
            return await self.fallback.plan(request, ctx)
        try:
            async with asyncio.timeout(self.seconds):  # cancelling stops the model's generation
                plan = await self._model_plan(request, ctx)
        except TimeoutError:
            reason = f"the model did not plan within the planning budget of {self.seconds:g}s"
            ctx.emit(EventKind.BUDGET_CUT, stage="planning", reason=reason)
            ctx.emit(EventKind.PLAN_FALLBACK, planner=self.name, reason=reason, to=self.fallback.name)
            plan = None
        return plan if plan is not None else await self.fallback.plan(request, ctx)

    async def _model_plan(self, request: str, ctx: PlanningContext) -> Plan | None:
        """The model's valid plan, or None (the reason emitted) when the fallback should plan instead."""
        model = ctx.model
        if model is None:
            return None
        schemas = ctx.tools.schemas()
        schema = plan_schema(ctx.tools, self.max_steps) if model.supports_json_schema else None
        messages = self.messages(request, ctx)
        # With earlier turns in the prompt, only tools the user asked for may run (planning/asked.py).
        allowed = (await asyncio.to_thread(asked_for, request, ctx.history, self._index(ctx))
                   if ctx.history or ctx.summary else None)
        problems: list[str] = []
        for attempt in range(1 + self.max_repairs):
            try:
                response = await model.complete(ChatRequest(messages=messages, max_tokens=self.max_tokens,
                                                            json_schema=schema, temperature=0.0,
                                                            capability=PLANNING))
            except AutoGLMError as exc:
                ctx.emit(EventKind.PLAN_FALLBACK, planner=self.name, reason=f"model failed: {exc}",
                         to=self.fallback.name)
                return None
            text = response.text
            try:
                plan = parse_plan(extract_json(text))
                problems = plan_problems(plan, schemas)
                if allowed is not None:
                    problems += unasked(plan, allowed)
            except PlanValidationError as exc:
                problems = exc.problems
            if not problems:
                if attempt:
                    ctx.emit(EventKind.PLAN_REPAIRED, planner=self.name, attempt=attempt, plan=plan.dump())
                ctx.explanation[:] = [{"planner": self.name, "attempts": attempt + 1,
                                       "repaired": attempt > 0, "model": response.model}]
                return plan
            ctx.emit(EventKind.PLAN_INVALID, planner=self.name, attempt=attempt, problems=problems,
                     output=text[:2000])
            messages = [*messages, Message(role="assistant", content=text[:4000]),
                        Message(role="user", content=_prompt("plan_repair.txt").replace(
                            "{problems}", "\n".join(f"- {p}" for p in problems[:20])))]
        ctx.emit(EventKind.PLAN_FALLBACK, planner=self.name, to=self.fallback.name,
                 reason=f"still invalid after {self.max_repairs} repair(s)", problems=problems[:20])
        return None

    def _index(self, ctx: PlanningContext) -> ToolIndex:
        index = getattr(self.fallback, "index", None)  # the rule planner's, with its embedder, when it is the fallback
        return index(ctx.tools) if callable(index) else ToolIndex(ctx.tools)


def conversation_data(ctx: PlanningContext, turns: int = 4, answer_chars: int = 1000, output_chars: int = 1500) -> str:
    """The session summary and the last ``turns`` turns (request, reply, each step's output), as plain text."""
    lines: list[str] = []
    if ctx.summary:
        lines.append(f"Summary of older turns:\n{ctx.summary}")
    for turn in ctx.history[-turns:]:
        reply = turn.question if turn.status == "needs_input" and turn.question else turn.answer
        lines.append(f"Turn (task {turn.task_id or '-'}): the user asked: {turn.request}")
        if reply:
            lines.append(f"Reply: {reply[:answer_chars]}")
        for step_id, output in turn.outputs.items():
            uses = next((s.uses for s in turn.plan.steps if s.id == step_id), "?") if turn.plan else "?"
            lines.append(f"Step {step_id} ({uses}) returned: {_clip(render(output), output_chars)}")
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
