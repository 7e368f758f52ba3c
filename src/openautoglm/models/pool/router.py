"""The pool of model nodes as one :class:`ChatModel`: llm tools and planners call it like any model. Per call:

1. a cache hit (deterministic requests, when a cache is configured) answers at once;
2. the walk (``walk.py``) goes along the chain of the request's capability and its route's fallbacks, each attempt
   on a node that is live, whose breaker admits a call and that has a free concurrency slot (``slots.py``), chosen
   by the route's strategy (``strategies.py``);
3. a retryable failure (connection refused, timeout, 5xx, malformed answer) moves to the next attempt; a
   non-retryable one (400, 401, schema) ends the call at once.

Members come and go through ``membership.py``; active health probes run in the background while calls are made;
breaker trips are shared with other processes through ``health.py`` when Redis is configured.
Every attempt, fallback and cache hit is reported to the sink in :data:`models.base.model_events` (the step's trace).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from ...config import NodeConfig, RouterSettings, Settings
from ...errors import ModelError, ModelUnavailable
from ...events import EventKind
from ...store.sealing import load_sealer
from ..base import ChatModel, ChatRequest, ChatResponse, ModelEventSink, model_events
from .arms import Arms
from .cache import ResponseCache, cacheable, open_cache
from .health import NodeHealth, open_health
from .membership import Membership, NodeFactory
from .node import PLANNING, PoolNode
from .signals import Signals
from .slots import Slots
from .walk import Walk, as_model_error


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
        node_factory: NodeFactory | None = None,
        health: NodeHealth | None = None,
    ) -> None:
        """``node_factory`` makes the client of a node from its :class:`NodeConfig` (configured or registered);
        without one, only ready-made models can join (:meth:`add`). ``health``: where breaker trips are shared
        with other processes (``health.py``; default: not shared)."""
        self.settings = settings or RouterSettings()
        self.cache = cache
        self.clock = clock
        self.health = health or NodeHealth()
        self.members = Membership(self.settings, clock, node_factory, on_change=self._members_changed)
        self.slots = Slots(self.members)
        self.arms = Arms()  # the routing policy applied (policies/book.py) and a canary being tried
        self.signals = Signals()
        self._probe_task: asyncio.Task[None] | None = None
        for node in nodes:
            self.add(node)

    @classmethod
    def from_settings(cls, settings: Settings, node_factory: NodeFactory) -> Router:
        sealer = ((lambda: load_sealer(settings.secret_key_file, settings.data_dir))
                  if settings.encrypt_content else None)
        cache = (open_cache(settings.cache_url, settings.data_dir, settings.router.cache_ttl_s, sealer)
                 if settings.enable_caching else None)
        router = cls(settings=settings.router, cache=cache, node_factory=node_factory,
                     health=open_health(settings.redis_url, settings.redis_prefix))
        for config in settings.nodes:
            router.add_config(config)
        return router

    # -- membership (membership.py) -----------------------------------------------------------------------------

    def add(self, node: PoolNode | ChatModel, **options: Any) -> PoolNode:
        """Add a node (a :class:`PoolNode`, or a ChatModel with PoolNode's keyword options). Replaces a namesake."""
        return self.members.add(node, **options)

    def add_config(self, config: NodeConfig, model: ChatModel | None = None, source: str = "config",
                   ttl_s: float | None = None) -> PoolNode:
        return self.members.add_config(config, model, source, ttl_s)

    def register(self, config: NodeConfig, ttl_s: float | None = None) -> PoolNode:
        """A node that announced itself (``POST /v1/nodes``); see :meth:`Membership.register`."""
        return self.members.register(config, ttl_s)

    def heartbeat(self, name: str) -> PoolNode:
        return self.members.heartbeat(name)

    def remove(self, name: str) -> PoolNode:
        return self.members.remove(name)

    def get(self, name: str) -> PoolNode:
        return self.members.get(name)

    def node(self, name: str) -> ChatModel:
        """A ChatModel pinned to the node ``name`` (the gateway's plain completions): calls still go through the
        router, so they are counted, can trip the breaker and fall back along the route's chain."""
        return PinnedModel(self, self.get(name))

    @property
    def nodes(self) -> list[PoolNode]:
        return list(self.members.nodes.values())

    def serves(self, capability: str) -> bool:
        """A live member serves ``capability`` now, so a node that registered a moment ago counts; for
        ``planning`` one that can plan (see :meth:`Membership.link_candidates` for where such calls go)."""
        if capability == PLANNING:
            return self.members.can_plan()
        return self.members.serves(capability)

    def _members_changed(self) -> None:
        nodes = self.members.nodes.values()
        self.capabilities = frozenset(c for n in nodes for c in n.capabilities)
        self.supports_json_schema = any(n.model.supports_json_schema for n in nodes)
        self.can_plan = any(n.model.can_plan for n in nodes)

    # -- health -------------------------------------------------------------------------------------------------

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
        self.members.forget_lapsed(now)
        nodes = [n for n in self.members.nodes.values() if n.live(now)]

        async def check(node: PoolNode) -> bool:
            try:
                async with asyncio.timeout(min(node.timeout_s or 5.0, 5.0)):
                    await node.model.probe()
            except (ModelError, TimeoutError, OSError) as exc:
                node.failed(self.clock())
                await self.health.failed(node, f"health probe: {exc}", self.clock())
                return False
            if node.breaker.cooled(self.clock()):
                node.breaker.success()
            await self.health.succeeded(node)
            return True

        results = await asyncio.gather(*(check(n) for n in nodes))
        return {n.name: ok for n, ok in zip(nodes, results, strict=True)}

    # -- calls ----------------------------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.complete_on(request.capability, request)

    def _widest(self) -> tuple[ChatModel, int] | None:
        """The member with the longest context window, when every member knows its own."""
        windows = [(n.model, n.model.context_window()) for n in self.nodes]
        if not windows or any(w is None for _, w in windows):
            return None
        return max(((m, w) for m, w in windows if w is not None), key=lambda pair: pair[1])

    def context_window(self) -> int | None:
        """What some member can read: a prompt longer than this fits nowhere in the pool."""
        widest = self._widest()
        return widest[1] if widest else None

    def count_tokens(self, text: str) -> int | None:
        widest = self._widest()
        return widest[0].count_tokens(text) if widest else None

    async def complete_on(self, target: str, request: ChatRequest) -> ChatResponse:
        """Serve ``request`` on ``target`` (a capability or a node name), with its route's retries and fallbacks."""
        emit = model_events.get()
        key, hit = await self._cached(request, emit)
        if hit is not None:
            return hit
        walk = await self._walk(target, request, emit)
        while (node := await walk.next_node()) is not None:
            try:
                if node.timeout_s:
                    async with asyncio.timeout(node.timeout_s):
                        response = await node.model.complete(request)
                else:
                    response = await node.model.complete(request)
            except asyncio.CancelledError:
                self.slots.release(node)
                node.breaker.probing = False
                raise
            except Exception as exc:
                self.slots.release(node)
                error = as_model_error(node, exc)
                if not error.retryable:
                    walk.refused(node, error)
                    raise error from exc
                walk.failed(node, error)
                await self.health.failed(node, str(error), self.clock())
                continue
            self.slots.release(node)
            walk.succeeded(node, tokens=response.prompt_tokens + response.completion_tokens)
            await self.health.succeeded(node)
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
        walk = await self._walk(target, request, emit)
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
                self.slots.release(node)
                released = True
                error = as_model_error(node, exc)
                if pieces:
                    node.failed(self.clock())
                    await self.health.failed(node, str(error), self.clock())
                    broke = ModelUnavailable(f"stream broke after {len(pieces)} chunks from node "
                                             f"'{node.name}': {error}")
                    broke.retryable = False  # the caller holds a partial answer: no silent restart
                    walk.report(node, broke, chunks=len(pieces))
                    raise broke from exc
                if not error.retryable:
                    walk.refused(node, error)
                    raise error from exc
                walk.failed(node, error)
                await self.health.failed(node, str(error), self.clock())
                continue
            finally:
                if not released:  # success, or the consumer stopped early / was cancelled
                    self.slots.release(node)
                    node.breaker.probing = False
            walk.succeeded(node, tokens=len(pieces), chunks=len(pieces), stream=True)
            await self.health.succeeded(node)
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
        if self.arms.active is not None and not self.arms.active.cache_enabled:  # the policy's cache section
            return None, None
        key = self.cache.key(request)
        hit = await self.cache.get(key)
        if hit is not None and emit is not None:
            emit(EventKind.CACHE_HIT, node=hit.node, cache=self.cache.name, key=key[:19], **extra)
        return key, hit

    async def _walk(self, target: str, request: ChatRequest, emit: ModelEventSink | None) -> Walk:
        if self._probe_task is None:
            self._ensure_probing()
        await self.health.refresh(self.members.nodes.values(), self.clock())  # others' trips (health.py)
        return Walk(self.members, self.slots, target, request, emit, self.arms.choose(), self.signals)

    # -- reporting and lifecycle --------------------------------------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        """Each node's state, weights, EWMA latency, in-flight count and breaker state (``autoglm models``)."""
        now = self.clock()
        return [node.describe(now) for node in self.members.nodes.values()]

    async def aclose(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            # RuntimeError: the task belonged to an event loop that has ended (a finished CLI run)
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._probe_task
            self._probe_task = None
        for node in self.members.nodes.values():
            await node.model.aclose()
        if self.members.closing:
            await asyncio.gather(*self.members.closing, return_exceptions=True)
        if self.cache is not None:
            await self.cache.aclose()
        await self.health.aclose()


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
