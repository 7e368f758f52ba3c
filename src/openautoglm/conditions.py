"""``when`` conditions: comparisons and boolean logic over step outputs and inputs, parsed by hand (never ``eval``).

    ${crm.output.tier} == "gold" and ${erp.output.total} >= 100
    not ${check.output.blocked} or ${inputs.force}
    ${order.output.country} in ["CN", "HK"]

Grammar (lowest precedence first)::

    expr    := and ("or" and)*          ("||" too)
    and     := not ("and" not)*         ("&&" too)
    not     := "not" not | compare      ("!" too)
    compare := atom [op atom]           op: == != < <= > >= in, not in
    atom    := ${reference} | number | "string" | 'string' | true | false | null | [atom, ...] | ( expr )

A lone value counts by truthiness (:func:`is_truthy`: "", "0", "false", "no", "否" are false). Numbers compare as
numbers, a number written as text too (HTTP outputs are often text); ordering values of different kinds is an
error, not a silent false. Imports nothing of the project: the plan validator parses conditions with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FALSY_TEXT = frozenset({"", "0", "false", "no", "none", "null", "否", "假"})
MAX_CONDITION_CHARS = 2000


class ConditionError(ValueError):
    """A condition that cannot be read, or whose values cannot be compared."""


def is_truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in FALSY_TEXT
    return bool(value)


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<ref>\$\{[^}]*\})
    | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op>==|!=|<=|>=|<|>|&&|\|\||!|\(|\)|\[|\]|,)
    | (?P<word>[A-Za-z_]+)
    )""", re.VERBOSE)
_WORDS = {"and", "or", "not", "in", "true", "false", "null", "none", "True", "False", "None"}
_CONSTANTS = {"true": True, "True": True, "false": False, "False": False, "null": None, "none": None, "None": None}
_ALIASES = {"&&": "and", "||": "or", "!": "not"}
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")

Lookup = Callable[[str], Any]  # the text inside ${...} -> its value


@dataclass(frozen=True)
class Condition:
    text: str
    tree: Any  # nested tuples: ("ref", text) | ("lit", v) | ("list", [..]) | ("not", x) | ("and"/"or", a, b)
    #            | ("cmp", op, a, b)

    @property
    def references(self) -> list[str]:
        found: list[str] = []

        def walk(node: Any) -> None:
            if node[0] == "ref":
                found.append(node[1])
            elif node[0] == "list":
                for item in node[1]:
                    walk(item)
            elif node[0] in ("not",):
                walk(node[1])
            elif node[0] in ("and", "or"):
                walk(node[1])
                walk(node[2])
            elif node[0] == "cmp":
                walk(node[2])
                walk(node[3])

        walk(self.tree)
        return found

    def evaluate(self, lookup: Lookup) -> bool:
        return is_truthy(_value(self.tree, lookup))


def parse_condition(text: str) -> Condition:
    """Parse ``text``; raise :class:`ConditionError` saying where it goes wrong."""
    if len(text) > MAX_CONDITION_CHARS:
        raise ConditionError(f"condition longer than {MAX_CONDITION_CHARS} characters")
    tokens = _tokenize(text)
    parser = _Parser(tokens, text)
    tree = parser.expr()
    if parser.pos < len(tokens):
        raise ConditionError(f"condition {text!r}: unexpected {tokens[parser.pos][1]!r}")
    return Condition(text, tree)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ConditionError(f"condition {text!r}: cannot read {text[pos:].strip()[:20]!r}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "word" and value not in _WORDS:
            raise ConditionError(f"condition {text!r}: unknown word {value!r} (values come from ${{step.output}} "
                                 "or ${inputs.name}; text goes in quotes)")
        if kind == "op" and value in _ALIASES:
            kind, value = "word", _ALIASES[value]
        tokens.append((kind, value))
        pos = m.end()
    if not tokens:
        raise ConditionError("condition is empty")
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.text = text

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[1] == value and tok[0] in ("word", "op"):
            self.pos += 1
            return True
        return False

    def fail(self, what: str) -> ConditionError:
        tok = self.peek()
        found = repr(tok[1]) if tok else "the end"
        return ConditionError(f"condition {self.text!r}: expected {what}, found {found}")

    def expr(self) -> Any:
        node = self.conj()
        while self.take("or"):
            node = ("or", node, self.conj())
        return node

    def conj(self) -> Any:
        node = self.neg()
        while self.take("and"):
            node = ("and", node, self.neg())
        return node

    def neg(self) -> Any:
        if self.take("not"):
            return ("not", self.neg())
        return self.compare()

    def compare(self) -> Any:
        left = self.atom()
        tok = self.peek()
        if tok is None:
            return left
        if tok[1] == "not" and self.pos + 1 < len(self.tokens) and self.tokens[self.pos + 1][1] == "in":
            self.pos += 2
            return ("cmp", "not in", left, self.atom())
        if tok[1] in _COMPARISONS and tok[0] in ("op", "word"):
            self.pos += 1
            return ("cmp", tok[1], left, self.atom())
        return left

    def atom(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise self.fail("a value")
        kind, value = tok
        self.pos += 1
        if kind == "ref":
            inner = value[2:-1].strip()
            if not inner:
                raise ConditionError(f"condition {self.text!r}: empty reference ${{}}")
            return ("ref", inner)
        if kind == "num":
            return ("lit", float(value) if any(c in value for c in ".eE") else int(value))
        if kind == "str":
            return ("lit", re.sub(r"\\(.)", r"\1", value[1:-1]))
        if kind == "word" and value in _CONSTANTS:
            return ("lit", _CONSTANTS[value])
        if value == "(":
            node = self.expr()
            if not self.take(")"):
                raise self.fail("')'")
            return node
        if value == "[":
            items: list[Any] = []
            if not self.take("]"):
                items.append(self.atom())
                while self.take(","):
                    items.append(self.atom())
                if not self.take("]"):
                    raise self.fail("']'")
            return ("list", items)
        self.pos -= 1
        raise self.fail("a value")


def _value(node: Any, lookup: Lookup) -> Any:
    kind = node[0]
    if kind == "ref":
        return lookup(node[1])
    if kind == "lit":
        return node[1]
    if kind == "list":
        return [_value(n, lookup) for n in node[1]]
    if kind == "not":
        return not is_truthy(_value(node[1], lookup))
    if kind == "and":
        return is_truthy(_value(node[1], lookup)) and is_truthy(_value(node[2], lookup))
    if kind == "or":
        return is_truthy(_value(node[1], lookup)) or is_truthy(_value(node[2], lookup))
    return _compare(node[1], _value(node[2], lookup), _value(node[3], lookup))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("in", "not in"):
        if isinstance(right, str):
            found = str(left) in right
        elif isinstance(right, list | tuple | dict):
            found = left in right or (_number(left) is not None
                                      and any(_number(r) == _number(left) for r in right))
        else:
            raise ConditionError(f"'{op}' needs a list or text on its right, got {type(right).__name__}")
        return found if op == "in" else not found
    a, b = _number(left), _number(right)
    if a is not None and b is not None and not (isinstance(left, str) and isinstance(right, str)):
        left, right = a, b
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if type(left) is not type(right) and not (isinstance(left, int | float) and isinstance(right, int | float)):
        raise ConditionError(f"cannot order {type(left).__name__} {left!r} and {type(right).__name__} {right!r}")
    try:
        return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])
    except TypeError as exc:
        raise ConditionError(f"cannot order {left!r} and {right!r}") from exc
