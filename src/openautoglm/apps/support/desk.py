"""The support desk: a customer message in, a routed reply out.

    desk = SupportDesk(glm)
    reply = await desk.ask("我买的耳机坏了，可以退货吗？", conversation_id="c-1")
    reply.route, reply.confidence, reply.reply, reply.sources

Understand (message features, the conversation's previous message for a follow-up) → draft from evidence (the
configured order tool for an order question, else the knowledge base) → measure confidence (confidence.py) →
route by the thresholds in ``support:`` (auto_reply ≥ 0.9 > suggest ≥ 0.7 > handoff). The customer's turn and
what they were told go to the conversation (the session store), so the next message can lean on this one.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...errors import AutoGLMError, ConfigError
from ...memory.sessions import SessionTurn
from ...store.tickets import TicketRecord
from .confidence import Assessment, Calibration, assess, draft_problems
from .drafts import Draft, Drafter, kb_draft, order_draft
from .message import MessageFeatures, read_message

if TYPE_CHECKING:
    from ...app import AutoGLM

Route = Literal["auto_reply", "suggest", "handoff"]
MAX_MESSAGE_CHARS = 4000
KB_HITS = 5

_HOLDING = {
    "suggest": ("收到，客服正在核实您的问题，稍后回复您。",
                "Thanks, an agent is checking this and will reply shortly."),
    "handoff": ("已为您转接人工客服，请稍候。",
                "We have passed your message to a member of our team; they will reply shortly."),
}
_ASK_ORDER_ID = ("请提供您的订单号（例如 ORD-10023），我们帮您查询。",
                 "Please send your order number (for example ORD-10023) and we will look it up.")


class SupportReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    route: Route
    confidence: float = Field(ge=0, le=1)
    reply: str = Field(description="what the customer is told now: the answer (auto_reply) or a holding message")
    draft: str | None = Field(default=None, description="the drafted answer, for an agent when not sent")
    sources: list[dict[str, Any]] = Field(default_factory=list, description="where every fact of the draft is from")
    ticket_id: str | None = None
    conversation_id: str | None = None
    features: dict[str, float] = Field(default_factory=dict, description="what the confidence was measured from")
    problems: list[str] = Field(default_factory=list, description="checks the draft failed")


class SupportDesk:
    def __init__(self, glm: AutoGLM, calibration: Calibration | None = None) -> None:
        self.glm = glm
        self.config = glm.settings.support
        self.calibration = calibration or Calibration.bundled()

    async def ask(self, text: str, conversation_id: str | None = None, owner: str | None = None) -> SupportReply:
        text = " ".join(text.split())
        if not text:
            raise ConfigError("the message is empty")
        if len(text) > MAX_MESSAGE_CHARS:
            raise ConfigError(f"the message is longer than {MAX_MESSAGE_CHARS} characters")
        message = read_message(text, self.config.order_id_pattern)
        context = await asyncio.to_thread(self._previous, conversation_id, owner) if message.follow_up else ""
        draft = await self._draft(message, context)
        if draft is not None and self.config.phrase_with_model:
            draft = await self._phrase(message, draft)
        assessment = assess(message, draft, self.calibration)
        reply = self._route(message, draft, assessment)
        reply.conversation_id = conversation_id
        if conversation_id:
            turn = SessionTurn(request=text, answer=reply.reply, status=reply.route)
            await asyncio.to_thread(self.glm.sessions.append, conversation_id, turn, owner)
        drafter = draft.drafter if draft is not None and reply.draft == draft.text else None
        ticket = await asyncio.to_thread(
            self.glm.store.add_ticket, route=reply.route, message=text, draft=reply.draft,
            reply=reply.reply, confidence=reply.confidence, sources=reply.sources,
            conversation_id=conversation_id, owner=owner, drafter=drafter.node if drafter else None,
            drafter_capability=drafter.capability if drafter else None,
            policy_version=drafter.policy_version if drafter else None)
        if reply.route != "auto_reply":  # a ticket in the agents' inbox
            reply.ticket_id = ticket.id
        return reply

    async def decide(self, ticket_id: str, action: str, by: str, text: str | None = None) -> TicketRecord:
        """An agent's decision on a ticket (approve / edit / reject / reply); a reply that goes out joins the
        customer's conversation as the agent's turn, and a decision on a draft a model node worded rates that node
        (:meth:`_rate_drafter`)."""
        before = await asyncio.to_thread(self.glm.store.get_ticket, ticket_id)
        ticket = await asyncio.to_thread(self.glm.store.decide_ticket, ticket_id, action, by, text)
        if ticket.status == "answered" and ticket.reply and ticket.conversation_id:
            turn = SessionTurn(request="", answer=ticket.reply, status=f"agent_{action}")
            await asyncio.to_thread(self.glm.sessions.append, ticket.conversation_id, turn)
        if before.draft and before.drafter:
            await asyncio.to_thread(self._rate_drafter, before, action, by)
        return ticket

    def _rate_drafter(self, ticket: TicketRecord, action: str, by: str) -> None:
        """The decision as a rating of the node that worded the draft, for the feedback loop (policies/loop.py
        reads the store's feedback): sent as drafted is a thumbs-up; edited, rejected or replaced by the agent's
        own reply a thumbs-down."""
        rating = 1 if action == "approve" else -1
        self.glm.store.add_feedback(f"ticket:{ticket.id}", rating, owner=by, comment=f"support draft: {action}",
                                    nodes=[ticket.drafter] if ticket.drafter else [],
                                    policy_version=ticket.policy_version)

    def conversation(self, conversation_id: str, owner: str | None = None) -> list[dict[str, str]]:
        """The conversation as the customer sees it: their messages and every reply they were sent."""
        said: list[dict[str, str]] = []
        for turn in self.glm.sessions.turns(conversation_id, owner):
            if turn.request:
                said.append({"from": "customer", "text": turn.request})
            if turn.answer:
                said.append({"from": "agent" if turn.status.startswith("agent_") else "desk", "text": turn.answer})
        return said

    def _previous(self, conversation_id: str | None, owner: str | None) -> str:
        """The customer's previous message in this conversation ('' when there is none)."""
        if not conversation_id:
            return ""
        asked = [t.request for t in self.glm.sessions.recent(conversation_id, owner) if t.request]
        return asked[-1] if asked else ""

    async def _draft(self, message: MessageFeatures, context: str) -> Draft | None:
        if message.order_id and self.config.order_tool:
            return await self._order(message)
        if message.asks_order and not message.order_id and self.config.order_tool:
            return None  # nothing to look up yet: the reply asks for the number (see _route)
        query = f"{context} {message.text}".strip()
        try:
            hits = await asyncio.to_thread(self.glm.knowledge.search, query, KB_HITS)
        except AutoGLMError:
            return None
        return kb_draft(message.text, context, hits, message.lang)

    async def _order(self, message: MessageFeatures) -> Draft | None:
        tool = self.config.order_tool
        assert tool is not None and message.order_id is not None
        try:
            output = await self.glm.call_tool(tool, {self.config.order_id_arg: message.order_id})
        except AutoGLMError:
            return None  # unknown order or the API is down: a person takes it (the trace has the failed call)
        return order_draft(message.order_id, output, tool, message.lang, message.text)

    async def _phrase(self, message: MessageFeatures, draft: Draft) -> Draft:
        """The model's wording of the draft, kept only when it states nothing the sources do not."""
        from ...events import EventKind
        from ...models.base import ChatRequest, reporting_model_events
        from ...tools.llm import DATA_NOTICE, fence_data

        instruction = ("把下面的客服回复改写得礼貌、简洁，不要添加任何新的事实或数字：" if message.lang == "zh"
                       else "Rewrite this customer-service reply politely and briefly; add no facts or numbers:")
        request = ChatRequest.of(f"{instruction}\n{fence_data(draft.text)}", system=DATA_NOTICE, max_tokens=120,
                                 temperature=0, capability="text-generation")
        answered: list[dict[str, Any]] = []

        def attempts(kind: str, **data: Any) -> None:
            if kind == EventKind.MODEL_ATTEMPT and data.get("outcome") == "ok":
                answered.append(data)

        try:
            with reporting_model_events(attempts):  # which node answered, under which policy version
                response = await self.glm.router.complete(request)
        except AutoGLMError:
            return draft
        text = response.text.strip()
        if not text or draft_problems(text, draft.facts, message.text, message.lang):
            return draft
        node = answered[-1]["node"] if answered else response.node
        drafter = Drafter(node, request.capability, answered[-1].get("policy") if answered else None) if node \
            else None
        return Draft(text=text, sources=draft.sources, evidence=draft.evidence, facts=draft.facts, drafter=drafter)

    def _route(self, message: MessageFeatures, draft: Draft | None, assessment: Assessment) -> SupportReply:
        zh = message.lang == "zh"
        confidence = assessment.confidence
        if draft is None and message.asks_order and not message.order_id and self.config.order_tool \
                and not message.angry:
            # Asking back for the order number states no fact, so nothing in it can be wrong: it goes out as is.
            ask = _ASK_ORDER_ID[0 if zh else 1]
            return SupportReply(route="auto_reply", confidence=1.0, reply=ask, draft=ask,
                                features={"clarification": 1.0})
        if draft is not None and confidence >= self.config.auto_reply:
            route = "auto_reply"
        elif draft is not None and confidence >= self.config.suggest:
            route = "suggest"
        else:
            route = "handoff"
        text = draft.text if draft is not None else None
        reply = text if route == "auto_reply" and text else _HOLDING[route][0 if zh else 1]
        return SupportReply(route=route, confidence=confidence, reply=reply, draft=text,
                            sources=draft.sources if draft is not None else [], features=assessment.features,
                            problems=assessment.problems)
