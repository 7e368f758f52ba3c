"""``/healthz`` (the process answers), ``/readyz`` (each component's status), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..auth import Principal
from ..deps import Gateway, caller, gateway
from ..ratelimit import RedisBuckets

router = APIRouter(tags=["operations"])
# Node states (the router's, and single models') that can take a request now or after a probe.
READY_STATES = {"ready", "saturated", "probing", "healthy", "up", "ok"}


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Each component's status; 503 when one is down", response_model=None)
async def readyz(gw: Gateway = Depends(gateway)) -> JSONResponse:
    checks = await asyncio.gather(_database(gw), _models(gw), _vectors(gw), _redis(gw))
    components = dict(checks)
    ready = all(c["status"] in ("ok", "not_configured") for c in components.values())
    return JSONResponse({"status": "ready" if ready else "not_ready", "components": components},
                        status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(_: Principal = Depends(caller("operator")), gw: Gateway = Depends(gateway)) -> Response:
    try:
        rows = await asyncio.to_thread(gw.glm.describe_models)
    except Exception:  # a model that cannot even describe itself is down; /readyz says why
        rows = []
    for row in rows:
        gw.metrics.node_up.labels(str(row.get("name"))).set(1 if _usable(row) else 0)
    return Response(gw.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _usable(row: dict[str, Any]) -> bool:
    return str(row.get("state", "ready")).lower() in READY_STATES


async def _database(gw: Gateway) -> tuple[str, dict[str, Any]]:
    try:
        backend = await asyncio.wait_for(asyncio.to_thread(gw.glm.store.ping), 5)
    except Exception as exc:
        return "database", {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return "database", {"status": "ok", "backend": backend}


async def _models(gw: Gateway) -> tuple[str, dict[str, Any]]:
    try:
        rows = await asyncio.wait_for(asyncio.to_thread(gw.glm.describe_models), 10)
    except Exception as exc:
        return "models", {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    nodes = {str(r.get("name")): str(r.get("state", "ready")) for r in rows}
    ok = any(_usable(r) for r in rows)
    return "models", {"status": "ok" if ok else "down", "nodes": nodes}


async def _vectors(gw: Gateway) -> tuple[str, dict[str, Any]]:
    # The knowledge base opens on first use (loading its embedder takes seconds); a probe must not be what opens
    # it, so an unopened base reports "not_loaded", and an opened one must answer a count of its vectors.
    kb = gw.glm.opened_knowledge
    if kb is None:
        return "vector_store", {"status": "not_configured", "state": "not_loaded"}
    try:
        count = await asyncio.wait_for(asyncio.to_thread(kb.vectors.count), 5)
    except Exception as exc:
        return "vector_store", {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return "vector_store", {"status": "ok", "backend": type(kb.vectors).__name__, "vectors": count}


async def _redis(gw: Gateway) -> tuple[str, dict[str, Any]]:
    if not isinstance(gw.limiter, RedisBuckets):
        return "rate_limit_store", {"status": "not_configured"}
    try:
        await asyncio.wait_for(gw.limiter.ping(), 2)
    except Exception as exc:
        return "rate_limit_store", {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return "rate_limit_store", {"status": "ok"}
