"""Plans: steps, references between them, validation and order. Pure: no I/O, nothing of the project but errors
and the storable-data check of ``encodable``.

A plan is a DAG of steps. ``${step.output}`` / ``${step.output.field.0}`` passes one step's result into another's
arguments (and implies a dependency); ``${inputs.name}`` reads a workflow input; ``depends_on`` adds ordering
without data. A plan is validated before it runs and never executed when invalid.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .conditions import ConditionError, parse_condition
from .encodable import unstorable_at
from .errors import PlanError, PlanValidationError

STEP_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
_REFERENCE = re.compile(r"\$\{\s*([^}]*?)\s*\}")
INPUTS = "inputs"


class RetryPolicy(BaseModel):
    """How often a failing step is tried, and how long to wait between tries (exponential backoff)."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(default=1, ge=1, le=20, description="total tries, the first included")
    backoff_s: float = Field(default=0.5, ge=0, le=600, description="wait before the second try")
    multiplier: float = Field(default=2.0, ge=1, le=10)
    max_backoff_s: float = Field(default=30.0, ge=0, le=3600)

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before try number ``attempt`` (2 for the first retry)."""
        if attempt <= 1:
            return 0.0
        return float(min(self.backoff_s * self.multiplier ** (attempt - 2), self.max_backoff_s))


class Compensation(BaseModel):
    """What undoes a step (a saga): run when a later step of the plan fails, in reverse order of finishing. Its
    arguments may read the step's own output and any other finished step's."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    uses: str = Field(min_length=1, max_length=128)
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    timeout_s: float | None = Field(default=None, gt=0, le=86400)
    retry: RetryPolicy | None = None


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=STEP_ID_PATTERN, max_length=64)
    uses: str = Field(min_length=1, max_length=128, description="the tool this step calls")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    depends_on: list[str] = Field(default_factory=list)
    timeout_s: float | None = Field(default=None, gt=0, le=86400)
    retry: RetryPolicy | None = None
    node: str | None = None
    capability: str | None = None
    when: str | None = Field(default=None, description="run only if this condition holds: a reference, or "
                             "comparisons and and/or/not over references (conditions.py)")
    description: str | None = None
    on_failure: Compensation | None = Field(default=None, description="undoes this step when a later one fails")
    idempotency_key: str | None = Field(
        default=None, max_length=500,
        description="a template (references allowed); a step whose key was recorded done is not run again: "
                    "its recorded output is reused")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True) | {
            "id": self.id,
            "uses": self.uses,
        }


class UnsupportedPart(BaseModel):
    """A part of the request that nothing available can do: no step runs for it, and the answer says so."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000, description="the part of the request, in its own words")
    reason: str = Field(default="", max_length=500, description="why it cannot be done")
    needs: str = Field(default="", max_length=500, description="what would make it possible")


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = "string"
    description: str = ""
    default: Any = None
    required: bool = True


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[Step]
    name: str | None = None
    description: str | None = None
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    # Parts of the request no step can do; a plan of nothing but these has no steps.
    unsupported: list[UnsupportedPart] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> Plan:
        if not self.steps and not self.unsupported:
            raise ValueError("a plan needs at least one step")
        return self

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def dump(self) -> dict[str, Any]:
        data: dict[str, Any] = {"steps": [s.dump() for s in self.steps]}
        if self.name:
            data["name"] = self.name
        if self.description:
            data["description"] = self.description
        if self.inputs:
            data["inputs"] = {k: v.model_dump(exclude_defaults=True) for k, v in self.inputs.items()}
        if self.unsupported:
            data["unsupported"] = [u.model_dump() for u in self.unsupported]
        return data


@dataclass(frozen=True, slots=True)
class Reference:
    """One ``${...}`` occurrence: ``source`` is a step id or ``inputs``; ``path`` the fields after it."""

    source: str
    path: tuple[str, ...]
    text: str

    @classmethod
    def parse(cls, text: str) -> Reference:
        parts = [p for p in text.split(".")]
        if not parts or not all(parts):
            raise PlanError(f"malformed reference ${{{text}}}")
        if parts[0] == INPUTS:
            if len(parts) < 2:
                raise PlanError(f"reference ${{{text}}} must name an input: ${{inputs.NAME}}")
            return cls(INPUTS, tuple(parts[1:]), text)
        if len(parts) < 2 or parts[1] != "output":
            raise PlanError(f"reference ${{{text}}} must read a step's output: ${{{parts[0]}.output}}")
        return cls(parts[0], tuple(parts[2:]), text)


def iter_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from iter_strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from iter_strings(v)


def literal(text: str) -> str:
    """``text`` to place in a step's arguments as itself: a ``${`` in it (a system prompt, a tool's error message)
    never becomes a reference to a step's output."""
    return text.replace("${", "$\u200b{")


def find_references(value: Any) -> Iterator[Reference]:
    for text in iter_strings(value):
        for match in _REFERENCE.finditer(text):
            yield Reference.parse(match.group(1))


def has_reference(value: Any) -> bool:
    return any(_REFERENCE.search(text) for text in iter_strings(value))


def step_dependencies(step: Step) -> set[str]:
    """Every step this one waits for: ``depends_on`` plus each step its arguments, ``when`` or idempotency key
    refer to (not its ``on_failure``: that runs after the others)."""
    deps = set(step.depends_on)
    for ref in find_references([step.with_, step.when or "", step.idempotency_key or ""]):
        if ref.source != INPUTS:
            deps.add(ref.source)
    return deps


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """A cycle in ``node -> its dependencies`` as a closed path ``[a, b, a]``, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def dependency_graph(plan: Plan) -> dict[str, set[str]]:
    return {step.id: step_dependencies(step) for step in plan.steps}


def topological_order(plan: Plan) -> list[str]:
    """Step ids so that each comes after its dependencies; plan order breaks ties."""
    graph = dependency_graph(plan)
    if cycle := find_cycle(graph):
        raise PlanValidationError([_cycle_message(cycle)])
    order: list[str] = []
    done: set[str] = set()
    remaining = [s.id for s in plan.steps]
    while remaining:
        ready = [sid for sid in remaining if graph[sid] <= done]
        order.extend(ready)
        done.update(ready)
        remaining = [sid for sid in remaining if sid not in done]
    return order


def _cycle_message(cycle: list[str]) -> str:
    # The graph points from a step to what it needs; print the order data flows in.
    return "cycle: " + " -> ".join(reversed(cycle))


def plan_problems(
    plan: Plan,
    tool_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> list[str]:
    """Everything wrong with ``plan``, in words; empty when it may run.

    ``tool_schemas`` maps each known tool to its argument JSON schema; with it, unknown tools and arguments that
    do not fit are reported. ``inputs`` are the values a workflow will run with.
    """
    problems: list[str] = []
    # Data the store and every answer must carry later (text UTF-8 encodes, bounded nesting): refused now, or the
    # task would break each read of it.
    if found := unstorable_at(plan.dump()):
        problems.append(f"{found[0] or 'plan'}: {found[1]}")
    if inputs is not None and (found := unstorable_at(dict(inputs), "inputs")):
        problems.append(f"{found[0]}: {found[1]}")
    ids = [s.id for s in plan.steps]
    seen: set[str] = set()
    for sid in ids:
        if sid in seen:
            problems.append(f"step id '{sid}' is used twice")
        seen.add(sid)
    if INPUTS in seen:
        problems.append(f"'{INPUTS}' is reserved and cannot be a step id")

    for step in plan.steps:
        try:
            refs = list(find_references([step.with_, step.when or "", step.idempotency_key or ""]))
            if step.on_failure is not None:
                refs += list(find_references(step.on_failure.with_))
        except PlanError as exc:
            problems.append(f"step '{step.id}': {exc}")
            continue
        if step.when is not None:
            try:
                parse_condition(step.when)
            except ConditionError as exc:
                problems.append(f"step '{step.id}': when: {exc}")
        for dep in step.depends_on:
            if dep not in seen:
                problems.append(f"step '{step.id}' depends on unknown step '{dep}'")
        for ref in refs:
            if ref.source == INPUTS:
                name = ref.path[0]
                declared = name in plan.inputs
                supplied = inputs is not None and name in inputs
                if not declared and not supplied:
                    problems.append(f"step '{step.id}' reads unknown input '{name}'")
            elif ref.source not in seen:
                problems.append(f"step '{step.id}' refers to unknown step '{ref.source}' in ${{{ref.text}}}")
        if tool_schemas is not None:
            schema = tool_schemas.get(step.uses)
            if schema is None:
                problems.append(f"step '{step.id}' uses unknown tool '{step.uses}'"
                                f"{_did_you_mean(step.uses, tool_schemas)}")
            else:
                problems.extend(f"step '{step.id}' ({step.uses}): {p}" for p in argument_problems(step.with_, schema))
            if (undo := step.on_failure) is not None:
                schema = tool_schemas.get(undo.uses)
                if schema is None:
                    problems.append(f"step '{step.id}' on_failure uses unknown tool '{undo.uses}'"
                                    f"{_did_you_mean(undo.uses, tool_schemas)}")
                else:
                    problems.extend(f"step '{step.id}' on_failure ({undo.uses}): {p}"
                                    for p in argument_problems(undo.with_, schema))

    # A step that waits for itself (through ``depends_on``, its arguments or ``when``) can never start: it is the
    # shortest cycle, named plainly here; the cycle search below then looks for the longer ones.
    graph = dependency_graph_lenient(plan)
    for sid, deps in graph.items():
        if sid in deps:
            problems.append(f"step '{sid}' depends on itself (its own output or `depends_on`)")
    if cycle := find_cycle({sid: deps - {sid} for sid, deps in graph.items()}):
        problems.append(_cycle_message(cycle))
    if inputs is not None:
        for name, spec in plan.inputs.items():
            if spec.required and spec.default is None and name not in inputs:
                problems.append(f"input '{name}' is required")
    return problems


def _did_you_mean(name: str, known: Mapping[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def dependency_graph_lenient(plan: Plan) -> dict[str, set[str]]:
    """Like :func:`dependency_graph` but skipping malformed references (they are reported elsewhere)."""
    graph: dict[str, set[str]] = {}
    for step in plan.steps:
        deps = graph.setdefault(step.id, set())  # a duplicated id (reported elsewhere) keeps both steps' edges
        deps.update(step.depends_on)
        for text in iter_strings([step.with_, step.when or "", step.idempotency_key or ""]):
            for match in _REFERENCE.finditer(text):
                head = match.group(1).split(".")[0]
                if head and head != INPUTS:
                    deps.add(head)
    return graph


def argument_problems(args: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Check arguments against a tool's JSON schema. A value that is wholly a reference (at any depth) is known
    only at run time: it counts as present, and its type is checked when the step runs."""
    relaxed = copy.deepcopy(dict(schema))
    required = list(relaxed.pop("required", []) or [])
    problems = [f"missing required argument '{name}'" for name in required if name not in args]
    validator = jsonschema.Draft202012Validator(relaxed)
    # A reference anywhere (a field of a JSON body too) is known only at run time: its errors wait till then.
    errors = [e for e in validator.iter_errors(dict(args)) if not _is_whole_reference(e.instance)]
    for error in sorted(errors, key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.path)
        problems.append(f"argument '{where}': {error.message}" if where else error.message)
    return problems


def _is_whole_reference(value: Any) -> bool:
    return isinstance(value, str) and bool(_REFERENCE.fullmatch(value.strip()))


def validate_plan(
    plan: Plan,
    tool_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> Plan:
    """Return ``plan`` unchanged when it may run; raise :class:`PlanValidationError` listing every problem."""
    if problems := plan_problems(plan, tool_schemas, inputs):
        raise PlanValidationError(problems)
    return plan


def parse_plan(data: Any) -> Plan:
    """Build a Plan from untrusted data (a dict or JSON text), turning pydantic's errors into plain words."""
    if isinstance(data, Plan):
        return data
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise PlanValidationError([f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from exc
    if not isinstance(data, Mapping):
        raise PlanValidationError(["a plan must be an object with a 'steps' list"])
    from pydantic import ValidationError

    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            problems.append(f"{where}: {err['msg']}" if where else err["msg"])
        raise PlanValidationError(problems) from exc


# ---------------------------------------------------------------------------------------------------------------
# Resolving references at run time


def lookup(value: Any, path: tuple[str, ...], where: str) -> Any:
    """Follow ``path`` (keys, attribute names, list indices) into ``value``."""
    for part in path:
        if isinstance(value, Mapping):
            if part not in value:
                raise PlanError(f"{where}: no field '{part}' (has {', '.join(map(str, list(value)[:10]))})")
            value = value[part]
        elif isinstance(value, list | tuple):
            try:
                value = value[int(part)]
            except (ValueError, IndexError) as exc:
                raise PlanError(f"{where}: no item '{part}' in a list of {len(value)}") from exc
        elif hasattr(value, part) and not part.startswith("_"):
            value = getattr(value, part)
        else:
            raise PlanError(f"{where}: cannot read '{part}' from {type(value).__name__}")
    return value


def render(value: Any) -> str:
    """A step output as text inside a larger string."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def resolve(value: Any, outputs: Mapping[str, Any], inputs: Mapping[str, Any],
            embed: Callable[[Any], str] = render) -> Any:
    """Substitute every reference in ``value``. A string that is wholly one reference becomes the referenced
    value itself (a dict stays a dict); references inside longer text are rendered as text. ``embed`` renders
    a step's output as text (whole references to a text output too): a tool that puts outputs into a prompt
    passes one that marks them as data."""

    def fetch(ref: Reference) -> Any:
        if ref.source == INPUTS:
            if ref.path[0] not in inputs:
                raise PlanError(f"${{{ref.text}}}: no input '{ref.path[0]}'")
            return lookup(inputs[ref.path[0]], ref.path[1:], f"${{{ref.text}}}")
        if ref.source not in outputs:
            raise PlanError(f"${{{ref.text}}}: step '{ref.source}' has no output")
        return lookup(outputs[ref.source], ref.path, f"${{{ref.text}}}")

    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value.strip())
        if whole:
            ref = Reference.parse(whole.group(1))
            found = fetch(ref)
            return embed(found) if isinstance(found, str) and ref.source != INPUTS else found

        def text_of(m: re.Match[str]) -> str:
            ref = Reference.parse(m.group(1))
            return render(fetch(ref)) if ref.source == INPUTS else embed(fetch(ref))

        return _REFERENCE.sub(text_of, value)
    if isinstance(value, Mapping):
        return {k: resolve(v, outputs, inputs, embed) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, outputs, inputs, embed) for v in value]
    return value

