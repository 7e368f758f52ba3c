"""The writer that needs no model: each part's sentence (a tool's own answer, a knowledge answer with its source,
checked model writing, or what could not be done and why), in the order of the request, joined as prose."""

from __future__ import annotations

from collections.abc import Sequence

from . import phrases
from .language import Lang
from .outcomes import Outcome, Source


class DeterministicWriter:
    name = "deterministic"

    def write(self, parts: Sequence[Outcome], lang: Lang) -> str:
        pieces: list[tuple[str, bool]] = []
        for i, part in enumerate(parts):
            before = parts[i - 1] if i else None
            continues = bool(before and before.done and part.done and before.step_id in part.uses_results_of)
            pieces.append((part.sentence, continues))
        reply = phrases.join(pieces, lang)
        # The composer's own sentences end like sentences; text a model wrote ends as it was written.
        return reply if parts and parts[-1].source == Source.GENERATED else phrases.sentence(reply, lang)

    def write_after(self, reply: str, parts: Sequence[Outcome], lang: Lang) -> str:
        """``reply`` (another writer's) followed by the sentences of ``parts``."""
        if not parts:
            return reply
        return phrases.join([(reply, False), *((p.sentence, False) for p in parts)], lang)
