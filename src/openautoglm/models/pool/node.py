"""One member of the pool and what the pool has measured about it: latency (EWMA), errors, concurrency limit.

Its ``effective`` weight (configured weight x health / latency) is what the weighted strategy shares calls by; its
concurrency limit grows additively while latency holds near its long-run baseline and is cut when it climbs.

The resource table reads the load a node reports with its heartbeats: above 85 % CPU with under 20 % memory free it
is drained (no calls while another node is usable); below 70 % CPU with over 30 % free it takes more (x1.5).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...errors import ConfigError
from ..base import ChatModel
from .breaker import HALF_OPEN, OPEN, Breaker

EWMA_ALPHA = 0.2
BASELINE_ALPHA = 0.02
MIN_LIMIT, MAX_LIMIT, INITIAL_LIMIT = 1.0, 1024.0, 32.0
LATENCY_TOLERANCE = 2.0  # latency within this factor of the node's baseline "holds": the limit may grow
WARMUP_CALLS = 3
PLANNING = "planning"
DRAIN_CPU, DRAIN_MEMORY_FREE = 85.0, 20.0  # percent: above that CPU with under that memory free: drained
MORE_CPU, MORE_MEMORY_FREE = 70.0, 30.0  # below that CPU with over that memory free: takes more
MORE_FACTOR = 1.5


class PoolNode:
    """One node in the pool and what the router has measured about it."""

    __slots__ = ("base_url", "baseline_s", "breaker", "calls", "capabilities", "context_window", "cost", "current",
                 "effective", "err_ewma", "errors", "ewma_s", "expires_at", "in_flight", "limit", "load", "load_factor",
                 "model", "name", "retired", "source", "timeout_s", "ttl_s", "weight")

    def __init__(
        self,
        model: ChatModel,
        *,
        name: str | None = None,
        capabilities: Iterable[str] | None = None,
        weight: float = 1.0,
        cost: float = 0.0,
        context_window: int | None = None,
        timeout_s: float | None = None,
        base_url: str | None = None,
        source: str = "api",
        ttl_s: float | None = None,
    ) -> None:
        if weight <= 0:
            raise ConfigError(f"node '{name or model.name}': weight must be above 0")
        self.model = model
        self.name = name or model.name
        self.capabilities = frozenset(capabilities or model.capabilities)
        self.weight = weight
        self.cost = cost
        self.context_window = context_window
        self.timeout_s = timeout_s
        self.base_url = base_url or getattr(model, "base_url", None)
        self.source = source
        self.ttl_s = ttl_s
        self.expires_at: float | None = None
        self.breaker = Breaker()
        self.ewma_s: float | None = None
        self.baseline_s: float | None = None
        self.err_ewma = 0.0
        self.in_flight = 0
        self.limit = INITIAL_LIMIT
        self.calls = 0
        self.errors = 0
        self.load: dict[str, float] = {}  # cpu_percent, memory_free_percent, queue_depth: the last heartbeat's
        self.load_factor = 1.0  # the resource table's: 0 drained, 1, or MORE_FACTOR
        self.retired = False  # left the pool; closed when its last call ends
        # Unmeasured nodes look fast, so each gets a first call soon and a real measurement.
        self.effective = weight / 0.001

    def plans(self, now: float) -> bool:
        """Live, and declares ``planning`` or has a model trusted to write plans (remote nodes by default)."""
        return self.live(now) and (PLANNING in self.capabilities or self.model.can_plan)

    def live(self, now: float) -> bool:
        return self.expires_at is None or now <= self.expires_at

    def succeeded(self, latency_s: float) -> None:
        self.calls += 1
        self.breaker.success()
        self.err_ewma -= EWMA_ALPHA * self.err_ewma
        if self.ewma_s is None:
            self.ewma_s = latency_s
        elif self.calls - self.errors <= WARMUP_CALLS:
            # A node's first calls pay for connection setup and lazy initialisation: keep the fastest of them,
            # or one slow first call would starve the node of the traffic that would correct the estimate.
            self.ewma_s = min(self.ewma_s, latency_s)
        else:
            self.ewma_s += EWMA_ALPHA * (latency_s - self.ewma_s)
        # The baseline is a slow average of the same samples: the latency the node shows over a long window.
        if self.baseline_s is None or self.calls - self.errors <= WARMUP_CALLS:
            self.baseline_s = self.ewma_s
        else:
            self.baseline_s += BASELINE_ALPHA * (latency_s - self.baseline_s)
        # Adaptive concurrency: additive increase while recent latency holds near the baseline, a multiplicative
        # cut while it climbs above it (the node is queueing our calls).
        if self.ewma_s <= LATENCY_TOLERANCE * self.baseline_s:
            self.limit = min(MAX_LIMIT, self.limit + 1.0 / self.limit)
        else:
            self.limit = max(MIN_LIMIT, self.limit * 0.95)
        self._reweigh()

    def failed(self, now: float) -> None:
        self.calls += 1
        self.errors += 1
        self.breaker.failure(now)
        self.err_ewma += EWMA_ALPHA * (1.0 - self.err_ewma)
        self.limit = max(MIN_LIMIT, self.limit * 0.5)
        self._reweigh()

    def _reweigh(self) -> None:
        health = (1.0 - self.err_ewma) ** 2
        latency = max(self.ewma_s or 0.001, 0.0005)
        self.effective = max(self.weight * health / latency, 1e-6)

    def report_load(self, cpu_percent: float | None, memory_free_percent: float | None,
                    queue_depth: int | None) -> None:
        """A heartbeat's figures, read through the resource table."""
        self.load = {k: v for k, v in (("cpu_percent", cpu_percent), ("memory_free_percent", memory_free_percent),
                                       ("queue_depth", queue_depth)) if v is not None}
        self.load_factor = resource_factor(cpu_percent, memory_free_percent)

    def state(self, now: float) -> str:
        if not self.live(now):
            return "lapsed"
        if self.breaker.state == OPEN:
            return "down" if now - self.breaker.opened_at < self.breaker.cooldown_s else "probing"
        if self.breaker.state == HALF_OPEN:
            return "probing"
        if not self.load_factor:
            return "drained"
        return "ready" if self.in_flight < self.limit else "saturated"

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": type(self.model).__name__,
            "base_url": self.base_url,
            "capabilities": sorted(self.capabilities),
            "source": self.source,
            "state": self.state(now),
            "weight": self.weight,
            "effective_weight": round(self.effective, 3),
            "ewma_latency_ms": None if self.ewma_s is None else round(self.ewma_s * 1000, 3),
            "in_flight": self.in_flight,
            "concurrency_limit": int(self.limit),
            "breaker": self.breaker.state,
            "consecutive_failures": self.breaker.failures,
            "calls": self.calls,
            "errors": self.errors,
            "cost": self.cost,
            "load": self.load,
            "json_schema": self.model.supports_json_schema,
            "can_plan": self.model.can_plan,
        }


def resource_factor(cpu_percent: float | None, memory_free_percent: float | None) -> float:
    """The resource table: 0 (drained), MORE_FACTOR (takes more) or 1. Unknown figures change nothing."""
    if cpu_percent is None or memory_free_percent is None:
        return 1.0
    if cpu_percent > DRAIN_CPU and memory_free_percent < DRAIN_MEMORY_FREE:
        return 0.0
    if cpu_percent < MORE_CPU and memory_free_percent > MORE_MEMORY_FREE:
        return MORE_FACTOR
    return 1.0
