"""Per-key token buckets: ``rate`` tokens a second refill a bucket of ``burst``; each request takes one.

:class:`LocalBuckets` lives in the process (one gateway). :class:`RedisBuckets` keeps the buckets in Redis so that
several replicas share one limit; the refill-and-take is one Lua script, so it is atomic under any concurrency, and
it reads Redis's clock so replicas with skewed clocks agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError, RateLimited, StoreError


class LimitStoreUnavailable(StoreError):
    """The shared rate-limit store (Redis) cannot be reached: requests are refused (fail closed), not unlimited."""

    http_status = 503
    error_type = "rate_limit_store_unavailable"


class RateLimiter:
    """``await acquire(key)`` admits one request for ``key`` or raises :class:`RateLimited`."""

    async def acquire(self, key: str) -> None:
        wait = await self.take(key)
        if wait > 0:
            raise RateLimited(f"rate limit reached for this key; retry in {wait:.1f}s", retry_after=wait)

    async def take(self, key: str) -> float:
        """0 when admitted, else seconds until a token is available."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections."""


class LocalBuckets(RateLimiter):
    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, key: str) -> float:
        # No await between read and write: on one event loop this is atomic.
        now = self.clock()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate


_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


class RedisBuckets(RateLimiter):
    def __init__(self, url: str, rate_per_s: float, burst: int, namespace: str = "autoglm:rl:") -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError as exc:  # optional backend
            raise ConfigError("redis_url is set but the redis client is missing: "
                              "pip install 'openautoglm[redis]'") from exc
        self.client: Any = aioredis.from_url(url)
        self.rate = rate_per_s
        self.burst = burst
        self.namespace = namespace
        self._script = self.client.register_script(_TAKE)

    async def take(self, key: str) -> float:
        from redis.exceptions import RedisError

        try:
            wait = await self._script(keys=[self.namespace + key], args=[self.rate, self.burst])
        except (RedisError, OSError) as exc:
            raise LimitStoreUnavailable(f"the rate-limit store (redis) is unreachable: {exc}; "
                                        "check redis_url or that Redis is running") from exc
        return float(wait)

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def aclose(self) -> None:
        await self.client.aclose()
