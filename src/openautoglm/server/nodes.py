"""The coordinator's side of model nodes: ``POST /v1/nodes`` (join), ``POST /v1/nodes/{id}/heartbeat`` (stay),
``GET /v1/nodes`` (the pool's state), ``DELETE /v1/nodes/{id}`` (leave). They operate on the app's router.

The gateway mounts ``router`` with its own auth (read: viewer, change: operator). A node registered here serves
llm steps and plain completions at once; one whose heartbeats stop for ``ttl_s`` leaves the pool, and rejoins
when it registers again (a node does that by itself when its heartbeat is answered 404).

Registering gives the node its **node token** (``node_token``): the coordinator sends it as the Bearer credential
of every call to the node, and a :class:`~openautoglm.node.Node` serves nobody without it. The token is kept in
the store, sealed (store/sealing.py), so a node registering again from the same address keeps it, across coordinator
restarts too. Only operators see nodes' addresses.

Registrations, heartbeats and removals go through :class:`~.shared_nodes.SharedNodes` to the store, so every
replica on the same database serves the same nodes (``router.node_sync_s``).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..app import AutoGLM
from ..config import NodeConfig
from ..models.pool import Router
from ..store import Store
from .auth import Principal
from .shared_nodes import SharedNodes

NODE_TOKEN_BYTES = 32

router = APIRouter(tags=["nodes"])


class NodeRegistration(BaseModel):
    """What a node announces about itself."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    base_url: str = Field(pattern=r"^https?://", description="its OpenAI-compatible endpoint, ending in /v1")
    model: str | None = Field(default=None, description="the model name it serves")
    api_key: str | None = Field(default=None, description="what the coordinator sends it as a Bearer token "
                                "(default: a node token drawn now, answered as node_token)")
    capabilities: list[str] = Field(default_factory=lambda: ["text-generation"], min_length=1)
    weight: float = Field(default=1.0, gt=0)
    cost: float = Field(default=0.0, ge=0)
    context_window: int | None = Field(default=None, ge=1)
    timeout_s: float = Field(default=60.0, gt=0)
    ttl_s: float | None = Field(default=None, gt=0, le=3600, description="leave the pool after this long silent")

    @field_validator("base_url")
    @classmethod
    def _parseable(cls, value: str) -> str:
        try:  # a URL the HTTP client cannot parse is the caller's mistake (422), not a crash later
            httpx.URL(value)
        except (httpx.InvalidURL, UnicodeError) as exc:
            raise ValueError(f"not a usable URL: {exc}") from None
        return value


class HeartbeatLoad(BaseModel):
    """What a heartbeat may carry: the node's load, read by the router's resource table (models/pool/node.py)."""

    model_config = ConfigDict(extra="forbid")

    cpu_percent: float | None = Field(default=None, ge=0, le=100)
    memory_free_percent: float | None = Field(default=None, ge=0, le=100)
    queue_depth: int | None = Field(default=None, ge=0)


def router_of(glm: AutoGLM) -> Router:
    """The app's pool of nodes (see :attr:`AutoGLM.router`)."""
    return glm.router


def _pool(request: Request) -> Router:
    return router_of(request.app.state.gateway.glm)


def _shared(request: Request) -> SharedNodes:
    shared: SharedNodes = request.app.state.shared_nodes
    return shared


def _store(request: Request) -> Store:
    store: Store = request.app.state.gateway.glm.store
    return store


async def node_token(store: Store, body: NodeRegistration) -> str:
    """The token the coordinator and the node share: the one given, else the one this node (same name, same
    address) was given before, else a new one."""
    if body.api_key:
        return body.api_key
    previous = await asyncio.to_thread(store.node, body.name)
    if previous is not None and previous.base_url == body.base_url and previous.api_key:
        return previous.api_key
    return secrets.token_urlsafe(NODE_TOKEN_BYTES)


@router.post("/v1/nodes", status_code=201, summary="Register a model node (or refresh its registration)")
async def register_node(body: NodeRegistration, request: Request) -> dict[str, Any]:
    pool, store = _pool(request), _store(request)
    token = await node_token(store, body)
    config = NodeConfig(name=body.name, base_url=body.base_url, model=body.model, api_key=token,
                        capabilities=body.capabilities, weight=body.weight, cost=body.cost,
                        context_window=body.context_window, timeout_s=body.timeout_s)
    node = await _shared(request).register(config, ttl_s=body.ttl_s)
    ttl = node.ttl_s or pool.settings.node_ttl_s
    return {"id": node.name, "ttl_s": ttl, "heartbeat_s": round(ttl / 3, 3), "node": node.describe(pool.clock()),
            "node_token": token}


@router.post("/v1/nodes/{node_id}/heartbeat", summary="A registered node is still there")
async def heartbeat(node_id: str, request: Request, load: HeartbeatLoad | None = None) -> dict[str, Any]:
    pool = _pool(request)
    node = await _shared(request).heartbeat(node_id)  # NotFound (404) tells the node to register again
    if load is not None:
        node.report_load(load.cpu_percent, load.memory_free_percent, load.queue_depth)
    return {"id": node.name, "state": node.state(pool.clock()), "ttl_s": node.ttl_s, "load": node.load}


@router.get("/v1/nodes", summary="The pool: each node's state, weight, latency, in-flight calls, breaker")
async def list_nodes(request: Request) -> dict[str, Any]:
    rows = _pool(request).describe()
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None or not principal.allows("operator"):  # where a node listens is the operators' business
        rows = [{k: v for k, v in row.items() if k != "base_url"} for row in rows]
    return {"data": rows}


@router.delete("/v1/nodes/{node_id}", summary="Remove a node from the pool")
async def remove_node(node_id: str, request: Request) -> dict[str, Any]:
    await _shared(request).remove(node_id)  # NotFound (404) when no replica knew it
    return {"id": node_id, "removed": True}
