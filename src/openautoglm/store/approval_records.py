"""Approval requests in the store (the :class:`~openautoglm.tools.approval.ApprovalRecords` of the broker): they
outlive the process that filed them, and every replica on the database sees and decides the same ones.

A decision is a conditional UPDATE (``WHERE status IN (open statuses)``), so of two operators deciding at once, or
a decision racing the timeout, exactly one wins. The arguments are sealed when stored content is encrypted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update

from . import schema
from .mixin import StoreMixin


class ApprovalRecordsMixin(StoreMixin):
    """The :class:`~openautoglm.tools.approval.ApprovalRecords` methods of :class:`~openautoglm.store.sql.Store`."""

    def add_approval(self, row: dict[str, Any]) -> None:
        values = {c.name: row.get(c.name) for c in schema.approvals.columns}
        values["args"] = self.seal_json(row.get("args") or {})
        with self._write() as conn:
            conn.execute(insert(schema.approvals).values(values))

    def get_approval(self, request_id: str) -> dict[str, Any] | None:
        t = schema.approvals
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == request_id)).first()
        return self._approval(row) if row is not None else None

    def open_approval(self, task_id: str, step_id: str, tool: str, kind: str = "call",
                      since: float = 0.0) -> dict[str, Any] | None:
        t = schema.approvals
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.task_id == task_id, t.c.step_id == step_id, t.c.tool == tool,
                                               t.c.kind == kind, t.c.created_at >= since,
                                               t.c.status.in_(("pending", "escalated", "approved")))
                               .order_by(t.c.created_at.desc()).limit(1)).first()
        return self._approval(row) if row is not None else None

    def list_approvals(self, statuses: tuple[str, ...], task_id: str | None = None) -> list[dict[str, Any]]:
        t = schema.approvals
        query = select(t).where(t.c.status.in_(statuses)).order_by(t.c.created_at).limit(1000)
        if task_id is not None:
            query = query.where(t.c.task_id == task_id)
        with self.engine.connect() as conn:
            return [self._approval(r) for r in conn.execute(query).all()]

    def change_approval(self, request_id: str, from_statuses: tuple[str, ...], values: dict[str, Any]) -> bool:
        t = schema.approvals
        with self._write() as conn:
            done = conn.execute(update(t).where(t.c.id == request_id, t.c.status.in_(from_statuses)).values(values))
        return bool(done.rowcount)

    def _approval(self, row: Any) -> dict[str, Any]:
        data = dict(row._mapping)
        data["args"] = self.open_json(data["args"])
        return data
