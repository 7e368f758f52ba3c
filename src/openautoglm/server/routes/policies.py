"""``/v1/policies``: the routing policy versions, their history and the signals the loop reads (viewers); create,
activate, roll back, pin (operators). A change is applied to this gateway's router at once and to the other
replicas on their next poll of the store (``policy.poll_s``)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ...policies.book import PolicyBook
from ...store import PolicyRecord, PolicyState
from ..auth import Principal
from ..deps import Gateway, caller, gateway

router = APIRouter(tags=["policies"])
Reason = Field(default=None, max_length=2000, description="why: kept in the policy log")
# Versions count up from 1; the bound keeps a number the database cannot hold a 422, not a 500.
MAX_VERSION = 2**31 - 1
Version = Annotated[int, Path(ge=1, le=MAX_VERSION)]


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: dict[str, Any] = Field(description="routes by capability (strategy, weights, limits, fallbacks, "
                                   "retries) and sections (cache, planner, composer...)")
    reason: str | None = Reason
    activate: bool = False


class ChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Reason


class PinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, le=MAX_VERSION, description="default: the active one")
    off: bool = Field(default=False, description="unpin")
    reason: str | None = Reason


def _book(gw: Gateway) -> PolicyBook:
    return gw.glm.policies


def _state(state: PolicyState | None) -> dict[str, Any] | None:
    return None if state is None else dataclasses.asdict(state)


def _record(record: PolicyRecord) -> dict[str, Any]:
    return dataclasses.asdict(record)


@router.get("/v1/policies", summary="Policy versions and the active one")
async def list_policies(_: Principal = Depends(caller("viewer")), gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    book = _book(gw)
    records, state = await asyncio.gather(asyncio.to_thread(book.versions), asyncio.to_thread(book.state))
    router = book.router
    return {"state": _state(state), "applied": None if router is None else router.arms.version,
            "canary": None if router is None or router.arms.canary is None else
            {"version": router.arms.canary.version, "share": router.arms.share},
            "data": [_record(r) for r in records]}


@router.get("/v1/policies/history", summary="What happened to policies: who, when, why, with the figures")
async def history(limit: int = 200, _: Principal = Depends(caller("viewer")),
                  gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    entries = await asyncio.to_thread(_book(gw).history, max(1, min(limit, 1000)))
    return {"data": [dataclasses.asdict(e) for e in entries]}


@router.get("/v1/policies/signals", summary="Per node and capability: latency, errors, tokens, cost, ratings")
async def signals(_: Principal = Depends(caller("viewer")), gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    router = _book(gw).router
    return {"data": None if router is None else router.signals.describe()}


@router.get("/v1/policies/{version}", summary="One version, and what it changes from its parent")
async def show(version: Version, _: Principal = Depends(caller("viewer")),
               gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    book = _book(gw)
    record = await asyncio.to_thread(book.get, version)
    changes = await asyncio.to_thread(book.diff, record.parent, version)
    return {**_record(record), "changes": changes}


@router.get("/v1/policies/{version}/diff", summary="What a version changes from another (default: none)")
async def diff(version: Version, against: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
               _: Principal = Depends(caller("viewer")),
               gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    changes = await asyncio.to_thread(_book(gw).diff, against, version)
    return {"version": version, "against": against, "changes": changes}


@router.post("/v1/policies", status_code=201, summary="Store a new policy version (and activate it)")
async def create(body: PolicyIn, principal: Principal = Depends(caller("operator")),
                 gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    book = _book(gw)
    record = await asyncio.to_thread(book.create, body.policy, principal.subject, body.reason,
                                     parent=(await asyncio.to_thread(book.state)).active)
    state = None
    if body.activate:
        state = await asyncio.to_thread(book.activate, record.version, principal.subject, body.reason)
    return {**_record(record), "state": _state(state)}


@router.post("/v1/policies/{version}/activate", summary="Make a version the active one")
async def activate(version: Version, body: ChangeIn | None = None, principal: Principal = Depends(caller("operator")),
                   gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    state = await asyncio.to_thread(_book(gw).activate, version, principal.subject, body.reason if body else None)
    return {"state": _state(state)}


@router.post("/v1/policies/rollback", summary="Make the version active before the current one active again")
async def rollback(body: ChangeIn | None = None, principal: Principal = Depends(caller("operator")),
                   gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    state = await asyncio.to_thread(_book(gw).rollback, principal.subject, body.reason if body else None)
    return {"state": _state(state)}


@router.post("/v1/policies/pin", summary="Pin a version (the loop leaves it alone), or unpin")
async def pin(body: PinIn, principal: Principal = Depends(caller("operator")),
              gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    book = _book(gw)
    if body.off:
        state = await asyncio.to_thread(book.unpin, principal.subject, body.reason)
    else:
        state = await asyncio.to_thread(book.pin, body.version, principal.subject, body.reason)
    return {"state": _state(state)}
