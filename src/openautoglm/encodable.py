"""Text that can be stored and sent: every string must encode as UTF-8. Pure: imports nothing of the project.

A Python string can hold a lone surrogate (``"\\ud800"`` read from JSON, an undecodable byte of a command-line
argument turned into ``"\\udcff"``) that no database column, JSON response or HTTP body can carry: stored once, it
breaks every later read of the record. Such text is refused where it enters (the gateway's request bodies, plans,
requests), before anything is stored, and the refusal names where it was, never the text itself (which could not
be printed either).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Lone surrogates are the only code points a str can hold that UTF-8 cannot encode.
_SURROGATE = re.compile("[\ud800-\udfff]")
# In JSON text, a surrogate can arrive only as a \uXXXX escape (raw ones are invalid UTF-8, refused before).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

PROBLEM = "text is not valid Unicode (it holds a lone UTF-16 surrogate such as \\ud800, which UTF-8 cannot encode)"


def is_encodable(text: str) -> bool:
    return _SURROGATE.search(text) is None


def unencodable_at(value: Any, where: str = "") -> str | None:
    """The dotted path (``messages.0.content``) of the first string or key in ``value`` that cannot be encoded as
    UTF-8, ``where`` itself for a bad scalar, or None when every string encodes. Iterative: untrusted JSON may nest
    deeper than Python's recursion limit allows."""
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not is_encodable(item):
                return path
        elif isinstance(item, Mapping):
            children: list[tuple[str, Any]] = []
            for key, child in item.items():
                if isinstance(key, str) and not is_encodable(key):
                    return f"{path} (a key)" if path else "(a key)"
                children.append((f"{path}.{key}" if path else str(key), child))
            stack.extend(reversed(children))  # depth-first in document order: the first bad field is named
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(f"{path}.{i}" if path else str(i), child) for i, child in enumerate(item)]))
    return None


def may_hold_surrogates(json_text: str) -> bool:
    """Cheap test of raw JSON text: False means no string in it can decode to a lone surrogate."""
    return _SURROGATE_ESCAPE.search(json_text) is not None
