"""Customer service (apps/support/): a customer message in, a routed reply out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from ...apps.support import SupportDesk
from ..auth import Principal
from ..deps import Gateway, caller, gateway
from ..schemas import SupportMessageIn

router = APIRouter(tags=["support"])


def _desk(request: Request, gw: Gateway) -> SupportDesk:
    desk: SupportDesk | None = getattr(request.app.state, "support_desk", None)
    if desk is None:
        desk = request.app.state.support_desk = SupportDesk(gw.glm)
    return desk


@router.post("/v1/support/messages", summary="Answer a customer message, suggest a reply to an agent, or hand "
             "the conversation over, by the reply's measured confidence")
async def support_message(body: SupportMessageIn, request: Request, principal: Principal = Depends(caller("user")),
                          gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    # A conversation belongs to whoever started it: another caller's conversation id is a 404, not a read.
    reply = await _desk(request, gw).ask(body.text, body.conversation_id, owner=principal.subject)
    return reply.model_dump()
