"""Who is in the pool: nodes added from the configuration or in code, nodes that registered themselves and stay while
their heartbeats come, and the index from capability to members that routing reads.

New members' clients are made by the node factory the pool is given (``NodeConfig`` -> ``ChatModel``), so the pool
knows no backend: which class serves a node is the model registry's business (``models/factory.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ...config import NodeConfig, RouteConfig, RouterSettings
from ...errors import ConfigError, NotFound
from ..base import ChatModel, ChatRequest
from .node import PLANNING, PoolNode
from .strategies import Strategy, strategies

NodeFactory = Callable[[NodeConfig], ChatModel]
LAPSED_TTLS_KEPT = 9  # a registered node silent for this many TTLs past its expiry is dropped


class Membership:
    """The members by name, indexed by capability, each capability with its strategy (made from its members)."""

    def __init__(self, settings: RouterSettings, clock: Callable[[], float],
                 node_factory: NodeFactory | None = None, on_change: Callable[[], None] = lambda: None) -> None:
        self.settings = settings
        self.clock = clock
        self.node_factory = node_factory
        self.on_change = on_change
        self.nodes: dict[str, PoolNode] = {}
        self.by_capability: dict[str, list[PoolNode]] = {}
        self.pickers: dict[str, Strategy] = {}
        self.generation = 0  # counts changes of the members (policy arms make their strategies again)
        self.closing: set[asyncio.Task[None]] = set()
        for route in (settings.default, *settings.routes.values()):
            strategies.get(route.strategy)  # an unknown strategy fails now, not on the first call

    def route(self, capability: str) -> RouteConfig:
        return self.settings.routes.get(capability) or self.settings.default

    # -- joining and leaving ----------------------------------------------------------------------------------

    def add(self, node: PoolNode | ChatModel, **options: Any) -> PoolNode:
        """Add a node (a :class:`PoolNode`, or a ChatModel with PoolNode's keyword options). Replaces a namesake."""
        entry = node if isinstance(node, PoolNode) else PoolNode(node, **options)
        entry.breaker.threshold = self.settings.breaker_failures
        entry.breaker.cooldown_s = self.settings.breaker_cooldown_s
        old = self.nodes.get(entry.name)
        self.nodes[entry.name] = entry
        self.reindex()
        if old is not None and old.model is not entry.model:
            self.close_later(old)
        return entry

    def add_config(self, config: NodeConfig, model: ChatModel | None = None, source: str = "config",
                   ttl_s: float | None = None) -> PoolNode:
        """A node described by ``config``; its client from the node factory unless ``model`` is given."""
        return self.add(PoolNode(model or self.make(config), name=config.name, capabilities=config.capabilities,
                                 weight=config.weight, cost=config.cost, context_window=config.context_window,
                                 timeout_s=config.timeout_s, base_url=config.base_url, source=source, ttl_s=ttl_s))

    def make(self, config: NodeConfig) -> ChatModel:
        if self.node_factory is None:
            raise ConfigError(f"this pool was made without a node factory, so it cannot make a client for node "
                              f"'{config.name}'; pass node_factory= (e.g. openautoglm.models.factory.model_for_node)")
        return self.node_factory(config)

    def register(self, config: NodeConfig, ttl_s: float | None = None) -> PoolNode:
        """A node that announced itself (``POST /v1/nodes``): it stays while heartbeats keep coming.

        Registering again under the same name (a node that restarted or lapsed) refreshes it and keeps its
        measurements when its address is unchanged.
        """
        existing = self.nodes.get(config.name)
        if existing is not None and existing.source == "config":
            raise ConfigError(f"a configured node is already named '{config.name}'; register under another name")
        ttl = ttl_s or self.settings.node_ttl_s
        if existing is not None and existing.base_url == config.base_url:
            existing.capabilities = frozenset(config.capabilities)
            existing.weight = config.weight
            existing.cost = config.cost
            existing.ttl_s = ttl
            existing.expires_at = self.clock() + ttl
            self.reindex()
            return existing
        node = self.add_config(config, source="registered", ttl_s=ttl)
        node.expires_at = self.clock() + ttl
        return node

    def heartbeat(self, name: str) -> PoolNode:
        node = self.nodes.get(name)
        if node is None:
            raise NotFound(f"no node named '{name}' in the pool; register it again (POST /v1/nodes)")
        node.expires_at = self.clock() + (node.ttl_s or self.settings.node_ttl_s)
        return node

    def remove(self, name: str) -> PoolNode:
        node = self.nodes.pop(name, None)
        if node is None:
            raise NotFound(f"no node named '{name}' in the pool")
        self.reindex()
        self.close_later(node)
        return node

    def get(self, name: str) -> PoolNode:
        try:
            return self.nodes[name]
        except KeyError:
            raise NotFound(f"no node named '{name}' in the pool") from None

    def forget_lapsed(self, now: float) -> None:
        """Registered nodes silent for ten TTLs are dropped (until they register again)."""
        for node in list(self.nodes.values()):
            ttl = node.ttl_s or self.settings.node_ttl_s
            if node.expires_at is not None and now - node.expires_at > LAPSED_TTLS_KEPT * ttl:
                self.remove(node.name)

    # -- what routing reads -----------------------------------------------------------------------------------

    def candidates(self, target: str) -> list[PoolNode]:
        """The members serving ``target``, a capability or a node's name."""
        nodes = self.by_capability.get(target)
        if nodes is not None:
            return nodes
        node = self.nodes.get(target)
        return [node] if node is not None else []

    def picker(self, target: str) -> Strategy:
        """The strategy of ``target``'s route over its candidates."""
        picker = self.pickers.get(target)
        if picker is None:
            picker = strategies.get(self.route(target).strategy)(self.candidates(target))
        return picker

    def serves(self, target: str) -> bool:
        """Some live member serves ``target`` now."""
        now = self.clock()
        return any(n.live(now) for n in self.candidates(target))

    def link_candidates(self, link: str, request: ChatRequest) -> list[PoolNode]:
        """The candidates of one link of a call's chain. A planning call that fell to a plainer link (no node
        declares ``planning``) still goes only to nodes that can plan while one is live: the small embedded model
        writes no plan while a capable node is in the pool."""
        nodes = self.candidates(link)
        if request.capability == PLANNING and link != PLANNING:
            now = self.clock()
            able = [n for n in nodes if n.plans(now)]
            if able:
                return able
        return nodes

    def can_plan(self) -> bool:
        """A live member can plan now: declares ``planning`` or is trusted to write plans."""
        now = self.clock()
        return any(n.plans(now) for n in self.nodes.values())

    def reindex(self) -> None:
        by_capability: dict[str, list[PoolNode]] = {}
        for node in self.nodes.values():
            for capability in node.capabilities:
                by_capability.setdefault(capability, []).append(node)
        self.by_capability = by_capability
        self.pickers = {cap: strategies.get(self.route(cap).strategy)(nodes) for cap, nodes in by_capability.items()}
        self.generation += 1
        self.on_change()

    # -- closing ------------------------------------------------------------------------------------------------

    def close_later(self, node: PoolNode) -> None:
        """Close a node that left the pool once its last call is done (the router calls this again on release)."""
        node.retired = True
        if node.in_flight:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (set-up code): nothing is open yet that needs an orderly close
        task = loop.create_task(node.model.aclose())
        self.closing.add(task)  # the loop keeps only a weak reference to tasks

        def done(t: asyncio.Task[None]) -> None:
            self.closing.discard(t)
            if not t.cancelled():
                t.exception()  # retrieved, so a failed close is not reported as never retrieved

        task.add_done_callback(done)
