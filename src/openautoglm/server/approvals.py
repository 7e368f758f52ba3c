"""``GET /v1/approvals`` and ``POST /v1/approvals/{id}``: operators decide whether a tool with side effects runs.

They work over the app's :class:`~openautoglm.tools.approval.ApprovalBroker` (the facade's approver is the
broker's ``approver``); the decision and who made it land in the task's trace as an ``approval`` event.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError
from ..tools.approval import ApprovalBroker
from .auth import Principal
from .deps import caller

router = APIRouter(tags=["approvals"])


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approved: bool
    reason: str | None = Field(default=None, max_length=1000)


def broker_of(request: Request) -> ApprovalBroker:
    broker = getattr(request.app.state, "approvals", None)
    if not isinstance(broker, ApprovalBroker):
        raise ConfigError("approvals are not handled by this gateway: start it with an ApprovalBroker "
                          "(`autoglm serve` does)")
    return broker


@router.get("/v1/approvals", summary="Pending approval requests")
async def pending(request: Request, task_id: str | None = Query(default=None, max_length=64),
                  _: Principal = Depends(caller("operator"))) -> dict[str, Any]:
    return {"data": [r.model_dump() for r in broker_of(request).pending(task_id)]}


@router.post("/v1/approvals/{request_id}", summary="Approve or deny a pending request")
async def decide(request_id: str, body: Decision, request: Request,
                 principal: Principal = Depends(caller("operator"))) -> dict[str, Any]:
    decided = broker_of(request).decide(request_id, body.approved, by=principal.subject, reason=body.reason,
                                        role=principal.role)
    return decided.model_dump()
