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
from collections.abc import Iterable, Sequence

from ...registry import Registry
from ..base import ChatRequest
from .node import PoolNode

HASH_PREFIX_CHARS = 256
VIRTUAL_POINTS = 64


class Strategy:
    """Picks one node from a non-empty list of usable ones (live, breaker admitting, a free slot)."""

    def __init__(self, members: Sequence[PoolNode]) -> None:
        self.members = list(members)

    def pick(self, usable: list[PoolNode], request: ChatRequest) -> PoolNode:
        raise NotImplementedError


strategies: Registry[Strategy] = Registry("openautoglm.strategies", "routing strategy", Strategy)


@strategies.register("weighted")
class Weighted(Strategy):
    """Smooth weighted round robin (as in nginx) over weights that follow latency (EWMA) and errors."""

    def pick(self, usable: list[PoolNode], request: ChatRequest) -> PoolNode:
        return smooth_weighted(usable)


@strategies.register("least_inflight")
class LeastInFlight(Strategy):
    def pick(self, usable: list[PoolNode], request: ChatRequest) -> PoolNode:
        return min(usable, key=lambda n: (n.in_flight / n.weight, n.ewma_s or 0.0))


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


def smooth_weighted(nodes: list[PoolNode]) -> PoolNode:
    total = 0.0
    best = nodes[0]
    for node in nodes:
        node.current += node.effective
        total += node.effective
        if node.current > best.current:
            best = node
    best.current -= total
    if best.current < -total:
        # Weights change under measurement: a debt run up while a node looked fast (unmeasured) must not keep it
        # from being picked for hundreds of calls once its weight is small.
        best.current = -total
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
