"""The pool of model nodes: routing by capability, health, circuit breaking, retries and fallback.

The :class:`Router` is itself a :class:`ChatModel`, so llm tools and planners use it unchanged. Per call:

1. a cache hit (deterministic requests, when a cache is configured) answers at once;
2. the chain is the request's capability, then its route's ``fallbacks`` (capabilities or node names);
3. for each link, up to ``1 + retries`` attempts, each on a node not yet tried for that link, chosen by the link's
   strategy among nodes that are live (heartbeat not lapsed), whose breaker admits a call and that have a free
   concurrency slot;
4. a retryable failure (connection refused, timeout, 5xx, malformed answer) moves to the next attempt; a
   non-retryable one (400, 401, schema) ends the call at once.

So one call makes at most ``(1 + retries) x (1 + len(fallbacks))`` upstream requests, and the router is the only
retry loop: the error it finally raises is marked not retryable so the executor does not multiply it. Every
attempt, fallback and cache hit is reported to the sink in :data:`models.base.model_events` (the step's trace).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from .cache import ResponseCache, cache_key, cacheable
from .config import NodeConfig, RouteConfig, RouterSettings, Settings
from .errors import ConfigError, ModelError, ModelUnavailable, NoNodeAvailable, NotFound
from .events import EventKind
from .models.base import ChatModel, ChatRequest, ChatResponse, ModelEventSink, model_events

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
EWMA_ALPHA = 0.2
BASELINE_ALPHA = 0.02
MIN_LIMIT, MAX_LIMIT, INITIAL_LIMIT = 1.0, 1024.0, 32.0
LATENCY_TOLERANCE = 2.0  # latency within this factor of the node's baseline "holds": the limit may grow
HASH_PREFIX_CHARS = 256
VIRTUAL_POINTS = 64
WARMUP_CALLS = 3


class Breaker:
    """Closed until ``threshold`` consecutive failures; open for ``cooldown_s``; then half-open: one probe call
    decides (success closes, failure reopens)."""

    __slots__ = ("cooldown_s", "failures", "opened_at", "probing", "state", "threshold")

    def __init__(self, threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.probing = False

    def admits(self, now: float) -> bool:
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if now - self.opened_at < self.cooldown_s:
                return False
            self.state = HALF_OPEN
            self.probing = False
        return not self.probing

    def claim(self) -> None:
        if self.state == HALF_OPEN:
            self.probing = True

    def success(self) -> None:
        self.failures = 0
        self.state = CLOSED
        self.probing = False

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.threshold:
            self.state = OPEN
            self.opened_at = now
        self.probing = False


class PoolNode:
    """One node in the pool and what the router has measured about it."""

    __slots__ = ("base_url", "baseline_s", "breaker", "calls", "capabilities", "context_window", "cost", "current",
                 "effective", "err_ewma", "errors", "ewma_s", "expires_at", "in_flight", "limit", "model", "name",
                 "retired", "source", "timeout_s", "ttl_s", "weight")

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
        self.current = 0.0  # smooth weighted round robin state
        self.retired = False  # left the pool; closed when its last call ends
        # Unmeasured nodes look fast, so each gets a first call soon and a real measurement.
        self.effective = weight / 0.001

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

    def state(self, now: float) -> str:
        if not self.live(now):
            return "lapsed"
        if self.breaker.state == OPEN:
            return "down" if now - self.breaker.opened_at < self.breaker.cooldown_s else "probing"
        if self.breaker.state == HALF_OPEN:
            return "probing"
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
            "json_schema": self.model.supports_json_schema,
            "can_plan": self.model.can_plan,
        }


# -- strategies: each picks one node from a non-empty list of usable ones -------------------------------------


def pick_weighted(nodes: list[PoolNode], request: ChatRequest, ring: HashRing | None) -> PoolNode:
    """Smooth weighted round robin (as in nginx) over weights that follow latency (EWMA) and errors."""
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


def pick_least_inflight(nodes: list[PoolNode], request: ChatRequest, ring: HashRing | None) -> PoolNode:
    return min(nodes, key=lambda n: (n.in_flight / n.weight, n.ewma_s or 0.0))


def pick_cheapest(nodes: list[PoolNode], request: ChatRequest, ring: HashRing | None) -> PoolNode:
    return min(nodes, key=lambda n: (n.cost, n.in_flight / n.weight, n.ewma_s or 0.0))


def pick_hashed(nodes: list[PoolNode], request: ChatRequest, ring: HashRing | None) -> PoolNode:
    """The same prompt prefix goes to the same node (its KV/prefix cache is warm) while that node is usable."""
    if ring is None:
        return pick_weighted(nodes, request, ring)
    return ring.lookup(prompt_prefix(request), nodes)


STRATEGIES: dict[str, Callable[[list[PoolNode], ChatRequest, HashRing | None], PoolNode]] = {
    "weighted": pick_weighted,
    "least_inflight": pick_least_inflight,
    "cost": pick_cheapest,
    "hash": pick_hashed,
}


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


# -- the router -----------------------------------------------------------------------------------------------


class Router(ChatModel):
    """A pool of nodes behind the ChatModel interface; see the module docstring for the order of things."""

    name = "router"

    def __init__(
        self,
        nodes: Iterable[PoolNode | ChatModel] = (),
        *,
        settings: RouterSettings | None = None,
        cache: ResponseCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or RouterSettings()
        self.cache = cache
        self.clock = clock
        self._nodes: dict[str, PoolNode] = {}
        self._by_capability: dict[str, list[PoolNode]] = {}
        self._rings: dict[str, HashRing] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._probe_task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._routes = self.settings.routes
        self._default_route = self.settings.default
        for node in nodes:
            self.add(node)

    @classmethod
    def from_settings(cls, settings: Settings) -> Router:
        from .cache import open_cache
        from .models.factory import model_for_node

        cache = (open_cache(settings.cache_url, settings.data_dir, settings.router.cache_ttl_s)
                 if settings.enable_caching else None)
        router = cls(settings=settings.router, cache=cache)
        for config in settings.nodes:
            router.add_config(config, model_for_node(config), source="config")
        return router

    # -- membership -------------------------------------------------------------------------------------------

    def add(self, node: PoolNode | ChatModel, **options: Any) -> PoolNode:
        """Add a node (a :class:`PoolNode`, or a ChatModel with PoolNode's keyword options). Replaces a namesake."""
        entry = node if isinstance(node, PoolNode) else PoolNode(node, **options)
        entry.breaker.threshold = self.settings.breaker_failures
        entry.breaker.cooldown_s = self.settings.breaker_cooldown_s
        old = self._nodes.get(entry.name)
        self._nodes[entry.name] = entry
        self._reindex()
        if old is not None and old.model is not entry.model:
            self._close_later(old)
        return entry

    def add_config(self, config: NodeConfig, model: ChatModel, source: str = "config",
                   ttl_s: float | None = None) -> PoolNode:
        return self.add(PoolNode(model, name=config.name, capabilities=config.capabilities, weight=config.weight,
                                 cost=config.cost, context_window=config.context_window, timeout_s=config.timeout_s,
                                 base_url=config.base_url, source=source, ttl_s=ttl_s))

    def register(self, config: NodeConfig, ttl_s: float | None = None) -> PoolNode:
        """A node that announced itself (``POST /v1/nodes``): it stays while heartbeats keep coming.

        Registering again under the same name (a node that restarted or lapsed) refreshes it and keeps its
        measurements when its address is unchanged.
        """
        from .models.factory import model_for_node

        existing = self._nodes.get(config.name)
        if existing is not None and existing.source == "config":
            raise ConfigError(f"a configured node is already named '{config.name}'; register under another name")
        ttl = ttl_s or self.settings.node_ttl_s
        if existing is not None and existing.base_url == config.base_url:
            existing.capabilities = frozenset(config.capabilities)
            existing.weight = config.weight
            existing.cost = config.cost
            existing.ttl_s = ttl
            existing.expires_at = self.clock() + ttl
            self._reindex()
            return existing
        node = self.add_config(config, model_for_node(config), source="registered", ttl_s=ttl)
        node.expires_at = self.clock() + ttl
        return node

    def heartbeat(self, name: str) -> PoolNode:
        node = self._nodes.get(name)
        if node is None:
            raise NotFound(f"no node named '{name}' in the pool; register it again (POST /v1/nodes)")
        node.expires_at = self.clock() + (node.ttl_s or self.settings.node_ttl_s)
        return node

    def remove(self, name: str) -> PoolNode:
        node = self._nodes.pop(name, None)
        if node is None:
            raise NotFound(f"no node named '{name}' in the pool")
        self._reindex()
        self._close_later(node)
        return node

    def get(self, name: str) -> PoolNode:
        try:
            return self._nodes[name]
        except KeyError:
            raise NotFound(f"no node named '{name}' in the pool") from None

    def node(self, name: str) -> ChatModel:
        """A ChatModel pinned to the node ``name`` (the gateway's plain completions): calls still go through the
        router, so they are counted, can trip the breaker and fall back along the route's chain."""
        return PinnedModel(self, self.get(name))

    @property
    def nodes(self) -> list[PoolNode]:
        return list(self._nodes.values())

    def _reindex(self) -> None:
        by_capability: dict[str, list[PoolNode]] = {}
        for node in self._nodes.values():
            for capability in node.capabilities:
                by_capability.setdefault(capability, []).append(node)
        self._by_capability = by_capability
        self._rings = {cap: HashRing(nodes) for cap, nodes in by_capability.items()
                       if self._route(cap).strategy == "hash"}
        models = [n.model for n in self._nodes.values()]
        self.capabilities = frozenset(by_capability)
        self.supports_json_schema = any(m.supports_json_schema for m in models)
        self.can_plan = any(m.can_plan for m in models)

    def _close_later(self, node: PoolNode) -> None:
        """Close a node that left the pool once its last call is done (see :meth:`_release`)."""
        node.retired = True
        if node.in_flight:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (set-up code): nothing is open yet that needs an orderly close
        task = loop.create_task(node.model.aclose())
        self._closing.add(task)  # the loop keeps only a weak reference to tasks

        def done(t: asyncio.Task[None]) -> None:
            self._closing.discard(t)
            if not t.cancelled():
                t.exception()  # retrieved, so a failed close is not reported as never retrieved

        task.add_done_callback(done)

    def _forget_lapsed(self, now: float) -> None:
        """Registered nodes silent for ten TTLs are dropped (until they register again)."""
        for node in list(self._nodes.values()):
            if node.expires_at is not None and now - node.expires_at > 9 * (node.ttl_s or self.settings.node_ttl_s):
                self.remove(node.name)

    # -- routing ------------------------------------------------------------------------------------------------

    def _route(self, capability: str) -> RouteConfig:
        return self._routes.get(capability) or self._default_route

    def _chain(self, target: str, route: RouteConfig) -> list[str]:
        chain = [target, *route.fallbacks]
        # A capability no live node serves (e.g. "planning" in a pool of text-generation nodes, or whose only node
        # has lapsed) falls to text-generation: a plainer answer beats none. It counts as one more fallback.
        # A node asked for by name does not: whoever named it wants that model or a clear error.
        if "text-generation" not in chain and target not in self._nodes:
            now = self.clock()
            if not any(n.live(now) for n in self._candidates(target)):
                chain.append("text-generation")
        return chain

    def _candidates(self, target: str) -> list[PoolNode]:
        nodes = self._by_capability.get(target)
        if nodes is not None:
            return nodes
        node = self._nodes.get(target)
        return [node] if node is not None else []

    async def _acquire(self, target: str, request: ChatRequest, tried: set[PoolNode],
                       strategy: str) -> PoolNode | None:
        """A node for the next attempt, its slot taken; None when no usable node is left for ``target``."""
        while True:
            now = self.clock()
            usable: list[PoolNode] = []
            saturated = False
            for node in self._candidates(target):
                if node in tried or not node.live(now) or not node.breaker.admits(now):
                    continue
                if node.in_flight >= node.limit:
                    saturated = True
                    continue
                usable.append(node)
            if usable:
                node = STRATEGIES[strategy](usable, request, self._rings.get(target))
                node.in_flight += 1
                node.breaker.claim()
                return node
            if not saturated:
                return None
            # Every usable node is at its concurrency limit: wait for a slot rather than overload one.
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _release(self, node: PoolNode) -> None:
        node.in_flight -= 1
        if node.retired and not node.in_flight:
            self._close_later(node)
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                break

    def _ensure_probing(self) -> None:
        interval = self.settings.probe_interval_s
        if interval and self._probe_task is None:
            self._probe_task = asyncio.get_running_loop().create_task(self._probe_loop(interval))

    async def _probe_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.probe_all()

    async def probe_all(self) -> dict[str, bool]:
        """Active health check of every live node: a failure counts like a failed call (it can open the breaker);
        a success after the cooldown closes an open breaker."""
        now = self.clock()
        self._forget_lapsed(now)
        nodes = [n for n in self._nodes.values() if n.live(now)]

        async def check(node: PoolNode) -> bool:
            try:
                async with asyncio.timeout(min(node.timeout_s or 5.0, 5.0)):
                    await node.model.probe()
            except (ModelError, TimeoutError, OSError):
                node.failed(self.clock())
                return False
            if node.breaker.state != CLOSED and self.clock() - node.breaker.opened_at >= node.breaker.cooldown_s:
                node.breaker.success()
            return True

        results = await asyncio.gather(*(check(n) for n in nodes))
        return {n.name: ok for n, ok in zip(nodes, results, strict=True)}

    # -- calls ------------------------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.complete_on(request.capability, request)

    async def complete_on(self, target: str, request: ChatRequest) -> ChatResponse:
        """Serve ``request`` on ``target`` (a capability or a node name), with its route's retries and fallbacks."""
        emit = model_events.get()
        key, hit = await self._cached(request, emit)
        if hit is not None:
            return hit
        walk = self._walk(target, request, emit)
        while (node := await walk.next_node()) is not None:
            try:
                if node.timeout_s:
                    async with asyncio.timeout(node.timeout_s):
                        response = await node.model.complete(request)
                else:
                    response = await node.model.complete(request)
            except asyncio.CancelledError:
                self._release(node)
                node.breaker.probing = False
                raise
            except Exception as exc:
                self._release(node)
                error = _as_model_error(node, exc)
                if not error.retryable:
                    walk.refused(node, error)
                    raise error from exc
                walk.failed(node, error)
                continue
            self._release(node)
            walk.succeeded(node)
            if response.node is None:
                response.node = node.name
            if key is not None and self.cache is not None:
                await self.cache.set(key, response)
            return response
        raise walk.exhausted()

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        """Pieces pass through as they arrive. Before the first piece a failure retries or falls back like
        :meth:`complete`; after it, the call fails with "stream broke" (the caller already has a partial answer)."""
        async for piece in self.stream_on(request.capability, request):
            yield piece

    async def stream_on(self, target: str, request: ChatRequest) -> AsyncIterator[str]:
        emit = model_events.get()
        key, hit = await self._cached(request, emit, stream=True)
        if hit is not None:
            yield hit.text
            return
        walk = self._walk(target, request, emit)
        while (node := await walk.next_node()) is not None:
            pieces: list[str] = []
            released = False
            try:
                source = node.model.stream(request)
                try:
                    async for piece in source:
                        pieces.append(piece)
                        yield piece
                finally:
                    close = getattr(source, "aclose", None)
                    if close is not None:
                        await close()
            except Exception as exc:
                self._release(node)
                released = True
                error = _as_model_error(node, exc)
                if pieces:
                    node.failed(self.clock())
                    broke = ModelUnavailable(f"stream broke after {len(pieces)} chunks from node "
                                             f"'{node.name}': {error}")
                    broke.retryable = False  # the caller holds a partial answer: no silent restart
                    walk.report(node, broke, chunks=len(pieces))
                    raise broke from exc
                if not error.retryable:
                    walk.refused(node, error)
                    raise error from exc
                walk.failed(node, error)
                continue
            finally:
                if not released:  # success, or the consumer stopped early / was cancelled
                    self._release(node)
                    node.breaker.probing = False
            walk.succeeded(node, chunks=len(pieces), stream=True)
            if key is not None and self.cache is not None:
                await self.cache.set(key, ChatResponse(text="".join(pieces), model=node.name, node=node.name,
                                                       completion_tokens=len(pieces)))
            return
        raise walk.exhausted()

    async def _cached(self, request: ChatRequest, emit: ModelEventSink | None,
                      **extra: Any) -> tuple[str | None, ChatResponse | None]:
        """The request's cache key (None when it is not cached) and its cached answer if there is one (reported)."""
        if self.cache is None or not cacheable(request, self.settings.cache_nondeterministic):
            return None, None
        key = cache_key(request)
        hit = await self.cache.get(key)
        if hit is not None and emit is not None:
            emit(EventKind.CACHE_HIT, node=hit.node, cache=self.cache.name, key=key[:19], **extra)
        return key, hit

    def _walk(self, target: str, request: ChatRequest, emit: ModelEventSink | None) -> _Walk:
        if self._probe_task is None:
            self._ensure_probing()
        return _Walk(self, target, request, emit)

    def _exhausted(self, target: str, attempts: int, failures: list[str], last: Exception | None) -> ModelError:
        if not attempts:
            names = [n.name for n in self._candidates(target)]
            error: ModelError = NoNodeAvailable(
                f"no node can serve '{target}' now: " + (
                    f"every one ({', '.join(names)}) has its circuit open or its heartbeat lapsed; "
                    "retry later or add nodes"
                    if names else "none has that capability; add one to `nodes:` or register one"))
        else:
            error = ModelUnavailable(f"all {attempts} attempts for '{target}' failed: " + "; ".join(failures[-4:]))
            error.__cause__ = last
        error.retryable = False  # the router already retried: the executor must not multiply the calls
        return error

    # -- reporting and lifecycle --------------------------------------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        """Each node's state, weights, EWMA latency, in-flight count and breaker state (``autoglm models``)."""
        now = self.clock()
        return [node.describe(now) for node in self._nodes.values()]

    async def aclose(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            # RuntimeError: the task belonged to an event loop that has ended (a finished CLI run)
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._probe_task
            self._probe_task = None
        for node in self._nodes.values():
            await node.model.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        if self.cache is not None:
            await self.cache.aclose()


class _Walk:
    """One call's way along its chain: the next node to try (a FALLBACK event on entering each later link, up to
    ``1 + retries`` distinct nodes per link), with the attempts and failures so far. Shared by complete and stream,
    which differ only in how one attempt is made and what counts as success."""

    __slots__ = ("attempt", "chain", "current", "emit", "failures", "last", "left", "link", "request", "retries",
                 "router", "started", "strategy", "target", "tried")

    def __init__(self, router: Router, target: str, request: ChatRequest, emit: ModelEventSink | None) -> None:
        route = router._route(request.capability)
        self.router = router
        self.target = target
        self.request = request
        self.emit = emit
        self.retries = route.retries
        self.chain = router._chain(target, route)
        self.strategy = router._route(target).strategy
        self.link = -1
        self.current = target
        self.tried: set[PoolNode] = set()
        self.left = 0  # attempts left on the current link
        self.attempt = 0
        self.failures: list[str] = []
        self.last: Exception | None = None
        self.started = 0.0

    async def next_node(self) -> PoolNode | None:
        """The node for the next attempt, its slot taken (release it with ``Router._release``); None when the
        chain is spent."""
        while True:
            if self.left:
                node = await self.router._acquire(self.current, self.request, self.tried, self.strategy)
                if node is not None:
                    self.left -= 1
                    self.tried.add(node)
                    self.attempt += 1
                    self.started = time.perf_counter()
                    return node
            self.link += 1
            if self.link == len(self.chain):
                return None
            self.current = self.chain[self.link]
            if self.link:
                if self.emit is not None:
                    self.emit(EventKind.FALLBACK, to=self.current,
                              reason=self.failures[-1] if self.failures else f"no node for {self.target}",
                              **{"from": self.target})
                self.strategy = self.router._route(self.current).strategy
            self.tried = set()
            self.left = 1 + self.retries

    def succeeded(self, node: PoolNode, **extra: Any) -> None:
        latency = time.perf_counter() - self.started
        node.succeeded(latency)
        if self.emit is not None:
            self.emit(EventKind.MODEL_ATTEMPT, node=node.name, target=self.current, attempt=self.attempt,
                      outcome="ok", latency_ms=round(latency * 1000, 3), **extra)

    def failed(self, node: PoolNode, error: ModelError) -> None:
        """A retryable failure: it counts against the node, and the walk goes on."""
        node.failed(self.router.clock())
        self.report(node, error)
        self.failures.append(f"{node.name}: {error}")
        self.last = error

    def refused(self, node: PoolNode, error: ModelError) -> None:
        """A non-retryable failure: the request is at fault, not the node, so it is not counted against it."""
        node.breaker.probing = False
        self.report(node, error)

    def report(self, node: PoolNode, error: Exception, **extra: Any) -> None:
        if self.emit is not None:
            self.emit(EventKind.MODEL_ATTEMPT, node=node.name, target=self.current, attempt=self.attempt,
                      outcome="error", error=str(error), error_type=type(error).__name__,
                      retryable=getattr(error, "retryable", False),
                      latency_ms=round((time.perf_counter() - self.started) * 1000, 3), **extra)

    def exhausted(self) -> ModelError:
        return self.router._exhausted(self.target, self.attempt, self.failures, self.last)


class PinnedModel(ChatModel):
    """One node of a router, as a ChatModel of its own."""

    def __init__(self, router: Router, node: PoolNode) -> None:
        self.router = router
        self.name = node.name
        self.capabilities = node.capabilities
        self.supports_json_schema = node.model.supports_json_schema
        self.can_plan = node.model.can_plan

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.router.complete_on(self.name, request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        async for piece in self.router.stream_on(self.name, request):
            yield piece


def _as_model_error(node: PoolNode, exc: Exception) -> ModelError:
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, TimeoutError):
        return ModelUnavailable(f"node '{node.name}' timed out after {node.timeout_s:g}s")
    # Anything else from a node (an I/O error, a bug in a backend) is the node's failure: another may do better.
    return ModelUnavailable(f"node '{node.name}' failed: {type(exc).__name__}: {exc}")
