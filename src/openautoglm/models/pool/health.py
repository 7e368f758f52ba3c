"""What every process knows about the nodes' health: breaker trips shared through Redis.

Without ``redis_url`` each process's breakers are its own (:class:`NodeHealth`, which does nothing). With it,
:class:`RedisHealth` shares them the way LiteLLM's router shares cooldowns (``deployment:<id>:cooldown`` keys with
the cooldown as their TTL, read in one MGET and kept in memory for a moment): every failed call or probe of a node
counts in ``<prefix>node:<name>:failures``; the call that makes it reach ``router.breaker_failures`` sets
``<prefix>node:<name>:cooldown`` for ``router.breaker_cooldown_s``; and before a call each process reads the
cooldowns (at most every ``REFRESH_S``) and holds open the breaker of every node cooling down. So a node tripped
by one gateway replica is skipped by the others, and by every CLI run, until its cooldown ends; then each process
half-opens it and sends one probe call, as it would alone. A success anywhere clears the count.

The counter is consecutive across processes (any success resets it) and is forgotten after ``FORGET_COOLDOWNS``
cooldowns without a failure. Redis being away never fails a call: the breakers then work in-process, as without it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from ...redis_client import LoopRedis
from .node import PoolNode

log = structlog.get_logger("openautoglm.router")

REFRESH_S = 0.5  # how stale a process's view of the shared cooldowns may be
FORGET_COOLDOWNS = 10  # a failure count untouched this many cooldowns starts again from zero

# KEYS: failures, cooldown. ARGV: threshold, cooldown ms, count ttl ms, what the cooldown says.
# Returns the count; the cooldown is set by the failure that reaches the threshold and by every one after it (a
# probe that fails after a cooldown trips the node again at once, as a half-open breaker does).
_FAIL = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if n >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[2])
end
return n
"""


class NodeHealth:
    """In-process health: the breakers of this process are all there is (no Redis configured)."""

    shared = False

    async def refresh(self, nodes: Iterable[PoolNode], now: float) -> None:
        """Bring the breakers of ``nodes`` up to what other processes found (``now``: the pool's clock)."""

    async def failed(self, node: PoolNode, error: str, now: float) -> None:
        """A call or probe of ``node`` failed here (already counted by its breaker)."""

    async def succeeded(self, node: PoolNode) -> None:
        """A call or probe of ``node`` succeeded here."""

    async def aclose(self) -> None:
        """Release connections."""


class RedisHealth(NodeHealth):
    """Breaker trips shared through Redis; see the module docstring."""

    shared = True

    def __init__(self, url: str, prefix: str = "autoglm:", refresh_s: float = REFRESH_S,
                 wall: Callable[[], float] = time.time) -> None:
        self.redis = LoopRedis(url)
        self.prefix = prefix
        self.refresh_s = refresh_s
        self.wall = wall
        self.failing: set[str] = set()  # nodes with a failure count in Redis, as far as this process knows
        self._read_at = float("-inf")

    def _key(self, node: str, what: str) -> str:
        return f"{self.prefix}node:{node}:{what}"

    async def refresh(self, nodes: Iterable[PoolNode], now: float) -> None:
        if now - self._read_at < self.refresh_s:
            return
        self._read_at = now
        nodes = list(nodes)
        if not nodes:
            return
        keys = [self._key(n.name, "cooldown") for n in nodes] + [self._key(n.name, "failures") for n in nodes]
        try:
            values = await self.redis.get().mget(keys)
        except Exception as exc:  # Redis away: this process's breakers go on alone
            log.warning("shared_health_unreadable", error=str(exc))
            return
        cooldowns, counts = values[:len(nodes)], values[len(nodes):]
        wall = self.wall()
        for node, cooldown, count in zip(nodes, cooldowns, counts, strict=True):
            if count is not None:
                self.failing.add(node.name)
            if cooldown is not None:
                until = _until(cooldown)
                if until is not None and until > wall:
                    node.breaker.hold_open(now, until - wall)

    async def failed(self, node: PoolNode, error: str, now: float) -> None:
        cooldown_s = node.breaker.cooldown_s
        info = json.dumps({"until": self.wall() + cooldown_s, "error": error[:300]}, ensure_ascii=False)
        try:
            client = self.redis.get()
            count = await client.eval(_FAIL, 2, self._key(node.name, "failures"), self._key(node.name, "cooldown"),
                                      node.breaker.threshold, int(cooldown_s * 1000),
                                      int(FORGET_COOLDOWNS * cooldown_s * 1000), info)
        except Exception as exc:
            log.warning("shared_health_unwritable", node=node.name, error=str(exc))
            return
        self.failing.add(node.name)
        if int(count) >= node.breaker.threshold:
            node.breaker.hold_open(now, cooldown_s)  # tripped by the count of every process, this one's included

    async def succeeded(self, node: PoolNode) -> None:
        if node.name not in self.failing:
            return  # the common case costs no round trip
        self.failing.discard(node.name)
        try:
            await self.redis.get().delete(self._key(node.name, "failures"), self._key(node.name, "cooldown"))
        except Exception as exc:
            log.warning("shared_health_unwritable", node=node.name, error=str(exc))

    async def aclose(self) -> None:
        await self.redis.aclose()


def _until(value: Any) -> float | None:
    try:
        until = json.loads(value)["until"]
    except (ValueError, KeyError, TypeError):
        return None
    return float(until) if isinstance(until, int | float) else None


def open_health(redis_url: str | None, prefix: str) -> NodeHealth:
    """Shared through Redis when ``redis_url`` is set, else in-process."""
    return RedisHealth(redis_url, prefix) if redis_url else NodeHealth()
