"""The Tool interface, ``@tool`` and the registry.

A tool is one awaitable: ``await tool(args, ctx)``. Its ``parameters`` are a JSON schema (what the planner fills
and the plan validator checks); ``side_effects`` and ``roles`` are what the executor enforces before calling it.
``@tool`` builds one from a typed, documented function, sync or async: the signature becomes the schema, the
docstring the description (Google-style ``Args:`` lines describe the parameters).
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_type_hints

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ..errors import ToolArgumentError, ToolNotFound
from ..events import EventEmitter
from ..plan import Plan, render

if TYPE_CHECKING:
    from ..models.base import ChatModel
    from ..results import StepResult

# Runs a nested plan under the calling step (same tools, role, session and approver): ``await run_plan(plan,
# emitter, inputs)`` returns each step's result by id. The executor gives it to every tool it calls.
RunPlan = Callable[[Plan, EventEmitter, dict[str, Any]], Awaitable[dict[str, "StepResult"]]]
TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*$")


@dataclass
class ToolContext:
    """What a running tool may know about the step that called it."""

    task_id: str = "adhoc"
    step_id: str = "call"
    emit: Callable[..., Any] = field(default=lambda *a, **k: None)
    role: str = "admin"
    session_id: str | None = None
    attempt: int = 1
    # Tools with side effects must be approved; None means nobody can approve, so they are denied.
    approver: Callable[[Tool, dict[str, Any], ToolContext], Awaitable[bool]] | None = None
    # The task's event log, for tools that run a nested plan (workflows) under the calling step.
    emitter: EventEmitter | None = None
    # The app's model (built on its first call), for tools that ask it something.
    model: ChatModel | None = None
    # How a tool runs a sub-plan (workflows); None outside an executor.
    run_plan: RunPlan | None = None


class ToolSpec(BaseModel):
    """How a tool presents itself to planners, the CLI (``autoglm tools --json``) and MCP clients."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    parameters: dict[str, Any]
    returns: dict[str, Any] | None = None
    source: str = "python"
    side_effects: bool = False
    roles: list[str] | None = Field(default=None, description="roles allowed to call it; None for every role")
    timeout_s: float | None = None


class Tool:
    """Subclasses set the class attributes (or pass them to ``__init__``) and implement :meth:`__call__`."""

    name: str = ""
    description: str = ""
    parameters: dict[str, Any] = {"type": "object", "properties": {}}  # noqa: RUF012 - replaced, never mutated
    returns: dict[str, Any] | None = None
    source: str = "python"
    side_effects: bool = False
    roles: frozenset[str] | None = None
    timeout_s: float | None = None
    # Whether a step that ran past its timeout is worth trying again by default (a step's own `retry` still
    # applies). Model calls are not: the router is their one retry loop (another node, a fallback), and the same
    # prompt on the same model takes as long again.
    retry_on_timeout: bool = True
    # The tool writes the document asked for itself (a report: its narrative and files): a part that asks for
    # writing needs no model-written text after it.
    writes: bool = False
    # Lexicon concept groups (planning/lexicon.yaml) of which a request must name a word for the rule planner to
    # choose this tool: a data tool's domain. Empty: any matching words will do.
    domain: frozenset[str] = frozenset()
    # The tool may run in another process (a Ray worker, engine executors) with nothing but its arguments: it
    # holds no model, connection or service of this process and needs none of ctx.model, ctx.run_plan,
    # ctx.emitter or ctx.approver. Tools that do say False and run where the task runs.
    portable: bool = True

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        raise NotImplementedError

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Check arguments against :attr:`parameters`; raise :class:`ToolArgumentError` naming what is wrong."""
        errors = sorted(jsonschema.Draft202012Validator(self.parameters).iter_errors(dict(args)), key=str)
        if errors:
            details = "; ".join(
                (".".join(map(str, e.path)) + ": " if e.path else "") + e.message for e in errors[:5]
            )
            raise ToolArgumentError(f"{self.name}: {details}")
        return dict(args)

    def embed(self, output: Any) -> str:
        """An earlier step's output as text inside this tool's arguments (llm tools fence it as data)."""
        return render(output)

    def summarize(self, output: Any) -> str:
        """The output in words, for the answer. Tools whose output is data can say it better than JSON."""
        return render(output)

    def answer(self, output: Any, lang: str) -> str | None:
        """One sentence in ``lang`` (``"zh"`` or ``"en"``) saying what the result means for the person who asked:
        the best seller and its figure, the percentage as a phrase, the date with its weekday. The composer joins
        these into the reply; ``None`` means this tool has no sentence of its own (the composer then falls back
        to :meth:`summarize`). Every fact in it must come from ``output``."""
        return None

    def simulate(self, args: dict[str, Any]) -> Any:
        """What a dry run goes on with instead of calling this tool (it has side effects): a value made from
        :attr:`returns`. A tool that knows better (a created id from its arguments) overrides it."""
        from .samples import sample

        known = dict(args)
        for value in args.values():  # a JSON body's fields count as arguments too (an order_id sent, echoed)
            if isinstance(value, dict):
                known = {**value, **known}
        return sample(self.returns or {}, known)

    async def reconcile(self, args: dict[str, Any], key: str, ctx: ToolContext) -> tuple[bool, Any] | None:
        """A call under idempotency ``key`` was started and its outcome never recorded (its process died): ask the
        target system. ``(True, output)``: it was done (the output is recorded and reused); ``(False, None)``: it
        was not (the call runs now); ``None`` (the default): this tool cannot tell, so the step is not repeated
        blindly: when this task started the call, a person is asked (an approval request of kind ``rerun``) and
        their decision runs it again or fails the step; a call another task started fails the step saying so."""
        return None

    def spec(self) -> ToolSpec:
        return ToolSpec(
            name=self.name,
            description=self.description,
            parameters=self.parameters,
            returns=self.returns,
            source=self.source,
            side_effects=self.side_effects,
            roles=sorted(self.roles) if self.roles is not None else None,
            timeout_s=self.timeout_s,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


# ---------------------------------------------------------------------------------------------------------------
# Tools from functions

_ARG_LINE = re.compile(r"^\s{0,8}(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?)\s*:\s*$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The description (text before any section) and each parameter's line from an ``Args:`` section."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for line in lines:
        if m := _SECTION.match(line):
            section = m.group(1)
            current = None
            continue
        if section is None:
            summary.append(line)
        elif section in ("Args", "Arguments", "Parameters"):
            if (m := _ARG_LINE.match(line)) and not line.startswith(" " * 9):
                current = m.group(1).lstrip("*")
                params[current] = m.group(2).strip()
            elif current and line.strip():
                params[current] += " " + line.strip()
    return " ".join(" ".join(summary).split()), params


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title" or not isinstance(v, str)}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


class FunctionTool(Tool):
    """A tool made from a typed Python function. Arguments are validated and coerced by pydantic."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        side_effects: bool = False,
        roles: Iterable[str] | None = None,
        timeout_s: float | None = None,
        source: str = "python",
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        if not TOOL_NAME_PATTERN.match(self.name):
            raise ValueError(f"invalid tool name {self.name!r}: use letters, digits, _ and - with dots between parts")
        summary, param_docs = parse_docstring(fn.__doc__)
        self.description = description or summary or self.name
        self.side_effects = side_effects
        self.roles = frozenset(roles) if roles is not None else None
        self.timeout_s = timeout_s
        self.source = source
        self._is_async = inspect.iscoroutinefunction(fn)
        self._context_param: str | None = None

        hints = get_type_hints(fn)
        fields: dict[str, Any] = {}
        for pname, param in inspect.signature(fn).parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ValueError(f"tool {self.name}: *args and **kwargs cannot be described as a schema")
            annotation = hints.get(pname, Any)
            if annotation is ToolContext:
                self._context_param = pname
                continue
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[pname] = (annotation, Field(default, description=param_docs.get(pname)))
        self._model: type[BaseModel] = create_model(
            f"{self.name.replace('.', '_').replace('-', '_')}_args",
            __config__=ConfigDict(extra="forbid"),
            **fields,
        )
        self.parameters = _strip_titles(self._model.model_json_schema())
        return_type = hints.get("return")
        if return_type not in (None, Any, type(None)):
            try:
                from pydantic import TypeAdapter

                self.returns = _strip_titles(TypeAdapter(return_type).json_schema())
            except Exception:  # some return annotations have no JSON schema; the tool works without one
                self.returns = None

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        try:
            parsed = self._model.model_validate(dict(args))
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise ToolArgumentError(f"{self.name}: {details}") from exc
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        kwargs = dict(args)
        if self._context_param:
            kwargs[self._context_param] = ctx
        if self._is_async:
            return await self.fn(**kwargs)
        # A sync function may block (I/O, CPU): keep the event loop free for the other steps.
        return await asyncio.to_thread(self.fn, **kwargs)


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    namespace: str | None = None,
    description: str | None = None,
    side_effects: bool = False,
    roles: Iterable[str] | None = None,
    timeout_s: float | None = None,
) -> Any:
    """Make a tool of a typed, documented function: ``@tool`` or ``@tool(name="weather.forecast")``."""

    def wrap(f: Callable[..., Any]) -> FunctionTool:
        full = name or (f"{namespace}.{f.__name__}" if namespace else f.__name__)
        return FunctionTool(f, name=full, description=description, side_effects=side_effects, roles=roles,
                            timeout_s=timeout_s)

    return wrap(fn) if fn is not None else wrap


# ---------------------------------------------------------------------------------------------------------------


class ToolRegistry:
    """The tools a run may use, by name."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.add(t)

    def add(self, new: Tool | Callable[..., Any], replace: bool = False) -> Tool:
        item = new if isinstance(new, Tool) else FunctionTool(new)
        if item.name in self._tools and not replace:
            raise ValueError(f"a tool named '{item.name}' is already registered")
        self._tools[item.name] = item
        return item

    def remove(self, name: str) -> None:
        self._tools.pop(name, None)

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._tools), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; `autoglm tools` lists them"
            raise ToolNotFound(f"no tool named '{name}'{hint}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self) -> dict[str, dict[str, Any]]:
        return {name: t.parameters for name, t in self._tools.items()}

    def specs(self) -> list[ToolSpec]:
        return [t.spec() for t in self._tools.values()]

    def subset(self, names: Iterable[str]) -> ToolRegistry:
        return ToolRegistry(self.get(n) for n in names)
