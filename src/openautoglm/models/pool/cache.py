"""The response cache of routed model calls (``enable_caching``): the pool sees only :class:`ResponseCache`.

Keyed by the normalized request (a hash); SQLite (its own file in the data dir) by default, Redis when ``cache_url``
is a ``redis://`` URL. Only deterministic requests (temperature 0, or a seed) are cached unless the configuration
asks for more: a sampled answer served twice would be a lie about sampling. With ``encrypt_content`` the cached
answers are sealed like the store's (store/sealing.py); one sealed under a key no longer configured is a miss.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ... import sqlite_driver
from ...errors import ConfigError, StoreError
from ...redis_client import LoopRedis
from ...store.sealing import Sealer, is_sealed
from ..base import ChatRequest, ChatResponse

KEY_VERSION = "v1"


def cache_key(request: ChatRequest) -> str:
    """The same request, written with different line endings or surrounding whitespace, gets the same key."""
    data = request.model_dump()
    for message in data["messages"]:
        message["content"] = message["content"].replace("\r\n", "\n").strip()
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return KEY_VERSION + ":" + hashlib.sha256(blob.encode()).hexdigest()


def cacheable(request: ChatRequest, nondeterministic: bool = False) -> bool:
    return nondeterministic or request.deterministic


class ResponseCache:
    """What the pool asks of a response cache. Subclasses implement ``get`` and ``set`` (and ``aclose`` when they
    hold connections); ``key`` is the request's identity, the same for every store."""

    name = "cache"
    # Seals what is cached (asked on first use); None: answers are kept as they are.
    sealer_source: Callable[[], Sealer] | None = None
    _sealer: Sealer | None = None

    def key(self, request: ChatRequest) -> str:
        return cache_key(request)

    def encode(self, response: ChatResponse) -> str:
        text = response.model_dump_json()
        if self.sealer_source is None:
            return text
        if self._sealer is None:
            self._sealer = self.sealer_source()
        return self._sealer.seal(text)

    def decode(self, value: str | bytes) -> ChatResponse | None:
        text = value.decode("utf-8") if isinstance(value, bytes) else value
        if is_sealed(text):
            if self.sealer_source is None:
                return None
            try:
                self._sealer = self._sealer or self.sealer_source()
                text = self._sealer.open(text)
            except StoreError:  # sealed under a retired key: a cache may forget
                return None
        return ChatResponse.model_validate_json(text)

    async def get(self, key: str) -> ChatResponse | None:
        raise NotImplementedError

    async def set(self, key: str, response: ChatResponse) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections."""


class SQLiteCache(ResponseCache):
    """A table in its own SQLite file: reads are sub-millisecond, so they run inline; writes too (WAL, no fsync)."""

    name = "sqlite"

    def __init__(self, path: str | Path, ttl_s: float = 86400.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._db = sqlite_driver.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE IF NOT EXISTS response_cache "
                         "(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL)")

    async def get(self, key: str) -> ChatResponse | None:
        with self._lock:
            row = self._db.execute("SELECT value, expires_at FROM response_cache WHERE key = ?", (key,)).fetchone()
        if row is None or row[1] < time.time():
            return None
        return self.decode(row[0])

    async def set(self, key: str, response: ChatResponse) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO response_cache (key, value, expires_at) VALUES (?, ?, ?)",
                             (key, self.encode(response), time.time() + self.ttl_s))

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()


class RedisCache(ResponseCache):
    name = "redis"

    def __init__(self, url: str, ttl_s: float = 86400.0, prefix: str = "autoglm:cache:") -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.prefix = prefix
        self._conn = LoopRedis(url, "cache_url")

    def _redis(self) -> Any:
        return self._conn.get()

    async def get(self, key: str) -> ChatResponse | None:
        value = await self._redis().get(self.prefix + key)
        return None if value is None else self.decode(value)

    async def set(self, key: str, response: ChatResponse) -> None:
        await self._redis().set(self.prefix + key, self.encode(response), ex=max(1, int(self.ttl_s)))

    async def aclose(self) -> None:
        await self._conn.aclose()


def open_cache(url: str | None, data_dir: Path, ttl_s: float = 86400.0,
               sealer: Callable[[], Sealer] | None = None) -> ResponseCache:
    """``None`` or ``sqlite:///path``: SQLite (default ``<data_dir>/cache.db``); ``redis://...``: Redis.
    ``sealer``: seal the cached answers with these keys."""
    cache: ResponseCache
    if not url:
        cache = SQLiteCache(data_dir / "cache.db", ttl_s)
    elif url.startswith(("redis://", "rediss://", "unix://")):
        cache = RedisCache(url, ttl_s)
    elif url.startswith("sqlite:///"):
        cache = SQLiteCache(url.removeprefix("sqlite:///"), ttl_s)
    else:
        raise ConfigError(f"cache_url {url!r} is neither redis://... nor sqlite:///path")
    cache.sealer_source = sealer
    return cache

