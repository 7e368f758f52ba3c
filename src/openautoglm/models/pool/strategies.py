"""How the pool picks one node among the usable ones: a registry of strategies by name (``router.routes.*.strategy``).

A strategy is made by the pool for each capability from that capability's members, and made again whenever the
members change, so it may keep state about them (the hash ring does). Adding one is a class and a registration::

    @strategies.register("fastest")
    class Fastest(Strategy):
        def pick(self, usable, request):
            return min(usable, key=lambda n: n.ewma_s or 0.0)
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Iterable, Mapping, Sequence

from ...registry import Registry
from ..base import ChatRequest
from .node import PoolNode

HASH_PREFIX_CHARS = 256
VIRTUAL_POINTS = 64


class Strategy:
    """Picks one node from a non-empty list of usable ones (live, breaker admitting, a free slot).

    ``weights`` and ``limits`` are a policy's (policies/document.py), by node name: weights multiply a node's
    measured weight, 0 takes it out of rotation; limits cap its concurrency. :meth:`choose` applies them and the
    resource table (node.py: a drained node gets no calls while another is usable), then :meth:`pick` decides."""

    def __init__(self, members: Sequence[PoolNode], weights: Mapping[str, float] | None = None,
                 limits: Mapping[str, int] | None = None) -> None:
        self.members = list(members)
        self.weights: Mapping[str, float] = weights or {}
        self.limits: Mapping[str, int] = limits or {}
        self.current: dict[str, float] = {}  # smooth weighted round robin state, by node name

    def scale(self, node: PoolNode) -> float:
        """The policy's weight of ``node`` times the resource table's factor."""
        return self.weights.get(node.name, 1.0) * node.load_factor

    def limit(self, node: PoolNode) -> float:
        return min(node.limit, self.limits.get(node.name, node.limit))

    def choose(self, usable: list[PoolNode], request: ChatRequest) -> PoolNode:
        # Availability comes before the policy: when only nodes it weighs 0 (or drained ones) are usable, they serve.
        kept = [n for n in usable if self.scale(n) > 0]
        return self.pick(kept or usable, request)

    def pick(self, usable: list[PoolNode], request: ChatRequest) -> PoolNode:
        raise NotImplementedError


strategies: Registry[Strategy] = Registry("openautoglm.strategies", "routing strategy", Strategy)


@strategies.register("weighted")
class Weighted(Strategy):
    """Smooth weighted round robin (as in nginx) over weights that follow latency (EWMA) and errors."""

    def pick(self, usable: list[PoolNode], request: ChatRequest) -> PoolNode:
        return smooth_weighted(usable, self)


@strategies.register("least_inflight")
class LeastInFlight(Strategy):
    def pick(self, usable: list[PoolNode], request: ChatRequest) -> PoolNode:
        return min(usable, key=lambda n: (n.in_flight / (n.weight * (self.scale(n) or 1e-6)), n.ewma_s or 0.0))


@strategies.register("cost")
class Cheapest(Strategy):
    def pick(self, usable: list[PoolNode], request: ChatRequest) -> PoolNode:
        return min(usable, key=lambda n: (n.cost, n.in_flight / n.weight, n.ewma_s or 0.0))


@strategies.register("hash")
class Hashed(Strategy):
    """The same prompt prefix goes to the same node (its KV/prefix cache is warm) while that node is usable."""

    def __init__(self, members: Sequence[PoolNode]) -> None:
        super().__init__(members)
        self.ring = HashRing(members)

    def pick(self, usable: list[PoolNode], request: ChatRequest) -> PoolNode:
        return self.ring.lookup(prompt_prefix(request), usable)


def smooth_weighted(nodes: list[PoolNode], strategy: Strategy) -> PoolNode:
    current = strategy.current
    total = 0.0
    best = nodes[0]
    for node in nodes:
        weight = node.effective * strategy.scale(node)
        current[node.name] = current.get(node.name, 0.0) + weight
        total += weight
        if current[node.name] > current.get(best.name, 0.0):
            best = node
    current[best.name] -= total
    if current[best.name] < -total:
        # Weights change under measurement: a debt run up while a node looked fast (unmeasured) must not keep it
        # from being picked for hundreds of calls once its weight is small.
        current[best.name] = -total
    return best


def prompt_prefix(request: ChatRequest) -> str:
    parts: list[str] = []
    size = 0
    for message in request.messages:
        parts.append(message.content)
        size += len(message.content)
        if size >= HASH_PREFIX_CHARS:
            break
    return "\x1e".join(parts)[:HASH_PREFIX_CHARS]


class HashRing:
    """A consistent-hash ring with virtual points: adding or removing a node moves only its share of keys."""

    def __init__(self, nodes: Iterable[PoolNode]) -> None:
        points = sorted((zlib.crc32(f"{n.name}#{i}".encode()), n) for n in nodes for i in range(VIRTUAL_POINTS))
        self.hashes = [h for h, _ in points]
        self.owners = [n for _, n in points]

    def lookup(self, key: str, usable: list[PoolNode]) -> PoolNode:
        allowed = set(usable)
        start = bisect.bisect(self.hashes, zlib.crc32(key.encode()))
        count = len(self.owners)
        for step in range(count):
            owner = self.owners[(start + step) % count]
            if owner in allowed:
                return owner
        return usable[0]
