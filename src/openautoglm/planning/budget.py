"""What model fills may cost while one request is planned: the bound on planning time with a small model.

A rule planner asks the model only for arguments rules could not find, but each ask is a constrained generation
that may run to its token limit (a grammar the model struggles with, a schema with many fields): unbounded, a
one-line request was seen to spend 42 s in one failed fill for a tool it did not use. So, per request:

- a time budget shared by every fill; a fill gets what is left and is stopped when it runs out (the embedded
  model stops generating at its next token), and once it is spent no fill starts;
- a token limit per fill made from the kinds of the slots asked for (a number needs a few tokens, free text more);
- no fill for a tool of which rules found none of several required arguments: its match is words alone;
- a fill that failed on the model's side (an error, not a value rejected afterwards) is not asked again for the
  same tool and part: with temperature 0 it would fail the same way.

Every cut is an event (``budget.cut``) in the task's trace with what was skipped and why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Answer tokens a slot of each kind needs at most, its name and JSON punctuation aside. Measured on SmolLM2's
# tokenizer: a number or a date is under 10 tokens, a city or a name under 15, a sentence of free text 40-80.
TOKENS_PER_KIND: dict[str, int] = {
    "boolean": 4, "number": 10, "count": 8, "date": 14, "start": 14, "end": 14, "enum": 16, "string": 32,
    "url": 48, "file": 40, "text": 80, "other": 48,
}
JSON_OVERHEAD_TOKENS = 6  # braces, quotes, commas


@dataclass
class FillBudget:
    """The model-fill allowance of one planning run. ``clock`` is injectable so tests need not sleep."""

    seconds: float = 1.5
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)
    failed: set[tuple[str, str]] = field(default_factory=set)  # (tool, part text) whose fill failed

    def __post_init__(self) -> None:
        self.started = self.clock()

    def left(self) -> float:
        return max(0.0, self.seconds - (self.clock() - self.started))

    def refusal(self, tool: str, part: str) -> str | None:
        """Why no fill may start for ``tool`` on ``part`` now, or None when one may."""
        if (tool, part) in self.failed:
            return "the same fill failed already"
        if self.left() <= 0:
            return f"the planning budget of {self.seconds:g}s for model fills is spent"
        return None


def fill_tokens(kinds: Mapping[str, str], schemas: Mapping[str, Any], ceiling: int) -> int:
    """A token limit for one fill of the slots ``kinds`` ({name: kind}) with these property ``schemas``: enough
    for the longest plausible value of each kind, never above ``ceiling``."""
    total = JSON_OVERHEAD_TOKENS
    for name, kind in kinds.items():
        need = TOKENS_PER_KIND.get(kind, TOKENS_PER_KIND["other"])
        enum = (schemas.get(name) or {}).get("enum")
        if enum:
            need = max(len(str(v)) for v in enum) // 2 + 4  # a choice is written out in full
        total += len(name) // 3 + 3 + need  # the key, quoted, and its colon
    return min(total, ceiling)
