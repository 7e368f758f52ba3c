"""Reading earlier steps' outputs: where a tool's output holds a list of records, and arithmetic over those records
that a later part of the request asks for ("它比第二名多卖了百分之几" -> (first - second) / second * 100)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..tools.base import Tool
from .intent import Part
from .text import concepts, terms

_PERCENT = re.compile(r"百分之几|百分之多少|百分比|几成|多少%|几%|percent|percentage|%", re.I)
# Words of a difference between two items, said as more/less or as one beating the other ("by what percent did it
# beat the runner-up", "领先第二名百分之多少").
_MORE = re.compile(r"多|少|高|低|超过|超出|领先|胜过|落后|差|more|less|fewer|higher|lower|exceed|differ|difference|"
                   r"bigger|smaller|ahead|behind|\b(?:beat|beats|beaten|lead|leads|led|trail|trails|trailed)\b|"
                   r"\bout(?:sold|sell|sells|did|do|does|performed|perform|performs|paced|pace|paces)\b", re.I)
_RATIO = re.compile(r"几倍|倍数|倍|times as|ratio|how many times", re.I)
# A share of the whole: "what share of the week's revenue was it", "它占总销量的百分之几".
_SHARE = re.compile(r"占比|所占|占.{0,8}(?:百分之几|百分之多少|多少|比例|比重)|比重|份额|"
                    r"\b(?:share|proportion|fraction)\b|(?:percent|percentage)\s+of\s+(?:the\s+)?(?:total|all|whole)",
                    re.I)
_SUM = re.compile(r"一共|总共|合计|加起来|总和|共计|in total|combined|altogether|sum of|total of", re.I)
_FIRST = re.compile(r"它|其|最好|最多|最高|第一|冠军|榜首|"
                    r"\b(?:it|its|the top|the best|the first|the leader|the winner)\b"
                    r"|'s\s+(?:top|best|leading|biggest)\b"
                    r"|\b(?:top|best)[- ](?:selling|seller|product|region|category)", re.I)


@dataclass
class Prior:
    """An earlier step a part may read: its id, its tool, the part it came from."""

    step_id: str
    tool: Tool
    part: Part | None = None


def _resolve_ref(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for key in ref[2:].split("/"):
            node = node.get(key, {}) if isinstance(node, Mapping) else {}
        return node if isinstance(node, Mapping) else {}
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key) or []:
            if isinstance(option, Mapping) and option.get("type") != "null":
                return _resolve_ref(option, root)
    return schema


def list_fields(returns: Mapping[str, Any] | None) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """Where a tool's output holds a list of records: ``(path to the list, {field: schema})`` pairs."""
    if not returns:
        return []
    out: list[tuple[tuple[str, ...], dict[str, Any]]] = []

    def walk(node: Mapping[str, Any], path: tuple[str, ...], depth: int) -> None:
        node = _resolve_ref(node, returns)
        if depth > 4:
            return
        if node.get("type") == "array" and isinstance(node.get("items"), Mapping):
            items = _resolve_ref(node["items"], returns)
            props = items.get("properties")
            if isinstance(props, Mapping):
                out.append((path, {k: dict(_resolve_ref(v, returns)) for k, v in props.items()}))
            return
        for key, sub in (node.get("properties") or {}).items():
            if isinstance(sub, Mapping):
                walk(sub, (*path, key), depth + 1)

    walk(returns, (), 0)
    return out


# A record's place in its list: never a figure to compute with ("比第二名多卖了百分之几" compares units, not the
# ranks 1 and 2).
_ORDINAL_FIELDS = frozenset({"rank", "position", "index", "ordinal", "place"})


def _numeric_field(fields: Mapping[str, Any], part: Part) -> str | None:
    numeric = [k for k, v in fields.items()
               if v.get("type") in ("integer", "number") and k.lower() not in _ORDINAL_FIELDS]
    if not numeric:
        return None
    wanted = concepts(terms(part.text))
    amounts = wanted & {"quantity", "money", "price"}
    for name in numeric:
        if concepts(terms(name + " " + str(fields[name].get("description") or ""))) & amounts:
            return name
    return numeric[0]


def _name_field(fields: Mapping[str, Any]) -> str | None:
    for key in ("name", "product", "title", "label", "id"):
        if key in fields:
            return key
    return next((k for k, v in fields.items() if v.get("type") == "string"), None)


def reference_expression(part: Part, prior: Prior) -> tuple[str, str] | None:
    """Arithmetic over an earlier step's list of records, read off the words of the part:
    "它比第二名多卖了百分之几" -> (first - second) / second * 100. Returns (expression, rule) or None."""
    for path, fields in list_fields(prior.tool.returns):
        field_name = _numeric_field(fields, part)
        if field_name is None:
            continue
        positions = sorted({n - 1 for n in part.ordinals if n >= 1})
        first = 0 if (_FIRST.search(part.text) or part.refers_back) else None
        if first is not None and first not in positions:
            positions = [first, *positions]
        if not positions:
            continue
        prefix = ".".join((prior.step_id, "output", *path))

        def ref(i: int, _prefix: str = prefix, _field: str = field_name) -> str:
            return f"${{{_prefix}.{i}.{_field}}}"

        text = part.text
        if len(positions) == 1:
            if _SUM.search(text) and part.top_n:
                return " + ".join(ref(i) for i in range(part.top_n)), "sum of the first items"
            total = _total_field(prior.tool.returns, field_name)
            if _SHARE.search(text) and total:
                return (f"{ref(positions[0])} / ${{{prior.step_id}.output.{total}}} * 100",
                        f"share of item {positions[0] + 1} in {total}")
            continue
        a, b = ref(positions[0]), ref(positions[1])
        if _PERCENT.search(text) and _MORE.search(text):
            return f"({a} - {b}) / {b} * 100", f"percent difference of items {positions[0] + 1} and {positions[1] + 1}"
        if _PERCENT.search(text):
            return f"{a} / {b} * 100", "percentage"
        if _RATIO.search(text):
            return f"{a} / {b}", "ratio"
        if _SUM.search(text):
            return " + ".join(ref(i) for i in positions), "sum"
        if _MORE.search(text):
            return f"{a} - {b}", "difference"
    return None


def _total_field(returns: Mapping[str, Any] | None, field_name: str) -> str | None:
    """The top-level field of an output that holds the total of a list's field: ``total_units`` for ``units``."""
    props = (returns or {}).get("properties") or {}
    for name in (f"total_{field_name}", f"{field_name}_total"):
        if isinstance(props.get(name), Mapping) and props[name].get("type") in ("integer", "number"):
            return name
    return None


def rank_positions(part: Part) -> list[int]:
    """The 0-based list positions a part names: its ordinals, and the first when it names the top one."""
    positions = {n - 1 for n in part.ordinals if n >= 1}
    if _FIRST.search(part.text):
        positions.add(0)
    return sorted(positions)


def compares_ranks(part: Part) -> bool:
    """Whether one clause asks for arithmetic between two ranks of one ranking ("销量第一的产品比第二名多卖了多少件",
    "how many more units did the top product sell than the runner-up"): the ranking and the computation over it,
    said at once. A part that refers back compares ranks of an earlier part's ranking instead."""
    if part.refers_back or not part.computes or len(rank_positions(part)) < 2:
        return False
    return bool(_MORE.search(part.text) or _RATIO.search(part.text) or _PERCENT.search(part.text))


def needed_items(part: Part) -> int | None:
    """How many list items a later part will read: 第二名 needs at least two."""
    wanted = max([*part.ordinals, part.top_n or 0], default=0)
    return wanted or None


def output_field(tool: Tool, name: str) -> tuple[str, ...] | None:
    """Where an earlier tool's output carries the value of a parameter called ``name``: a field of the same name
    (``order_id``), or the ``id`` of a tool named for the parameter's noun (``create_order`` for ``order_id``).
    Only declared outputs count: a tool with no output schema gives no path."""
    returns = tool.returns or {}
    props = _resolve_ref(returns, returns).get("properties") or {}
    if name in props:
        return (name,)
    noun = re.sub(r"_?(?:id|ids|uuid|key|code|no|number|ref)$", "", name.lower())
    tool_words = set(re.split(r"[._\-]", tool.name.lower()))
    if noun and noun in tool_words and "id" in props:
        return ("id",)
    return None
