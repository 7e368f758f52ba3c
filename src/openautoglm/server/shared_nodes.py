"""Registered nodes shared by every gateway replica on one store.

The store's ``nodes`` table is the truth: a registration, a heartbeat or a removal through any replica is written
there first (``expires_at`` on the wall clock), and each replica's pool is a copy that :meth:`SharedNodes.sync`
brings up to date every ``router.node_sync_s``: nodes registered elsewhere join (their clients made here, with
the node token the store keeps sealed, so every replica needs the same secret key), their expiry follows the
heartbeats whichever replica took them, and nodes removed elsewhere leave. The replica that took a change applies
it to its own pool at once; the others within one sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from ..config import NodeConfig
from ..errors import AutoGLMError, NotFound
from ..models.pool import PoolNode, Router
from ..models.pool.membership import LAPSED_TTLS_KEPT
from ..repeating import Repeating
from ..store import NodeRecord, Store

log = structlog.get_logger("openautoglm.gateway")
REGISTERED = "registered"


class SharedNodes:
    """The gateway's registered nodes: written through to the store, read back from it by every replica."""

    def __init__(self, pool: Callable[[], Router], store: Store, sync_s: float,
                 built: Callable[[], Router | None] = lambda: None, wall: Callable[[], float] = time.time) -> None:
        """``pool`` gives the app's pool (building it); ``built`` the pool if something built it already, so a
        store without registered nodes never turns the app's single model into a pool."""
        self._pool = pool
        self._built = built
        self.store = store
        self.sync_s = sync_s
        self.wall = wall
        self._repeating = Repeating(self.sync, log, "shared_nodes_sync_failed")
        # When each node was last registered or removed here: a sync that read the store before that leaves it
        # alone (it would undo the change it has not seen).
        self._changed: dict[str, float] = {}

    @property
    def pool(self) -> Router:
        return self._pool()

    def _ttl(self, ttl_s: float | None) -> float:
        return ttl_s or self.pool.settings.node_ttl_s

    async def register(self, config: NodeConfig, ttl_s: float | None) -> PoolNode:
        """Join here at once and in the store, for the other replicas."""
        self._changed[config.name] = time.monotonic()
        node = self.pool.register(config, ttl_s=ttl_s)
        ttl = self._ttl(node.ttl_s)
        now = self.wall()
        await asyncio.to_thread(self.store.save_node, NodeRecord(
            config.name, config.base_url or "", config.model, list(config.capabilities), config.weight,
            config.api_key, now, ttl_s=ttl, expires_at=now + ttl, timeout_s=config.timeout_s, cost=config.cost,
            context_window=config.context_window))
        return node

    async def heartbeat(self, name: str) -> PoolNode:
        """The node stays, in the store (so every replica sees it) and here; one registered through another
        replica and not synced yet joins here now. A node added to this pool in code (not registered) beats
        here only. NotFound when neither has it (a registered node removed through any replica included)."""
        record = await asyncio.to_thread(self.store.node, name)
        if record is None:
            local = self.pool.members.nodes.get(name)
            if local is not None and local.source != REGISTERED:
                return self.pool.heartbeat(name)
            raise NotFound(f"no node named '{name}' in the pool; register it again (POST /v1/nodes)")
        now = self.wall()
        expires_at = now + self._ttl(record.ttl_s)
        if not await asyncio.to_thread(self.store.node_heartbeat, name, now, expires_at):
            raise NotFound(f"no node named '{name}' in the pool; register it again (POST /v1/nodes)")
        node = self._adopt(record, expires_at)
        return node

    async def remove(self, name: str) -> PoolNode | None:
        """Leave here and in the store. NotFound when neither knew it."""
        self._changed[name] = time.monotonic()
        removed = await asyncio.to_thread(self.store.remove_node, name)
        try:
            return self.pool.remove(name)
        except NotFound:
            if removed:
                return None
            raise

    async def sync(self) -> None:
        """Make this pool's registered nodes what the store says: join, refresh expiry, leave."""
        began = time.monotonic()
        records = await asyncio.to_thread(self.store.nodes)
        if not records and self._built() is None:
            return  # nothing registered anywhere, and no pool here to empty
        now = self.wall()
        listed = {name for name, at in self._changed.items() if at >= began}  # changed here meanwhile: as is
        for record in records:
            if record.name in listed:
                continue
            ttl = self._ttl(record.ttl_s)
            expires_at = record.expires_at if record.expires_at is not None else record.registered_at + ttl
            if now - expires_at > LAPSED_TTLS_KEPT * ttl:
                continue  # long silent: forgotten here as it is where it registered
            listed.add(record.name)
            try:
                self._adopt(record, expires_at)
            except AutoGLMError as exc:  # a node this replica cannot make (e.g. sealed under another key)
                log.warning("shared_node_skipped", node=record.name, error=str(exc))
        for node in list(self.pool.members.nodes.values()):
            if node.source == REGISTERED and node.name not in listed:
                with contextlib.suppress(NotFound):
                    self.pool.remove(node.name)

    def _adopt(self, record: NodeRecord, expires_at: float) -> PoolNode:
        """The record's node in this pool (joined, or refreshed when its registration changed), its expiry on this
        pool's clock. A configured node of that name wins here, as it does on registering."""
        node = self.pool.members.nodes.get(record.name)
        if node is None or (node.source == REGISTERED and _changed(node, record)):
            node = self.pool.register(_config(record), ttl_s=record.ttl_s)
        if node.source == REGISTERED:
            node.expires_at = self.pool.clock() + (expires_at - self.wall())
        return node

    def start(self) -> None:
        """Sync every ``sync_s`` in the background (a failed sync is logged; the pool keeps what it had)."""
        self._repeating.start(self.sync_s)

    async def aclose(self) -> None:
        await self._repeating.aclose()


def _changed(node: PoolNode, record: NodeRecord) -> bool:
    return (node.base_url != record.base_url or node.capabilities != frozenset(record.capabilities)
            or node.weight != record.weight or node.cost != record.cost)


def _config(record: NodeRecord) -> NodeConfig:
    return NodeConfig(name=record.name, base_url=record.base_url, model=record.model, api_key=record.api_key,
                      capabilities=record.capabilities, weight=record.weight, cost=record.cost,
                      context_window=record.context_window, timeout_s=record.timeout_s or 60.0)
