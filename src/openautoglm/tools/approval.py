"""Approvals for tools with side effects, decided by someone else than the caller (the gateway's endpoints).

The executor asks ``await approver(tool, args, ctx) -> bool`` before a tool with side effects runs.
:class:`ApprovalBroker.approver` files a request (id, tool, arguments, task, step) in its records and waits for
:meth:`ApprovalBroker.decide` — called by ``POST /v1/approvals/{id}`` — or for its time to run out. Then it
escalates (``escalate_to``: a role asked next, with a time of its own) or, with nobody left to ask, expires, which
denies. Either time may be None (``approvals: {timeout_s: null}``): then the request waits until someone decides.
``GET /v1/approvals`` lists :meth:`ApprovalBroker.pending`. Every request, escalation and decision is an
``approval`` event in the task's trace (who decided, or that time ran out)::

    broker = ApprovalBroker(timeout_s=300, records=store, escalate_to="admin")
    app = AutoGLM(settings=..., approver=broker.approver)
    broker.pending()                                  # [ApprovalRequest(id=..., tool="shop.createOrder", ...)]
    broker.decide(request_id, approved=True, by="alice")

With the store as ``records`` the requests outlive the process: a task resumed after a restart (or taken over by
another replica) finds its step's open request and waits on it (or goes on at once when it was approved meanwhile),
and a decision made through any replica reaches the waiting step within ``poll_s``. Without records they live in
memory. ``grants`` says which calls were approved in advance by configuration (a trigger's ``approve:`` list).

:meth:`ApprovalBroker.rerun` asks the other question durable execution needs: a call this task started before a
crash (its idempotency key claimed, no outcome recorded) whose tool cannot ``reconcile``. The request has
``kind: "rerun"`` and says ``why``; approving runs the call again, denying (or expiry) fails the step with the
reason. Nothing grants it in advance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from ..errors import ApprovalConflict, NotFound, ToolPermissionError
from ..events import EventKind
from .base import Tool, ToolContext

Status = Literal["pending", "escalated", "approved", "denied", "expired", "cancelled"]
Kind = Literal["call", "rerun"]
OPEN: tuple[str, ...] = ("pending", "escalated")
ARGS_PREVIEW_CHARS = 4000
# Who approved a call in advance (a trigger's configuration), or None: then a person decides.
Grants = Callable[[Tool, ToolContext], str | None]


class ApprovalRequest(BaseModel):
    """One request to run a tool with side effects; what ``GET /v1/approvals`` shows."""

    model_config = ConfigDict(extra="forbid")

    id: str
    tool: str
    args: dict[str, Any]
    task_id: str
    step_id: str
    role: str
    created_at: float
    expires_at: float | None  # None: it waits until someone decides
    status: Status = "pending"
    escalate_to: str | None = None
    escalated_at: float | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    reason: str | None = None
    # "call": may the tool run? "rerun": its call was started before a crash and what it did is unknown; approving
    # runs it again, denying fails the step. ``why`` says so, for the person deciding.
    kind: Kind = "call"
    why: str | None = None


class ApprovalRecords(Protocol):
    """Where requests are kept: :class:`MemoryApprovals`, or the store (shared by replicas, kept over restarts)."""

    def add_approval(self, row: dict[str, Any]) -> None: ...

    def get_approval(self, request_id: str) -> dict[str, Any] | None: ...

    def open_approval(self, task_id: str, step_id: str, tool: str, kind: str = "call",
                      since: float = 0.0) -> dict[str, Any] | None:
        """The newest request of this step asking ``kind``, made at ``since`` or later, that is still open or was
        approved (not yet used)."""

    def list_approvals(self, statuses: tuple[str, ...], task_id: str | None = None) -> list[dict[str, Any]]: ...

    def change_approval(self, request_id: str, from_statuses: tuple[str, ...], values: dict[str, Any]) -> bool:
        """Update the request only if its status is one of ``from_statuses``; whether it was."""


class MemoryApprovals:
    """Requests in this process only (the CLI, tests): lost when it ends."""

    def __init__(self, keep: int = 1000) -> None:
        self.keep = keep
        self._rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def add_approval(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._rows[row["id"]] = dict(row)
            closed = [k for k, r in self._rows.items() if r["status"] not in OPEN]
            for k in closed[: max(0, len(closed) - self.keep)]:
                del self._rows[k]

    def get_approval(self, request_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._rows.get(request_id)
            return dict(row) if row is not None else None

    def open_approval(self, task_id: str, step_id: str, tool: str, kind: str = "call",
                      since: float = 0.0) -> dict[str, Any] | None:
        with self._lock:
            rows = [r for r in self._rows.values() if (r["task_id"], r["step_id"], r["tool"], r["kind"]) == (
                task_id, step_id, tool, kind) and r["created_at"] >= since and r["status"] in (*OPEN, "approved")]
            return dict(max(rows, key=lambda r: r["created_at"])) if rows else None

    def list_approvals(self, statuses: tuple[str, ...], task_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._rows.values()
                    if r["status"] in statuses and (task_id is None or r["task_id"] == task_id)]

    def change_approval(self, request_id: str, from_statuses: tuple[str, ...], values: dict[str, Any]) -> bool:
        with self._lock:
            row = self._rows.get(request_id)
            if row is None or row["status"] not in from_statuses:
                return False
            row.update(values)
            return True


class ApprovalBroker:
    """Holds approval requests until someone decides or their time runs out (escalated, then denied)."""

    def __init__(self, timeout_s: float | None = 300.0, clock: Callable[[], float] = time.time,
                 keep_decided: int = 1000, *, records: ApprovalRecords | None = None,
                 escalate_to: str | None = None, escalation_timeout_s: float | None = 3600.0, poll_s: float = 1.0,
                 grants: Grants | None = None) -> None:
        self.timeout_s = timeout_s
        self.clock = clock
        self.records: ApprovalRecords = records if records is not None else MemoryApprovals(keep_decided)
        # Kept over restarts: a step stopped while it waits leaves its request open for the resumed task.
        self.durable = records is not None
        self.escalate_to = escalate_to
        self.escalation_timeout_s = escalation_timeout_s
        self.poll_s = poll_s
        self.grants = grants
        # Requests waited on in this process: a decision made here wakes the step at once (others poll).
        self._local: dict[str, tuple[asyncio.Future[None], asyncio.AbstractEventLoop]] = {}
        self._lock = threading.Lock()

    async def approver(self, tool: Tool, args: dict[str, Any], ctx: ToolContext) -> bool:
        """The executor's approver: file a request (or take up this step's open one) and wait for a decision;
        True only when approved in time."""
        if self.grants is not None and (granted := self.grants(tool, ctx)):
            ctx.emit(EventKind.APPROVAL, status="approved", tool=tool.name, approved=True, by=granted,
                     reason="approved in advance by configuration")
            return True
        return (await self._decision(tool, args, ctx))["status"] == "approved"

    async def rerun(self, tool: Tool, args: dict[str, Any], ctx: ToolContext, why: str,
                    since: float) -> tuple[bool, str]:
        """The executor's question for a call started before a crash whose outcome is unknown (``since``: when it
        was started; a decision older than that was about an earlier crash): whether to run it again, and the
        decision in words (who, why). Never granted in advance: a person looks at the target system first."""
        row = await self._decision(tool, args, ctx, kind="rerun", why=why, since=since)
        by = f" by {row['decided_by']}" if row.get("decided_by") else ""
        return row["status"] == "approved", f"{row['status']}{by}" + (f": {row['reason']}" if row.get("reason")
                                                                       else "")

    async def _decision(self, tool: Tool, args: dict[str, Any], ctx: ToolContext, kind: Kind = "call",
                        why: str | None = None, since: float = 0.0) -> dict[str, Any]:
        """File a request (or take up this step's open one of ``kind``) and wait until it is closed; its row."""
        asked = {"asks": kind} if kind != "call" else {}
        row = await asyncio.to_thread(self.records.open_approval, ctx.task_id, ctx.step_id, tool.name, kind, since)
        if row is not None and row["status"] == "approved":
            ctx.emit(EventKind.APPROVAL, status="approved", request_id=row["id"], tool=tool.name, approved=True,
                     by=row.get("decided_by"), reason="decided while the task was not running", **asked)
            return row
        if row is None:
            now = self.clock()
            request = ApprovalRequest(
                id=uuid.uuid4().hex[:12], tool=tool.name, args=_preview(args), task_id=ctx.task_id,
                step_id=ctx.step_id, role=ctx.role, created_at=now, expires_at=_after(now, self.timeout_s),
                kind=kind, why=why)
            await asyncio.to_thread(self.records.add_approval, request.model_dump())
            ctx.emit(EventKind.APPROVAL, status="pending", request_id=request.id, tool=tool.name,
                     timeout_s=self.timeout_s, **({"reason": why} if why else {}), **asked)
            request_id = request.id
        else:
            request_id = row["id"]
            ctx.emit(EventKind.APPROVAL, status=row["status"], request_id=request_id, tool=tool.name,
                     timeout_s=None if row["expires_at"] is None else max(0.0, row["expires_at"] - self.clock()),
                     reason="the task was resumed; its request is still open", **asked)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._local[request_id] = (future, loop)
        try:
            return await self._wait(request_id, tool, ctx, future, asked)
        except asyncio.CancelledError:
            if not self.durable:
                self.records.change_approval(request_id, OPEN, {
                    "status": "cancelled", "decided_by": "system", "decided_at": self.clock(),
                    "reason": "the step was cancelled"})
                ctx.emit(EventKind.APPROVAL, status="cancelled", request_id=request_id, tool=tool.name,
                         approved=False, by="system", reason="the step was cancelled", **asked)
            raise
        finally:
            with self._lock:
                self._local.pop(request_id, None)

    async def _wait(self, request_id: str, tool: Tool, ctx: ToolContext, future: asyncio.Future[None],
                    asked: dict[str, Any]) -> dict[str, Any]:
        while True:
            row = await asyncio.to_thread(self.records.get_approval, request_id)
            if row is None:  # removed from under us: nobody can approve it any more
                return {"id": request_id, "status": "cancelled", "reason": "the request was removed"}
            status = row["status"]
            if status not in OPEN:
                ctx.emit(EventKind.APPROVAL, status=status, request_id=request_id, tool=tool.name,
                         approved=status == "approved", by=row.get("decided_by"), reason=row.get("reason"), **asked)
                return row
            now = self.clock()
            remaining = math.inf if row["expires_at"] is None else row["expires_at"] - now
            if remaining <= 0:
                if status == "pending" and self.escalate_to:
                    escalated = await asyncio.to_thread(self.records.change_approval, request_id, ("pending",), {
                        "status": "escalated", "escalate_to": self.escalate_to, "escalated_at": now,
                        "expires_at": _after(now, self.escalation_timeout_s)})
                    if escalated:
                        ctx.emit(EventKind.APPROVAL, status="escalated", request_id=request_id, tool=tool.name,
                                 by="timeout", timeout_s=self.escalation_timeout_s,
                                 reason=f"no decision within {_seconds(self.timeout_s)}; now for role "
                                        f"{self.escalate_to}", **asked)
                    continue
                waited = now - row["created_at"]
                await asyncio.to_thread(self.records.change_approval, request_id, OPEN, {
                    "status": "expired", "decided_by": "timeout", "decided_at": now,
                    "reason": f"no decision within {waited:.0f}s"})
                continue  # read it again: expired, or a decision that came first
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(future), timeout=min(remaining, self.poll_s))
            if future.done():  # decided here: make a fresh one in case the row is read before the update lands
                future = asyncio.get_running_loop().create_future()
                with self._lock:
                    self._local[request_id] = (future, asyncio.get_running_loop())

    def decide(self, request_id: str, approved: bool, by: str, reason: str | None = None,
               role: str | None = None) -> ApprovalRequest:
        """Approve or deny an open request (the gateway's ``POST /v1/approvals/{id}`` and ``autoglm approvals``).
        Raises :class:`NotFound` for an unknown one, :class:`ApprovalConflict` for one closed already (one
        decision wins), and :class:`ToolPermissionError` when it was escalated to a role ``role`` is not (admins
        may always; ``None``: a local operator at the database, not checked)."""
        row = self.records.get_approval(request_id)
        if row is None:
            raise NotFound(f"no approval request {request_id}; `autoglm approvals list` or GET /v1/approvals "
                           "lists the open ones")
        if row["status"] == "escalated" and role is not None and role not in (row.get("escalate_to"), "admin"):
            raise ToolPermissionError(f"approval {request_id} was escalated to role {row.get('escalate_to')}; "
                                      f"role {role} may no longer decide it")
        status = "approved" if approved else "denied"
        changed = self.records.change_approval(request_id, OPEN, {
            "status": status, "decided_by": by, "decided_at": self.clock(), "reason": reason})
        if not changed:
            closed = self.records.get_approval(request_id) or row
            raise ApprovalConflict(f"approval {request_id} is already {closed['status']} "
                                   f"(by {closed.get('decided_by')})")
        with self._lock:
            local = self._local.get(request_id)
        if local is not None:
            future, loop = local

            def settle() -> None:
                if not future.done():
                    future.set_result(None)

            loop.call_soon_threadsafe(settle)
        return self.get(request_id)

    def pending(self, task_id: str | None = None, statuses: tuple[str, ...] = OPEN) -> list[ApprovalRequest]:
        """The open requests, oldest first (``statuses``: those in these states instead)."""
        rows = self.records.list_approvals(statuses, task_id)
        return [ApprovalRequest.model_validate(r) for r in sorted(rows, key=lambda r: r["created_at"])]

    def get(self, request_id: str) -> ApprovalRequest:
        row = self.records.get_approval(request_id)
        if row is None:
            raise NotFound(f"no approval request {request_id}")
        return ApprovalRequest.model_validate(row)


def _after(now: float, timeout_s: float | None) -> float | None:
    """When a wait of ``timeout_s`` ends (None: never, someone must decide)."""
    return None if timeout_s is None else now + timeout_s


def _seconds(timeout_s: float | None) -> str:
    return "no time limit" if timeout_s is None else f"{timeout_s:g}s"


def _preview(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments as a person will see them; very large values are cut so the list stays readable."""
    text = json.dumps(args, ensure_ascii=False, default=str)
    if len(text) <= ARGS_PREVIEW_CHARS:
        return json.loads(text)
    return {"preview": text[:ARGS_PREVIEW_CHARS] + "...", "truncated": True}
