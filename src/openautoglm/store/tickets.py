"""Customer-service tickets in the store: every routed customer message, and each agent's decision on it.

A message the support desk answered by itself is a ``sent`` ticket (so the rates count every message); a suggested
or handed-over one is ``open`` until an agent approves, edits or writes the reply (``answered``). Rejecting a
suggestion discards its draft and leaves the ticket open for a reply of the agent's own. Every decision is a row of
its own. Message, draft and reply are content: sealed like prompts and answers when ``encrypt_content`` is on.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update

from ..errors import NotFound, TicketConflict
from . import schema
from .mixin import StoreMixin

ACTIONS = ("approve", "edit", "reject", "reply")


@dataclass(frozen=True)
class TicketRecord:
    id: str
    conversation_id: str | None
    owner: str | None
    route: str
    status: str
    message: str
    draft: str | None
    reply: str | None
    confidence: float
    sources: list[dict[str, Any]]
    created_at: float
    updated_at: float
    drafter: str | None = None  # the model node that worded the draft, when one did
    drafter_capability: str | None = None
    policy_version: int | None = None

    def public(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class SupportCounts:
    messages: dict[str, int]  # by route
    decisions: dict[str, int]  # by action


class SupportTicketsMixin(StoreMixin):
    """The ticket methods of :class:`~openautoglm.store.sql.Store`."""

    def add_ticket(self, *, route: str, message: str, draft: str | None, reply: str | None, confidence: float,
                   sources: list[dict[str, Any]], conversation_id: str | None, owner: str | None,
                   drafter: str | None = None, drafter_capability: str | None = None,
                   policy_version: int | None = None) -> TicketRecord:
        now = time.time()
        ticket_id = secrets.token_hex(8)
        status = "sent" if route == "auto_reply" else "open"
        with self._write() as conn:
            conn.execute(insert(schema.support_tickets).values(
                id=ticket_id, conversation_id=conversation_id, owner=owner, route=route, status=status,
                message=self.seal_content(message), draft=self.seal_content(draft), reply=self.seal_content(reply),
                confidence=confidence, sources=sources, created_at=now, updated_at=now, drafter=drafter,
                drafter_capability=drafter_capability, policy_version=policy_version))
        return self.get_ticket(ticket_id)

    def get_ticket(self, ticket_id: str) -> TicketRecord:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.support_tickets).where(schema.support_tickets.c.id == ticket_id)).first()
        if row is None:
            raise NotFound(f"no ticket '{ticket_id}'")
        return self._ticket(row)

    def list_tickets(self, status: str | None = "open", limit: int = 100) -> list[TicketRecord]:
        """Tickets, oldest first (the one waiting longest on top); ``status`` None: every status."""
        t = schema.support_tickets
        query = select(t).order_by(t.c.created_at, t.c.id).limit(limit)
        if status is not None:
            query = query.where(t.c.status == status)
        with self.engine.connect() as conn:
            return [self._ticket(r) for r in conn.execute(query).all()]

    def decide_ticket(self, ticket_id: str, action: str, by: str, text: str | None = None) -> TicketRecord:
        """Record an agent's decision: ``approve`` sends the draft, ``edit``/``reply`` send ``text``, ``reject``
        discards the draft. Raises :class:`TicketConflict` for a ticket that is not open or has no draft to
        approve. The update is conditional on the ticket still being open, so two agents never both answer it."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        t = schema.support_tickets
        ticket = self.get_ticket(ticket_id)
        if ticket.status != "open":
            raise TicketConflict(f"ticket '{ticket_id}' is {ticket.status}, not open")
        if action == "approve" and not ticket.draft:
            raise TicketConflict(f"ticket '{ticket_id}' has no draft to approve; reply with your own text")
        now = time.time()
        if action == "reject":
            values: dict[str, Any] = {"draft": None, "updated_at": now}
        else:
            sent = ticket.draft if action == "approve" else text
            values = {"status": "answered", "reply": self.seal_content(sent), "updated_at": now}
        with self._write() as conn:
            changed = conn.execute(update(t).where(t.c.id == ticket_id, t.c.status == "open").values(**values))
            if not changed.rowcount:
                raise TicketConflict(f"ticket '{ticket_id}' was decided by someone else meanwhile")
            conn.execute(insert(schema.support_decisions).values(
                ticket_id=ticket_id, action=action, text=self.seal_content(text), decided_by=by, decided_at=now))
        return self.get_ticket(ticket_id)

    def support_counts(self) -> SupportCounts:
        t, d = schema.support_tickets, schema.support_decisions
        with self.engine.connect() as conn:
            routes = conn.execute(select(t.c.route, func.count()).group_by(t.c.route)).all()
            actions = conn.execute(select(d.c.action, func.count()).group_by(d.c.action)).all()
        return SupportCounts({str(r): int(n) for r, n in routes}, {str(a): int(n) for a, n in actions})

    def _ticket(self, row: Any) -> TicketRecord:
        return TicketRecord(
            id=row.id, conversation_id=row.conversation_id, owner=row.owner, route=row.route, status=row.status,
            message=self.open_value(row.message) or "", draft=self.open_value(row.draft),
            reply=self.open_value(row.reply), confidence=float(row.confidence), sources=list(row.sources or []),
            created_at=float(row.created_at), updated_at=float(row.updated_at), drafter=row.drafter,
            drafter_capability=row.drafter_capability, policy_version=row.policy_version)
