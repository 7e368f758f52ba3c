"""Credentials (admin only) and feedback (users, on their own tasks)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import insert

from ...errors import NotFound
from ...events import EventKind
from ...store import schema
from ..auth import Principal
from ..deps import Gateway, caller, gateway
from ..schemas import FeedbackIn, KeyIn, RevokeTokenIn

router = APIRouter()


@router.post("/v1/keys", status_code=201, tags=["admin"], summary="Create an API key (shown once)")
async def create_key(body: KeyIn, _: Principal = Depends(caller("admin")),
                     gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    key, record = await asyncio.to_thread(gw.keyring.create, body.role, body.owner, body.name)
    return {"key": key, **record.public()}


@router.get("/v1/keys", tags=["admin"], summary="API keys (never the keys themselves)")
async def list_keys(_: Principal = Depends(caller("admin")), gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    records = await asyncio.to_thread(gw.keyring.list)
    return {"data": [r.public() for r in records]}


@router.delete("/v1/keys/{key_id}", tags=["admin"], summary="Revoke an API key")
async def revoke_key(key_id: str, _: Principal = Depends(caller("admin")),
                     gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    await asyncio.to_thread(gw.keyring.revoke, key_id)
    gw.auth.forget(key_id)
    return {"id": key_id, "revoked": True}


@router.post("/v1/tokens/revoked", status_code=201, tags=["admin"], summary="Revoke a JWT by its jti")
async def revoke_token(body: RevokeTokenIn, _: Principal = Depends(caller("admin")),
                       gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    await asyncio.to_thread(gw.keyring.revoke_token, body.jti, body.expires_at)
    return {"jti": body.jti, "revoked": True}


@router.post("/v1/feedback", status_code=201, tags=["tasks"], summary="Rate a task's answer")
async def feedback(body: FeedbackIn, principal: Principal = Depends(caller("user")),
                   gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    store = gw.glm.store
    try:
        await asyncio.to_thread(store.get_task, body.task_id, principal.owner_filter)
    except NotFound:
        raise NotFound(f"no task '{body.task_id}' visible to you") from None
    events = await asyncio.to_thread(store.events, body.task_id)
    nodes = sorted({str(e.data["node"]) for e in events if e.kind == EventKind.STEP_FINISHED and e.data.get("node")})

    def save() -> None:
        with store.engine.begin() as conn:
            conn.execute(insert(schema.feedback).values(
                task_id=body.task_id, owner=principal.subject, rating=body.rating, comment=body.comment,
                node=",".join(nodes) or None, created_at=time.time()))

    await asyncio.to_thread(save)
    # A router that learns node weights from feedback gets it here.
    record = getattr(gw.glm.model, "record_feedback", None)
    if callable(record):
        for node in nodes:
            record(node, body.rating)
    return {"task_id": body.task_id, "rating": body.rating, "nodes": nodes}
