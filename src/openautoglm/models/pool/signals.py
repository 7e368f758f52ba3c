"""What the router observed, kept for the policy loop (policies/loop.py) and ``GET /v1/policies/signals``: each call's
outcome under the policy version that routed it, each node's latency, errors, tokens and cost per capability, and
users' ratings of answers joined to the nodes and policy version that produced them.

Bounded: the last ``keep`` calls, the last ``NODE_SAMPLES`` latencies per node and capability."""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

NODE_SAMPLES = 256
FEEDBACK_KEPT = 200


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One routed call: the policy version that routed it (None: as configured), its capability, the node that
    answered (or was tried last), its whole latency with retries, and whether it got an answer."""

    seq: int
    version: int | None
    capability: str
    node: str | None
    latency_s: float
    ok: bool


@dataclass(slots=True)
class NodeSignals:
    """One node's figures for one capability."""

    calls: int = 0
    errors: int = 0
    tokens: int = 0
    cost: float = 0.0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=NODE_SAMPLES))
    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=NODE_SAMPLES))
    ratings: deque[int] = field(default_factory=lambda: deque(maxlen=FEEDBACK_KEPT))  # +1 / -1
    last_seq: int = 0  # the call count when this node last answered or failed (staleness)

    def error_rate(self, last: int = NODE_SAMPLES) -> float:
        recent = list(self.outcomes)[-last:]
        return 0.0 if not recent else 1.0 - sum(recent) / len(recent)

    def bad_rating_rate(self, last: int = FEEDBACK_KEPT) -> float:
        recent = list(self.ratings)[-last:]
        return 0.0 if not recent else sum(1 for r in recent if r < 0) / len(recent)

    def median_latency_s(self, last: int = NODE_SAMPLES) -> float | None:
        recent = list(self.latencies)[-last:]
        return statistics.median(recent) if recent else None

    def describe(self) -> dict[str, Any]:
        median = self.median_latency_s()
        return {"calls": self.calls, "errors": self.errors, "error_rate": round(self.error_rate(), 4),
                "median_latency_ms": None if median is None else round(median * 1000, 3),
                "tokens": self.tokens, "cost": round(self.cost, 6), "ratings": len(self.ratings),
                "bad_rating_rate": round(self.bad_rating_rate(), 4)}


class Signals:
    """The router's observations; appended to by the router, read by the loop (one event loop: no locks)."""

    def __init__(self, keep: int = 8192) -> None:
        self.calls: deque[CallOutcome] = deque(maxlen=keep)
        self.seq = 0
        self.nodes: dict[tuple[str, str], NodeSignals] = {}  # (capability, node) -> figures
        self.version_ratings: dict[int | None, deque[int]] = {}
        self.rated: dict[int | None, int] = {}  # ratings per policy version, ever (a trial subtracts its start)
        self.bad: dict[int | None, int] = {}
        self.started = time.time()

    def node(self, capability: str, node: str) -> NodeSignals:
        entry = self.nodes.get((capability, node))
        if entry is None:
            entry = self.nodes[(capability, node)] = NodeSignals()
        return entry

    def attempt(self, capability: str, node: str, latency_s: float, ok: bool, tokens: int = 0,
                cost: float = 0.0) -> None:
        entry = self.node(capability, node)
        entry.calls += 1
        entry.errors += not ok
        entry.tokens += tokens
        entry.cost += cost * tokens / 1000.0  # a node's cost is per thousand tokens
        entry.outcomes.append(ok)
        entry.last_seq = self.seq
        if ok:
            entry.latencies.append(latency_s)

    def call(self, version: int | None, capability: str, node: str | None, latency_s: float, ok: bool) -> None:
        self.seq += 1
        self.calls.append(CallOutcome(self.seq, version, capability, node, latency_s, ok))

    def rating(self, nodes: Iterable[str], rating: int, versions: Iterable[int | None] = (),
               capability: str | None = None) -> None:
        """A user's rating of an answer (``rating`` > 0 good, < 0 bad), joined to its nodes and policy versions."""
        sign = 1 if rating > 0 else -1
        for name in nodes:
            for (cap, node), entry in self.nodes.items():
                if node == name and (capability is None or cap == capability):
                    entry.ratings.append(sign)
        for version in versions:
            self.version_ratings.setdefault(version, deque(maxlen=FEEDBACK_KEPT)).append(sign)
            self.rated[version] = self.rated.get(version, 0) + 1
            self.bad[version] = self.bad.get(version, 0) + (sign < 0)

    def since(self, seq: int, version: int | None, capability: str | None = None) -> list[CallOutcome]:
        """The calls after ``seq`` routed by ``version`` (of ``capability`` when given)."""
        return [c for c in self.calls if c.seq > seq and c.version == version
                and (capability is None or c.capability == capability)]

    def capabilities(self) -> dict[str, list[str]]:
        """Each capability seen, with the nodes seen serving it."""
        found: dict[str, list[str]] = {}
        for cap, node in self.nodes:
            found.setdefault(cap, []).append(node)
        return found

    def describe(self) -> dict[str, Any]:
        return {"calls": self.seq,
                "nodes": [{"capability": cap, "node": node, **entry.describe()}
                          for (cap, node), entry in sorted(self.nodes.items())],
                "ratings_by_policy": {str(v): {"ratings": len(r), "bad": sum(1 for x in r if x < 0)}
                                      for v, r in self.version_ratings.items()}}
