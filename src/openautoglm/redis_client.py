"""A redis.asyncio client for whichever event loop is running.

A redis.asyncio connection pool belongs to the loop it was made on; one object of ours may outlive a loop (each
CLI command runs its own), so a new loop gets a new pool.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .errors import ConfigError


class LoopRedis:
    def __init__(self, url: str, what: str = "redis_url") -> None:
        try:
            import redis.asyncio  # noqa: F401  (checked now: a missing extra is a configuration error at start)
        except ImportError as exc:
            raise ConfigError(f"{what} is a Redis URL but the redis client is not installed: "
                              "pip install 'openautoglm[redis]'") from exc
        self.url = url
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> Any:
        """The client for the running loop."""
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = aioredis.from_url(self.url)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
