"""How sure a support reply is, measured from evidence and calibrated on labelled messages.

The features (each in [0, 1]) are measured, never asserted:

- retrieval: ``relevance`` of the passage the draft quotes (memory/kb: keyword coverage and cosine, absolute across
  queries), its ``margin`` over the best passage of another document (two documents matching alike: ambiguous), and
  ``coverage``, the share of the message's words the quoted sentences contain; for an order, whether the order tool
  found the order (all three 1) or not (0);
- agreement: ``same_language`` (the passage is in the message's language);
- the kind of evidence: ``order`` (the order tool's record, not a passage);
- the message: ``anger``, ``brevity`` (one or two words of content: too little to know what is asked), and
  ``follow_up`` (it leans on the previous message).

``confidence = sigmoid(bias + Σ weight·feature)``, the weights fitted by logistic regression on the development
split of the labelled set (``bench/support.py --fit`` writes ``calibration.yaml``; the held-out split is never
fitted on). Then two gates that no weight can buy back, both checks from ``compose/``: a draft stating a number,
date or name not found in its sources (``compose.grounding``) scores 0, and a draft failing the checks on text
(``compose.checks``: loops, wrong language, empty) scores at most half.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import yaml

from ...compose.checks import text_problems
from ...compose.grounding import Known, ungrounded
from ...compose.language import Lang
from .drafts import Draft
from .message import MessageFeatures

FEATURES = ("relevance", "margin", "coverage", "same_language", "order", "anger", "brevity", "follow_up")


@dataclass(frozen=True)
class Calibration:
    bias: float
    weights: dict[str, float]

    @classmethod
    def bundled(cls) -> Calibration:
        data = yaml.safe_load((files("openautoglm.apps.support") / "calibration.yaml").read_text(encoding="utf-8"))
        return cls(float(data["bias"]), {k: float(v) for k, v in data["weights"].items()})

    def score(self, features: dict[str, float]) -> float:
        z = self.bias + sum(self.weights.get(name, 0.0) * features.get(name, 0.0) for name in FEATURES)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class Assessment:
    confidence: float
    features: dict[str, float]
    problems: list[str]


def features_of(message: MessageFeatures, draft: Draft) -> dict[str, float]:
    ev = draft.evidence
    return {
        "relevance": ev.get("relevance", 0.0),
        "margin": ev.get("margin", 0.0),
        "coverage": ev.get("coverage", 0.0),
        "same_language": ev.get("same_language", 0.0),
        "order": ev.get("order", 0.0),
        "anger": message.anger,
        "brevity": message.brevity,
        "follow_up": 1.0 if message.follow_up else 0.0,
    }


def draft_problems(text: str, facts: Sequence[Any], message: str, lang: Lang) -> list[str]:
    """What is wrong with a draft: a fact not in its sources, or a text check that fails."""
    return ungrounded(text, Known.of([*facts, message])) + text_problems(text, lang)


def assess(message: MessageFeatures, draft: Draft | None, calibration: Calibration) -> Assessment:
    if draft is None:
        return Assessment(0.0, {}, ["nothing to draft from"])
    features = features_of(message, draft)
    confidence = calibration.score(features)
    grounding = ungrounded(draft.text, Known.of([*draft.facts, message.text]))
    checks = text_problems(draft.text, message.lang)
    if grounding:
        confidence = 0.0
    elif checks:
        confidence *= 0.5
    return Assessment(round(confidence, 3), features, grounding + checks)


def fit(rows: Sequence[tuple[dict[str, float], int]], l2: float = 0.001, steps: int = 20000,
        rate: float = 0.5) -> Calibration:
    """Logistic regression by gradient descent: P(a reply sent as drafted is right | features)."""
    w = dict.fromkeys(FEATURES, 0.0)
    b = 0.0
    n = max(1, len(rows))
    for _ in range(steps):
        gw = dict.fromkeys(FEATURES, 0.0)
        gb = 0.0
        for x, y in rows:
            z = b + sum(w[f] * x.get(f, 0.0) for f in FEATURES)
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            for f in FEATURES:
                gw[f] += (p - y) * x.get(f, 0.0)
            gb += p - y
        for f in FEATURES:
            w[f] -= rate * (gw[f] / n + l2 * w[f])
        b -= rate * gb / n
    return Calibration(round(b, 4), {f: round(v, 4) for f, v in w.items()})
