"""Customer service (apps/support/): a customer message in, a routed reply out; the agents' inbox of suggested and
handed-over conversations (operators decide); the conversation as the customer sees it."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from ...apps.support import SupportDesk
from ..auth import Principal
from ..deps import Gateway, caller, gateway
from ..schemas import SupportMessageIn, TicketDecisionIn

router = APIRouter(tags=["support"])


def _desk(request: Request, gw: Gateway) -> SupportDesk:
    desk: SupportDesk | None = getattr(request.app.state, "support_desk", None)
    if desk is None:
        desk = request.app.state.support_desk = SupportDesk(gw.glm)
    return desk


def _update_rates(gw: Gateway) -> None:
    """The rates over every message the store holds (so they survive restarts and agree across replicas)."""
    counts = gw.glm.store.support_counts()
    total = sum(counts.messages.values())
    sent = counts.decisions.get("approve", 0) + counts.decisions.get("edit", 0)
    gauge = gw.metrics.support_rate
    gauge.labels("auto_reply").set(counts.messages.get("auto_reply", 0) / total if total else 0.0)
    gauge.labels("handoff").set(counts.messages.get("handoff", 0) / total if total else 0.0)
    gauge.labels("agent_edit").set(counts.decisions.get("edit", 0) / sent if sent else 0.0)


@router.post("/v1/support/messages", summary="Answer a customer message, suggest a reply to an agent, or hand "
             "the conversation over, by the reply's measured confidence")
async def support_message(body: SupportMessageIn, request: Request, principal: Principal = Depends(caller("user")),
                          gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    # A conversation belongs to whoever started it: another caller's conversation id is a 404, not a read.
    reply = await _desk(request, gw).ask(body.text, body.conversation_id, owner=principal.subject)
    gw.metrics.support_messages.labels(reply.route).inc()
    await asyncio.to_thread(_update_rates, gw)
    return reply.model_dump()


@router.get("/v1/support/conversations/{conversation_id}", summary="A support conversation as the customer sees "
            "it: their messages and the replies they were sent")
async def support_conversation(conversation_id: str, request: Request,
                               principal: Principal = Depends(caller("user")),
                               gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    said = await asyncio.to_thread(_desk(request, gw).conversation, conversation_id, principal.owner_filter)
    return {"id": conversation_id, "messages": said}


@router.get("/v1/support/inbox", summary="Tickets waiting for an agent (suggested replies and hand-offs), oldest "
            "first")
async def inbox(status: Literal["open", "answered", "sent", "all"] = Query("open"),
                limit: int = Query(100, ge=1, le=500), _: Principal = Depends(caller("operator")),
                gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    tickets = await asyncio.to_thread(gw.glm.store.list_tickets, None if status == "all" else status, limit)
    return {"data": [t.public() for t in tickets]}


@router.post("/v1/support/inbox/{ticket_id}", summary="Decide a ticket: approve or edit the suggested reply, "
             "reply with your own, or reject the draft")
async def decide(ticket_id: str, body: TicketDecisionIn, request: Request,
                 principal: Principal = Depends(caller("operator")), gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    ticket = await _desk(request, gw).decide(ticket_id, body.action, principal.subject, body.text)
    gw.metrics.support_decisions.labels(body.action).inc()
    await asyncio.to_thread(_update_rates, gw)
    return ticket.public()
