"""Filling a tool's arguments from a part of a request, by rules read off the tool's schema.

Each parameter is classified by its name, type, format, enum and description (a date, a start or end of a range,
a place, a count, an arithmetic expression, free text, a file, a URL, a number...) and filled from the part's
entities; earlier steps' outputs are referred to with ``${step.output...}``. What rules cannot fill is reported
as missing, for the model to fill one schema at a time or for the user to be asked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..tools.base import Tool
from .intent import Intent, Part
from .text import concepts, terms

START_NAMES = {"start", "start_date", "from_date", "date_from", "begin", "begin_date", "since", "start_day", "from"}
END_NAMES = {"end", "end_date", "to_date", "date_to", "until", "end_day", "to"}
DATE_NAMES = {"date", "day", "when", "on", "target_date", "on_date"}
PLACE_NAMES = {"city", "location", "place", "destination", "origin", "region", "country", "area", "address",
               "city_name", "town", "state", "province", "where"}
COUNT_NAMES = {"limit", "top", "n", "k", "top_k", "top_n", "count", "max_results", "num_results", "size", "num",
               "max_items", "number_of_results"}
EXPRESSION_NAMES = {"expression", "expr", "formula", "equation"}
TEXT_NAMES = {"prompt", "text", "query", "question", "content", "message", "input", "instruction", "instructions",
              "topic", "keyword", "keywords", "q", "body", "request", "description", "sentence", "task"}
FILE_NAMES = {"path", "file", "filename", "file_path", "filepath", "document", "image", "audio", "video", "doc",
              "image_path", "audio_path", "video_path", "file_name"}
URL_NAMES = {"url", "link", "uri", "href", "website", "webpage"}

_PERCENT = re.compile(r"百分之几|百分之多少|百分比|几成|多少%|几%|percent|percentage|%", re.I)
_MORE = re.compile(r"多|少|高|低|超过|差|more|less|fewer|higher|lower|exceed|differ|difference|bigger|smaller|ahead",
                   re.I)
_RATIO = re.compile(r"几倍|倍数|倍|times as|ratio|how many times", re.I)
_SUM = re.compile(r"一共|总共|合计|加起来|总和|共计|in total|combined|altogether|sum of|total of", re.I)
_FIRST = re.compile(r"它|其|最好|最多|最高|第一|冠军|榜首|"
                    r"\b(?:it|its|the top|the best|the first|the leader|the winner)\b", re.I)


@dataclass
class Filled:
    """The arguments of one step and how each was found."""

    args: dict[str, Any] = field(default_factory=dict)
    slots: dict[str, str] = field(default_factory=dict)  # argument -> the rule that filled it
    missing: list[str] = field(default_factory=list)  # required arguments rules could not fill
    missing_kinds: dict[str, str] = field(default_factory=dict)  # argument -> kind (place, date, ...)
    references: set[str] = field(default_factory=set)  # step ids the arguments read

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass
class Prior:
    """An earlier step a part may read: its id, its tool, the part it came from."""

    step_id: str
    tool: Tool
    part: Part | None = None


def slot_kind(name: str, spec: Mapping[str, Any]) -> str:
    low = name.lower()
    desc = str(spec.get("description") or "").lower()
    typ = spec.get("type")
    fmt = str(spec.get("format") or "")
    if low in EXPRESSION_NAMES and re.search(r"\b(?:date|day|period|time)\b|日期", desc):
        return "date_text"
    if low in EXPRESSION_NAMES or "arithmetic" in desc or "math expression" in desc:
        return "expression"
    if (low in PLACE_NAMES or re.search(r"\b(?:city|location|place|destination|address)\b", desc)) and (
            typ in (None, "string")):
        return "place"
    if low in START_NAMES or (fmt == "date" and ("start" in low or "first day" in desc)):
        return "start"
    if low in END_NAMES or (fmt == "date" and ("end" in low or "last day" in desc)):
        return "end"
    if low in DATE_NAMES or fmt == "date" or low.endswith("_date") or (typ == "string" and "yyyy-mm-dd" in desc):
        return "date"
    if low in PLACE_NAMES or re.search(r"\b(?:city|location|place)\b", desc):
        return "place"
    if typ == "integer" and (low in COUNT_NAMES or re.search(r"how many (?:rows|items|results)|number of (?:items|"
                                                             r"results|rows)", desc)):
        return "count"
    if "enum" in spec:
        return "enum"
    if low in URL_NAMES or "url" in desc.split():
        return "url"
    if low in FILE_NAMES or low.endswith(("_path", "_file")):
        return "file"
    if typ in ("integer", "number"):
        return "number"
    if typ == "boolean":
        return "boolean"
    if low in TEXT_NAMES:
        return "text"
    if typ == "string" or typ is None:
        return "string"
    return "other"


def _properties(tool: Tool) -> tuple[dict[str, Any], set[str]]:
    schema = tool.parameters or {}
    props = schema.get("properties") or {}
    return {k: (v if isinstance(v, dict) else {}) for k, v in props.items()}, set(schema.get("required") or [])


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


def _numeric_field(fields: Mapping[str, Any], part: Part) -> str | None:
    numeric = [k for k, v in fields.items() if v.get("type") in ("integer", "number")]
    if not numeric:
        return None
    wanted = concepts(terms(part.text))
    for name in numeric:
        if concepts(terms(name + " " + str(fields[name].get("description") or ""))) & wanted & {"quantity", "money"}:
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


def needed_items(part: Part) -> int | None:
    """How many list items a later part will read: 第二名 needs at least two."""
    wanted = max([*part.ordinals, part.top_n or 0], default=0)
    return wanted or None


def _enum_choice(values: list[Any], part: Part, tool: Tool) -> Any:
    text = part.text.lower()
    # Concepts of the tool's own name and description ("sales") say nothing about which of its values is meant.
    topic = concepts(terms(f"{tool.name.replace('.', ' ')} {tool.description}"))
    wanted = concepts(terms(part.text)) - topic
    for value in values:
        if isinstance(value, str) and value.lower() in text:
            return value
    for value in values:
        if isinstance(value, str) and concepts(terms(value)) & wanted - {"query", "write"}:
            return value
    return None


def _coerce_number(value: float, spec: Mapping[str, Any]) -> int | float:
    if spec.get("type") == "integer":
        return round(value)
    return int(value) if float(value).is_integer() else value


def _near_number(name: str, spec: Mapping[str, Any], part: Part, used: set[int]) -> tuple[int, float] | None:
    """The number written closest after (or before) the parameter's name or description words."""
    words = {w for w in terms(name.replace("_", " ")) if len(w) > 1}
    words |= {w for w in terms(str(spec.get("description") or ""))[:3] if len(w) > 2}
    text = part.text.lower()
    best: tuple[int, int, float] | None = None
    for w in words:
        for m in re.finditer(re.escape(w), text):
            for i, n in enumerate(part.numbers):
                if i in used:
                    continue
                distance = n.start - m.end() if n.start >= m.end() else (m.start() - n.start) * 2 + 10
                if distance < 40 and (best is None or distance < best[0]):
                    best = (distance, i, n.value)
    return (best[1], best[2]) if best else None


_PROPER = re.compile(r"(?<![\w'])(?:[A-Z][\w'&\-]*\.?)(?:\s+(?:of\s+|the\s+|de\s+)?[A-Z][\w'&\-]*)*")
_TOKENISH = re.compile(r"(?<![\w#+])(?:\+?\d[\d\- ]{5,}\d|#\d+|\d{1,2}:\d{2}(?:\s?[ap]m)?|\$\d[\d,.]*)", re.I)
_SENTENCE_START = {"i", "i'd", "i'm", "please", "can", "could", "what", "how", "the", "a", "my", "hi", "hello", "find",
                   "get", "tell", "calculate", "compute", "make", "play", "book", "order", "send", "give", "show",
                   "what's", "is", "are", "do", "does", "let", "help", "write", "create", "set", "check", "search"}


def _near_name(name: str, spec: Mapping[str, Any], part: Part, used: set[str]) -> str | None:
    """A proper name ("Inception", "Holiday Inn", "Uber") or a token such as a phone number or a time, written
    closest after a word of the parameter's name or description: a rule for short string arguments."""
    found: list[tuple[int, str]] = []
    for m in _PROPER.finditer(part.text):
        words = m.group(0).split()
        while words and words[0].lower().strip(".") in _SENTENCE_START:
            words.pop(0)
        if words:
            text = " ".join(words)
            found.append((m.end() - len(text), text))
    found += [(m.start(), m.group(0).strip()) for m in _TOKENISH.finditer(part.text)]
    spans = [d.span for d in part.dates]
    found = [(i, t) for i, t in found if t not in used and not any(t in u or u in t for u in used)
             and not any(s <= i < e for s, e in spans)]
    if not found:
        return None
    cues = {w for w in terms(name.replace("_", " ")) if len(w) > 2}
    cues |= {w for w in terms(str(spec.get("description") or "")) if len(w) > 3}
    low = part.text.lower()
    best: tuple[int, str] | None = None
    for cue in cues:
        for m in re.finditer(re.escape(cue), low):
            for start, text in found:
                distance = start - m.end()
                if 0 <= distance < 30 and (best is None or distance < best[0]):
                    best = (distance, text)
    return best[1] if best else None


_DETERMINERS = r"(?:my|the|a|an|our|your|his|her|their|this|that|some)"
_NOT_MODIFIERS = {"my", "the", "a", "an", "our", "your", "his", "her", "their", "this", "that", "some", "new", "same",
                  "next", "last", "online", "specific", "to", "for", "of", "and", "or", "with", "in", "on", "at"}


def _modifier_of(name: str, text: str, used: set[str]) -> str | None:
    """The value a request gives a string parameter by naming the parameter's own noun: the words before it
    ("pay my electricity bill" -> "electricity" for ``bill``) or a code or number right after it ("the year 2021",
    "job ID A-17"). Only a noun the parameter is named by counts, so nothing is read off unrelated words."""
    noun = name.lower().replace("_", " ").split()[-1] if name.strip("_") else ""
    if len(noun) < 3:
        return None
    after = re.search(rf"\b{re.escape(noun)}s?\s+(?:of\s+|is\s+|number\s+|id\s+)?([A-Z0-9][\w\-.]*\d[\w\-.]*|\d+)\b",
                      text, re.I)
    if after and after.group(1) not in used:
        return after.group(1)
    before = re.search(rf"\b{_DETERMINERS}\s+((?:[\w\-']+\s+){{1,2}}?){re.escape(noun)}s?\b", text, re.I)
    if before:
        words = [w for w in before.group(1).split() if w.lower() not in _NOT_MODIFIERS]
        value = " ".join(words)
        if words and value not in used:
            return value
    return None


_ITEM = r"(?:'[^']+'|\"[^\"]+\"|[A-Z0-9][\w\-&.']*(?:\s+(?:of\s+|the\s+|de\s+)?[A-Z0-9][\w\-&.']*)*)"


def value_list(name: str, text: str) -> list[str]:
    """Several values a request lists for one string parameter, right after the parameter's noun: "the artists
    Taylor Swift and Maroon 5", "cities 'Paris', 'Rome' and 'Oslo'". One call per value is what such a request
    asks for; a single value (or none) gives an empty list."""
    noun = name.lower().replace("_", " ").split()[-1] if name.strip("_") else ""
    if len(noun) < 3:
        return []
    sep = r"(?:\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+)"
    stem = re.escape(noun[:-1]) + "(?:y|ies)" if noun.endswith("y") else re.escape(noun) + "(?:s|es)?"
    # The noun in any case; the values themselves must be names (capitalised, quoted or numbered).
    m = re.search(rf"(?i:\b{stem})\s+(?:(?i:named|called|of|like|such as|the)\s+)?"
                  rf"({_ITEM}(?:{sep}{_ITEM})+)", text)
    if not m:
        return []
    items = [i.strip().strip("'\"") for i in re.split(sep, m.group(1)) if i.strip()]
    return items if len(items) > 1 and len(set(items)) == len(items) else []


def _assignments(text: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments the request writes out: ``a=2``, ``b = -11``, ``limit: 5``."""
    out: dict[str, Any] = {}
    for name, spec in props.items():
        m = re.search(rf"(?<![\w.]){re.escape(name)}\s*[=:]\s*(-?\d+(?:\.\d+)?(?:[eE]-?\d+)?|'[^']*'|\"[^\"]*\"|\w+)",
                      text)
        if not m:
            continue
        raw = m.group(1).strip("'\"")
        typ = spec.get("type") if isinstance(spec, Mapping) else None
        try:
            out[name] = int(float(raw)) if typ == "integer" else float(raw) if typ == "number" else raw
        except ValueError:
            continue
    return out


class ArgumentFiller:
    """Rules that fill one tool's arguments for one part of a request."""

    def __init__(self, default_city: str | None = None) -> None:
        self.default_city = default_city

    def fill(self, tool: Tool, part: Part, intent: Intent, priors: list[Prior], needs: int | None = None) -> Filled:
        props, required = _properties(tool)
        out = Filled()
        used_numbers: set[int] = set()
        used_strings: set[str] = set()
        # A period named elsewhere in the request ("上周..., 再算...") still applies to a part that names none.
        dates = part.dates or intent.dates
        places = part.places or intent.places
        explicit = _assignments(part.text, props)
        for name, spec in props.items():
            kind = slot_kind(name, spec)
            value: Any = None
            rule = ""
            if name in explicit:
                value, rule = explicit[name], "written as name = value"
                for i, n in enumerate(part.numbers):
                    if n.text == str(explicit[name]) or n.value == explicit[name]:
                        used_numbers.add(i)
                        break
            elif kind == "expression":
                if part.arithmetic:
                    value, rule = part.arithmetic, "arithmetic in the request"
                else:
                    for prior in reversed(priors):
                        found = reference_expression(part, prior)
                        if found:
                            value, rule = found[0], f"{found[1]} over {prior.step_id}'s output"
                            out.references.add(prior.step_id)
                            break
            elif kind == "date_text" and part.dates:
                # A tool about dates reads this part's own date words, never a date said elsewhere.
                value, rule = part.dates[0].text, "date words in the request"
            elif kind in ("start", "end", "date") and dates:
                period = dates[0].period
                day = period.start if kind in ("start", "date") else period.end
                value = day.isoformat()
                rule = f"date '{dates[0].text}' -> {period.start.isoformat()}..{period.end.isoformat()}"
            elif kind == "place":
                free_places = [p for p in places if p not in used_strings]
                if free_places:
                    value, rule = free_places[0], "place named in the request"
                    used_strings.add(free_places[0])
                    # An optional region-like filter is applied only when this part itself names the place.
                    if name not in required and not part.places:
                        value = None
                elif name in required and self.default_city:
                    value, rule = self.default_city, "settings.default_city"
            elif kind == "count":
                wanted = part.top_n or needs
                default = spec.get("default")
                if wanted:
                    if isinstance(default, int) and not part.top_n:
                        wanted = max(wanted, default)
                    value, rule = wanted, ("'top N' in the request" if part.top_n else
                                           f"a later part reads item {needs}")
            elif kind == "enum":
                choice = _enum_choice(list(spec.get("enum") or []), part, tool)
                if choice is not None:
                    value, rule = choice, "enum value named by the request's words"
            elif kind == "url" and part.urls:
                value, rule = part.urls[0], "URL in the request"
            elif kind == "file":
                pool = [f for f in (part.files or part.quoted) if f not in used_strings]
                if pool:
                    value, rule = pool[0], "file named in the request"
                    used_strings.add(pool[0])
                elif priors and name in required:
                    # Data flows on: the file this step needs is what the step before produced.
                    value, rule = f"${{{priors[-1].step_id}.output}}", f"output of {priors[-1].step_id}"
                    out.references.add(priors[-1].step_id)
            elif kind == "number":
                near = _near_number(name, spec, part, used_numbers)
                if near is not None:
                    used_numbers.add(near[0])
                    value, rule = _coerce_number(near[1], spec), "number next to the parameter's name"
            elif kind == "text":
                value, rule = self._text(tool, part, priors, out), "the part's own words"
            elif kind == "string":
                pool = [q for q in part.quoted if q not in used_strings]
                if pool and name in required:
                    value, rule = pool[0], "quoted in the request"
                    used_strings.add(pool[0])
                elif name in required and (named := _near_name(name, spec, part, used_strings | set(places))):
                    value, rule = named, "name written next to the parameter's words"
                    used_strings.add(named)
                elif name in required and (named := _modifier_of(name, part.text, used_strings)):
                    value, rule = named, "words naming the parameter's noun ('my electricity bill', 'year 2021')"
                    used_strings.add(named)
            if value is not None:
                out.args[name] = value
                out.slots[name] = rule
        # Numbers not claimed by a name go, in order, to required numeric parameters still empty.
        free = [n for i, n in enumerate(part.numbers) if i not in used_numbers]
        for name, spec in props.items():
            if name in out.args or name not in required or slot_kind(name, spec) != "number" or not free:
                continue
            out.args[name] = _coerce_number(free.pop(0).value, spec)
            out.slots[name] = "next number in the request"
        for name in props:
            if name in required and name not in out.args:
                out.missing.append(name)
                out.missing_kinds[name] = slot_kind(name, props[name])
        return out

    def _text(self, tool: Tool, part: Part, priors: list[Prior], out: Filled) -> str:
        text = part.text
        if priors and (part.refers_back or part.writes):
            data = "\n".join(f"${{{p.step_id}.output}}" for p in priors)
            out.references.update(p.step_id for p in priors)
            return f"{text}\n{data}"  # llm tools fence each referenced output as data themselves
        return text
