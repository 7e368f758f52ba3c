"""A made-up value that fits a JSON schema: what a dry run goes on with in place of a tool with side effects.

Values the schema names (``const``, ``default``, ``examples``, ``enum``) come first; a property that has the name of
one of the call's arguments takes that argument's value (an ``order_id`` in, the same ``order_id`` out), so the
steps after it see what they would see; anything else is a plain placeholder of the right type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 8
PLACEHOLDERS: dict[str, Any] = {"string": "simulated", "integer": 0, "number": 0, "boolean": True, "null": None}


def sample(schema: Any, args: Mapping[str, Any] | None = None, depth: int = 0) -> Any:
    if not isinstance(schema, Mapping) or depth > MAX_DEPTH:
        return None
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("oneOf", "anyOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return sample(schema[key][0], args, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        out: dict[str, Any] = {}
        for name, prop in (schema.get("properties") or {}).items():
            out[name] = args[name] if args is not None and name in args else sample(prop, None, depth + 1)
        return out
    if kind == "array":
        item = sample(schema.get("items") or {}, None, depth + 1)
        return [] if item is None else [item]
    if kind == "string" and schema.get("format") == "date-time":
        return "1970-01-01T00:00:00Z"
    if kind == "string" and schema.get("format") == "date":
        return "1970-01-01"
    if kind == "integer" or kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        if isinstance(low, int | float):
            return int(low) + (1 if "exclusiveMinimum" in schema else 0) if kind == "integer" else low
    return PLACEHOLDERS.get(str(kind)) if kind else None
