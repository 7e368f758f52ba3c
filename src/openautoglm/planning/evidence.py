"""What a part of a request says about one parameter: a number or a name written next to the parameter's words,
the words naming its noun, values listed for it, values written out as ``name = value``, an enum value it names.

Pure functions over the part's text and entities, used by the slot fillers in :mod:`.slots`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..tools.base import Tool
from .intent import Part
from .text import concepts, has_cjk, lexicon, terms


def cue_words(words: set[str], text: str) -> set[str]:
    """The words that point at a parameter in ``text``: its own (English) words and, in a Chinese request, the
    Chinese words of the same bilingual concepts ("customer" -> 客户), so a value named next to them is found."""
    if not has_cjk(text):
        return words
    lex = lexicon()
    wanted = concepts(sorted(words), lex)
    return words | {w for w, groups in lex.concepts.items() if groups & wanted and has_cjk(w)}


NUMERIC = re.compile(r"-?\d+(?:\.\d+)?")


def coerce_number(value: float, spec: Mapping[str, Any]) -> int | float:
    if spec.get("type") == "integer":
        return round(value)
    return int(value) if float(value).is_integer() else value


def near_number(name: str, spec: Mapping[str, Any], part: Part, used: set[int]) -> tuple[int, float] | None:
    """The number written closest after (or before) the parameter's name or description words."""
    words = {w for w in terms(name.replace("_", " ")) if len(w) > 1}
    words |= {w for w in terms(str(spec.get("description") or ""))[:3] if len(w) > 2}
    words = cue_words(words, part.text)
    text = part.text.lower()
    best: tuple[int, int, float] | None = None
    for w in sorted(words):  # sorted: a tie goes the same way in every process
        for m in re.finditer(re.escape(w), text):
            for i, n in enumerate(part.numbers):
                if i in used or in_code(part, i):
                    continue
                distance = n.start - m.end() if n.start >= m.end() else (m.start() - n.start) * 2 + 10
                if distance < 40 and (best is None or distance < best[0]):
                    best = (distance, i, n.value)
    return (best[1], best[2]) if best else None


# A number's unit or noun ("2 units", "3 个", "5 km"): the word written right after it.
_UNIT_AFTER = re.compile(r"\s*([A-Za-z]+|[\u4e00-\u9fff]{1,2})")
# Units and measure words, in either language, and the words a parameter taking such a number is named by:
# "2 units" is a quantity, "30 minutes" a duration, "5 km" a distance.
UNIT_FAMILIES: tuple[tuple[frozenset[str], frozenset[str]], ...] = (
    (frozenset({"unit", "units", "piece", "pieces", "pcs", "item", "items", "box", "boxes", "pack", "packs", "copy",
                "copies", "pair", "pairs", "个", "件", "台", "箱", "份", "套", "只", "本", "瓶", "盒", "包", "双",
                "张", "把", "支", "条", "块", "辆", "部"}),
     frozenset({"quantity", "qty", "count", "amount", "number", "num", "units", "pieces", "copies", "items", "n",
                "times", "repeat", "repetitions", "total"})),
    (frozenset({"second", "seconds", "sec", "secs", "minute", "minutes", "min", "mins", "hour", "hours", "hr", "hrs",
                "day", "days", "week", "weeks", "month", "months", "year", "years", "秒", "分钟", "小时", "天", "周",
                "个月", "年"}),
     frozenset({"duration", "time", "length", "period", "timeout", "delay", "minutes", "seconds", "hours", "days",
                "weeks", "months", "years", "interval", "term", "age"})),
    (frozenset({"km", "kilometer", "kilometers", "kilometre", "kilometres", "m", "meter", "meters", "metre", "metres",
                "cm", "mm", "mile", "miles", "ft", "feet", "foot", "inch", "inches", "yard", "yards", "公里", "米",
                "千米", "厘米", "英里"}),
     frozenset({"distance", "length", "radius", "height", "width", "depth", "diameter", "side", "base", "range"})),
    (frozenset({"kg", "g", "gram", "grams", "kilogram", "kilograms", "lb", "lbs", "pound", "pounds", "oz", "ounce",
                "ounces", "ton", "tons", "公斤", "千克", "克", "斤", "吨"}),
     frozenset({"weight", "mass"})),
    (frozenset({"dollar", "dollars", "usd", "eur", "euro", "euros", "yuan", "rmb", "cny", "pound", "pounds", "元",
                "块钱", "美元", "欧元"}),
     frozenset({"price", "amount", "cost", "budget", "salary", "fee", "payment", "income", "principal", "balance",
                "money", "value"})),
)
# Parameter names that identify a record (after snake_case): an identifier is copied from the request or an
# earlier step, never made from a quantity. An integer ``page_number`` or ``dice_number`` is a count; an integer
# ``user_id`` is not.
IDENTIFIER = re.compile(r"^(?:id|uuid)$|_(?:id|ids|uuid|key|code|number|no|ref)$")
NUMERIC_IDENTIFIER = re.compile(r"^(?:id|uuid)$|_(?:id|ids|uuid)$")


def unit_of(part: Part, index: int) -> str:
    """The word written right after the ``index``-th number of the part ("units" in "2 units"), lower-cased."""
    n = part.numbers[index]
    m = _UNIT_AFTER.match(part.text, n.start + len(n.text))
    return m.group(1).lower() if m else ""


def unit_fits(name: str, unit: str) -> bool:
    """Whether a number's unit says it is this parameter's value: "2 units" or "2件" for ``quantity``, "30 minutes"
    for ``duration`` or ``duration_minutes``, "5 km" for ``distance``."""
    if not unit:
        return False
    words = set(terms(name.replace("_", " ")))
    # A Chinese measure word is read with what follows it ("件商品"): try the whole and its first character.
    spellings = {unit, unit[:1]} if not unit.isascii() else {unit, unit.rstrip("s")}
    if spellings & words:
        return True
    return any(spellings & units and words & names for units, names in UNIT_FAMILIES)


# A name may follow a Chinese word directly ("客户Acme"): only a Latin letter or digit before it joins it to a word.
_NAME_CHAR = r"[^\W\u3000-\u9fff\uff00-\uffef]"  # a word character that is not Chinese: a name ends at 的, 创建...
_PROPER = re.compile(rf"(?<![A-Za-z0-9_'])(?:[A-Z](?:{_NAME_CHAR}|['&\-])*\.?)"
                     rf"(?:\s+(?:of\s+|the\s+|de\s+)?[A-Z](?:{_NAME_CHAR}|['&\-])*)*")
_TOKENISH = re.compile(r"(?<![\w#+])(?:\+?\d[\d\- ]{5,}\d|#\d+|\d{1,2}:\d{2}(?:\s?[ap]m)?|\$\d[\d,.]*)", re.I)
_SENTENCE_START = {"i", "i'd", "i'm", "please", "can", "could", "what", "how", "the", "a", "my", "hi", "hello", "find",
                   "get", "tell", "calculate", "compute", "make", "play", "book", "order", "send", "give", "show",
                   "what's", "is", "are", "do", "does", "let", "help", "write", "create", "set", "check", "search"}


def _without_noun(start: int, text: str, nouns: set[str]) -> tuple[int, str]:
    first = re.match(r"\S+\s+(?=[A-Z0-9])", text)  # "Museum of Modern Art" is a name of its own
    if first and first.group(0).strip().lower() in nouns:
        return start + first.end(), text[first.end():]
    return start, text


def near_name(name: str, spec: Mapping[str, Any], part: Part, used: set[str]) -> str | None:
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
    own = {w for w in terms(name.replace("_", " ")) if len(w) > 2}
    # "SKU A-100" for ``sku``: the parameter's own noun written before the value is not part of it.
    found = [_without_noun(i, t, own) for i, t in found]
    cues = cue_words(own | {w for w in terms(str(spec.get("description") or "")) if len(w) > 3}, part.text)
    low = part.text.lower()
    best: tuple[int, str] | None = None
    for cue in sorted(cues):
        for m in re.finditer(re.escape(cue), low):
            for start, text in found:
                distance = start - m.end()
                if 0 <= distance < 30 and (best is None or distance < best[0]):
                    best = (distance, text)
    return best[1] if best else None


_DETERMINERS = r"(?:my|the|a|an|our|your|his|her|their|this|that|some)"
_NOT_MODIFIERS = {"my", "the", "a", "an", "our", "your", "his", "her", "their", "this", "that", "some", "new", "same",
                  "next", "last", "online", "specific", "to", "for", "of", "and", "or", "with", "in", "on", "at"}


def modifier_of(name: str, text: str, used: set[str]) -> str | None:
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


def assignments(text: str, props: Mapping[str, Any]) -> dict[str, Any]:
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


def enum_choice(values: list[Any], part: Part, tool: Tool) -> Any:
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



def in_code(part: Part, index: int) -> bool:
    """Whether a number is a piece of a code, an address or a date rather than a quantity: "A-100", "1 Main St"."""
    n = part.numbers[index]
    text, start, end = part.text, n.start, n.start + len(n.text)
    # "A-100", "x_2", "m/s^2": a number joined to a letter is a code or an exponent; "100-200" is a range.
    glued_before = start >= 2 and text[start - 1] in "-_/#^" and text[start - 2].isalpha()
    glued_after = end < len(text) and text[end] == "_"
    in_place = any(p in text and text.find(p) <= start < text.find(p) + len(p) for p in part.places)
    return glued_before or glued_after or in_place


def number_ties(name: str, part: Part, used: set[int], open_numeric: int) -> tuple[int, str] | None:
    """A number no other argument claimed that the text ties to a numeric parameter: ``(index, rule)``.

    Its unit names the parameter ("2 units" for ``quantity``, "2件" too); or the free quantities are exactly as
    many as the numeric parameters still empty (``open_numeric``, or come in groups of as many), so each is the next
    one's value ("the roots of 1, -3 and 2"). Otherwise a number said for something else is never taken: the model
    or the user decides."""
    free = [i for i in range(len(part.numbers)) if i not in used and not in_code(part, i)]
    for i in free:
        if unit_fits(name, unit_of(part, i)):
            return i, "number with a unit naming the parameter"
    # Several parameters and the numbers in groups of as many ("at 8:20 and 11:50" for hours and minutes): the
    # planner makes one call per group. A lone numeric parameter takes only a lone number.
    if free and (len(free) == open_numeric or (open_numeric > 1 and len(free) % open_numeric == 0)):
        return free[0], "next number in the request (one for each numeric parameter)"
    return None



def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def id_noun(name: str) -> str:
    """What an identifier parameter identifies: ``order_id`` -> "order", ``customerId`` -> "customer"."""
    noun = re.sub(r"_?(?:id|ids|uuid|key|code|number|no|ref|reference)$", "", snake_case(name))
    return noun.replace("_", " ").strip()


def written_identifier(name: str, part: Part, used: set[str]) -> str | None:
    """An identifier the request writes for a parameter: quoted, a code right after the parameter's noun
    ("order #A-17", "order ID 123", "customer C-9"), or a name right after it ("customer Acme"). A number joined
    to the noun by "of" is a quantity ("an order of 2 units"), not an identifier."""
    quoted = [q for q in part.quoted if q not in used]
    if quoted:
        return quoted[0]
    noun = id_noun(name)
    if len(noun) < 2:
        return None
    for cue in sorted(cue_words({noun}, part.text), key=len, reverse=True):
        edge = r"\b" if cue.isascii() else ""
        code = re.search(rf"{edge}{re.escape(cue)}s?\s*(?:id\b|number\b|no\.?|code\b|号|编号|#)?\s*[:：#]?\s*"
                         rf"(?<![A-Za-z0-9])([A-Z0-9][A-Za-z0-9\-]*\d[A-Za-z0-9\-]*|\d+)(?![A-Za-z0-9\-])",
                         part.text, re.I)
        if code and code.group(1) not in used:
            return code.group(1)
    # A name written right after the noun; the parameter's description says nothing about which value it is.
    return near_name(noun, {}, part, used | set(part.places))


def free_number(value: Any, part: Part, taken: Iterable[Any]) -> bool:
    """Whether a value is not a number the request said for something else: a number (or a string that is only a
    number) must be one of the part's quantities, outside codes and addresses, and not another argument's value."""
    text = str(value).strip() if isinstance(value, str) else None
    if isinstance(value, bool) or not (isinstance(value, int | float) or (text and NUMERIC.fullmatch(text))):
        return True
    number = float(value if text is None else text)
    others = {float(v) for v in taken if isinstance(v, int | float) and not isinstance(v, bool)}
    quantities = {n.value for i, n in enumerate(part.numbers) if not in_code(part, i)}
    return number in quantities and number not in others
