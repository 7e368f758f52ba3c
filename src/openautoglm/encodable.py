"""Data that can be stored and sent back: every string encodes as UTF-8, and nesting stays within
:data:`MAX_DEPTH` levels. Pure: imports nothing of the project.

A Python string can hold a lone surrogate (``"\\ud800"`` read from JSON, an undecodable byte of a command-line
argument turned into ``"\\udcff"``) that no database column, JSON response or HTTP body can carry; and a value
nested a thousand levels deep is stored fine but cannot be serialised into a response again. Stored once, either
breaks every later read of the record (the task list answers 500 to everyone). So such data is refused where it
enters (the gateway's request bodies, plans, requests), before anything is stored, and the refusal names where it
was, never the text itself (which could not be printed either).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Lone surrogates are the only code points a str can hold that UTF-8 cannot encode.
_SURROGATE = re.compile("[\ud800-\udfff]")
# In JSON text, a surrogate can arrive only as a \uXXXX escape (raw ones are invalid UTF-8, refused before).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

# Far more than any plan, chat or schema needs; far less than what serialisers and recursion limits allow.
MAX_DEPTH = 64

PROBLEM = "text is not valid Unicode (it holds a lone UTF-16 surrogate such as \\ud800, which UTF-8 cannot encode)"
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


def is_encodable(text: str) -> bool:
    return _SURROGATE.search(text) is None


def unstorable_at(value: Any, where: str = "", max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """``(path, problem)`` for the first place in ``value`` that cannot be stored and sent back: a string or key
    UTF-8 cannot encode (:data:`PROBLEM`), or a container nested more than ``max_depth`` levels (:data:`TOO_DEEP`);
    the path is dotted (``messages.0.content``), ``where`` itself for a bad scalar. None when all is well.
    Iterative, depth-first in document order: untrusted JSON may nest deeper than Python's recursion allows."""
    stack: list[tuple[str, Any, int]] = [(where, value, 0)]
    while stack:
        path, item, depth = stack.pop()
        if isinstance(item, str):
            if not is_encodable(item):
                return path, PROBLEM
            continue
        if not isinstance(item, Mapping | list | tuple):
            continue
        if depth >= max_depth:
            return path or "body", TOO_DEEP
        children: list[tuple[str, Any, int]] = []
        if isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str) and not is_encodable(key):
                    return (f"{path} (a key)" if path else "(a key)"), PROBLEM
                children.append((f"{path}.{key}" if path else str(key), child, depth + 1))
        else:
            children = [(f"{path}.{i}" if path else str(i), child, depth + 1) for i, child in enumerate(item)]
        stack.extend(reversed(children))
    return None


def unencodable_at(value: Any, where: str = "") -> str | None:
    """The path of the first string or key in ``value`` that UTF-8 cannot encode, or None."""
    found = unstorable_at(value, where, max_depth=2**31)
    return found[0] if found else None


def may_be_unstorable(json_text: str) -> bool:
    """Cheap test of raw JSON text: False means parsing it can give neither a lone surrogate nor more than
    :data:`MAX_DEPTH` levels (there are not even that many opening brackets)."""
    return (_SURROGATE_ESCAPE.search(json_text) is not None
            or json_text.count("{") + json_text.count("[") > MAX_DEPTH)
