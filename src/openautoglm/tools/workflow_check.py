"""`autoglm workflows validate`: every problem of a workflow file at once, each in one line, before anything runs.

On top of what the plan validator finds (the file's schema, unknown tools with did-you-mean, references to unknown
steps or inputs, arguments that do not fit a tool's schema, cycles, unreadable ``when`` conditions), a value that is
wholly one reference is checked by type: ``${inputs.qty}`` declared ``string`` given to an ``integer`` argument,
or ``${crm.output.email}`` when the CRM tool's output schema has no ``email`` field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import PlanError, PlanValidationError
from ..plan import INPUTS, Plan, Reference, plan_problems
from ..workflow import load_plan
from .base import ToolRegistry
from .workflows import INPUT_TYPES, own_problems

_WHOLE = re.compile(r"^\s*\$\{\s*([^}]*?)\s*\}\s*$")
UNKNOWN = object()  # a type nothing declares: not checked


def workflow_file_problems(path: str | Path, tools: ToolRegistry) -> list[str]:
    """Everything wrong with the workflow in ``path`` against ``tools``; empty when it may run."""
    try:
        plan = load_plan(path)
    except PlanValidationError as exc:
        return list(exc.problems)
    return workflow_problems(plan, tools, Path(path))


def workflow_problems(plan: Plan, tools: ToolRegistry, path: Path | None = None) -> list[str]:
    problems = own_problems(plan, path) + plan_problems(plan, tools.schemas())
    problems += reference_type_problems(plan, tools)
    return problems


def reference_type_problems(plan: Plan, tools: ToolRegistry) -> list[str]:
    by_id = {s.id: s for s in plan.steps}
    problems: list[str] = []
    for step in plan.steps:
        calls = [(step.uses, step.with_, f"step '{step.id}' ({step.uses})")]
        if step.on_failure is not None:
            calls.append((step.on_failure.uses, step.on_failure.with_, f"step '{step.id}' on_failure"))
        for uses, args, where in calls:
            if uses not in tools:
                continue  # reported as an unknown tool already
            for name, value, wanted in _whole_references(args, tools.get(uses).parameters):
                try:
                    ref = Reference.parse(value)
                except PlanError:
                    continue  # malformed: reported already
                found = _referenced_schema(ref, plan, by_id, tools)
                if isinstance(found, str):
                    problems.append(f"{where}: argument '{name}': {found}")
                elif found is not UNKNOWN and (clash := _type_clash(found, wanted)):
                    problems.append(f"{where}: argument '{name}' gets ${{{ref.text}}} ({clash})")
    return problems


def _whole_references(value: Any, schema: Any, path: str = "") -> list[tuple[str, str, Any]]:
    """(argument path, reference text, the schema it must fit) for each value that is wholly one reference,
    following the schema's ``properties`` into JSON bodies."""
    if not isinstance(schema, Mapping):
        return []
    if isinstance(value, str):
        match = _WHOLE.match(value)
        return [(path, match.group(1), schema)] if match and path else []
    found: list[tuple[str, str, Any]] = []
    if isinstance(value, Mapping):
        props = schema.get("properties") or {}
        for key, item in value.items():
            if key in props:
                found += _whole_references(item, props[key], f"{path}.{key}" if path else str(key))
    return found


def _referenced_schema(ref: Reference, plan: Plan, by_id: Mapping[str, Any], tools: ToolRegistry) -> Any:
    """The JSON schema of what ``ref`` reads, UNKNOWN when nothing says, or a problem in words."""
    if ref.source == INPUTS:
        spec = plan.inputs.get(ref.path[0])
        if spec is None or len(ref.path) > 1:
            return UNKNOWN
        kind = INPUT_TYPES.get(spec.type.lower())
        return {"type": kind} if kind else UNKNOWN
    source = by_id.get(ref.source)
    if source is None or source.uses not in tools:
        return UNKNOWN
    schema: Any = tools.get(source.uses).returns
    if not isinstance(schema, Mapping):
        return UNKNOWN
    for part in ref.path:
        kind = schema.get("type")
        if (kind == "object" or "properties" in schema) and isinstance(schema.get("properties"), Mapping):
            props = schema["properties"]
            if part not in props:
                if schema.get("additionalProperties") not in (None, False):
                    return UNKNOWN
                return (f"${{{ref.text}}}: {source.uses} returns no field '{part}' "
                        f"(it has {', '.join(props) or 'none'})")
            schema = props[part]
        elif kind == "array" and part.isdigit() and isinstance(schema.get("items"), Mapping):
            schema = schema["items"]
        else:
            return UNKNOWN
        if not isinstance(schema, Mapping):
            return UNKNOWN
    return schema


def _types(schema: Mapping[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(k) for k in kind}
    return None


def _type_clash(given: Any, wanted: Mapping[str, Any]) -> str | None:
    if not isinstance(given, Mapping):
        return None
    have, need = _types(given), _types(wanted)
    if have is None or need is None:
        return None
    widened = set(have) | ({"number"} if "integer" in have else set())
    if widened & need or ("integer" in need and "number" in have):
        return None  # a number may hold an integer; checked again when the step runs
    return f"{'/'.join(sorted(have))}, where {'/'.join(sorted(need))} is wanted"
