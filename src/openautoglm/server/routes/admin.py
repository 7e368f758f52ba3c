"""Credentials (admin only) and feedback (users, on their own tasks)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends

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
    return {"id": key_id, "revoked": True}


@router.post("/v1/tokens/revoked", status_code=201, tags=["admin"], summary="Revoke a JWT by its jti")
async def revoke_token(body: RevokeTokenIn, _: Principal = Depends(caller("admin")),
                       gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    await asyncio.to_thread(gw.keyring.revoke_token, body.jti, body.expires_at)
    return {"jti": body.jti, "revoked": True}


@router.post("/v1/feedback", status_code=201, tags=["tasks"], summary="Rate a task's answer")
async def feedback(body: FeedbackIn, principal: Principal = Depends(caller("user")),
                   gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    nodes = await asyncio.to_thread(gw.glm.rate_task, body.task_id, body.rating, by=principal.subject,
                                    comment=body.comment, owner=principal.owner_filter)
    return {"task_id": body.task_id, "rating": body.rating, "nodes": nodes}
