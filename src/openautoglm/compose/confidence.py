"""The status an answer earns and how sure it is.

Status: every part done (a tool's fact, a knowledge-base answer, writing a model was asked for and that passed its
checks, a courtesy reply to small talk) → ``succeeded``; some done and some failed, skipped or unsupported →
``partial``; nothing done and nothing tried (every part unsupported) → ``unsupported``; nothing done otherwise →
``failed``. A model standing in for a
tool that failed never counts as done.

Confidence, in [0, 1], is the mean over the reply's parts of how far each can be trusted, times a factor for the
writer::

    confidence = writer_factor * mean(score(part) for each part)

    score = 0.95                         a deterministic tool's result, in the tool's own sentence
          = 0.50 + 0.45 * relevance      a knowledge-base answer; relevance in [0, 1] is retrieval's own measure of
                                         how well the best passage matches (memory/kb: keyword coverage, cosine)
          = 0.60 (capable model)         writing a model did inside the plan, after the checks on generated text
            0.45 (small model)           and the grounding of its figures
          = 0.60                         the composer's courtesy reply to small talk whose model text failed its
                                         checks (a greeting back states nothing that could be wrong)
          = 0.30                         a capable model answering for a tool that failed (shown, marked unchecked)
          = 0                            a failed, skipped or unsupported part
    writer_factor = 1 (deterministic) | 0.95 (the capable model wrote the reply; every figure in it was checked)

So one unsupported part of two halves the confidence, a reply built only from tool facts is 0.95, and one that
says only what could not be done is 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Status
from .outcomes import Outcome, Source

MODEL_WRITER_FACTOR = 0.95


def status_of(parts: Sequence[Outcome]) -> Status:
    if not parts:
        return "failed"
    done = sum(p.done for p in parts)
    if done == len(parts):
        return "succeeded"
    if done:
        return "partial"
    if all(p.source == Source.UNSUPPORTED for p in parts):
        return "unsupported"
    return "failed"


def confidence_of(parts: Sequence[Outcome], writer: str = "deterministic") -> float:
    if not parts:
        return 0.0
    mean = sum(max(0.0, min(1.0, p.score)) for p in parts) / len(parts)
    factor = MODEL_WRITER_FACTOR if writer == "model" else 1.0
    return round(max(0.0, min(1.0, factor * mean)), 3)
