"""Approvals for tools with side effects, decided by someone else than the caller (the gateway's endpoints).

The executor asks ``await approver(tool, args, ctx) -> bool`` before a tool with side effects runs.
:class:`ApprovalBroker.approver` files a pending request (id, tool, arguments, task, step) and waits for
:meth:`ApprovalBroker.decide` — called by ``POST /v1/approvals/{id}`` — or for its timeout, which denies.
``GET /v1/approvals`` lists :meth:`ApprovalBroker.pending`. Every request and decision is an ``approval`` event
in the task's trace (who decided, or that time ran out)::

    broker = ApprovalBroker(timeout_s=300)
    app = AutoGLM(settings=..., approver=broker.approver)
    broker.pending()                                  # [ApprovalRequest(id=..., tool="shop.createOrder", ...)]
    broker.decide(request_id, approved=True, by="alice")
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..errors import NotFound
from ..events import EventKind
from .base import Tool, ToolContext

Status = Literal["pending", "approved", "denied", "expired", "cancelled"]
ARGS_PREVIEW_CHARS = 4000


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
    expires_at: float
    status: Status = "pending"
    decided_by: str | None = None
    decided_at: float | None = None
    reason: str | None = None


class _Waiting:
    __slots__ = ("ctx", "future", "loop", "request")

    def __init__(self, request: ApprovalRequest, future: asyncio.Future[bool], loop: asyncio.AbstractEventLoop,
                 ctx: ToolContext) -> None:
        self.request = request
        self.future = future
        self.loop = loop
        self.ctx = ctx


class ApprovalBroker:
    """Holds pending approval requests until someone decides or their time runs out (then: denied)."""

    def __init__(self, timeout_s: float = 300.0, clock: Callable[[], float] = time.time,
                 keep_decided: int = 1000) -> None:
        self.timeout_s = timeout_s
        self.clock = clock
        self.keep_decided = keep_decided
        self._waiting: dict[str, _Waiting] = {}
        self._decided: dict[str, ApprovalRequest] = {}
        # decide() may come from another thread (a sync endpoint, a CLI); the dicts are guarded by one lock.
        self._lock = threading.Lock()

    async def approver(self, tool: Tool, args: dict[str, Any], ctx: ToolContext) -> bool:
        """The executor's approver: file a request and wait for a decision; True only when approved in time."""
        loop = asyncio.get_running_loop()
        now = self.clock()
        request = ApprovalRequest(
            id=uuid.uuid4().hex[:12], tool=tool.name, args=_preview(args), task_id=ctx.task_id,
            step_id=ctx.step_id, role=ctx.role, created_at=now, expires_at=now + self.timeout_s,
        )
        future: asyncio.Future[bool] = loop.create_future()
        with self._lock:
            self._waiting[request.id] = _Waiting(request, future, loop, ctx)
        ctx.emit(EventKind.APPROVAL, status="pending", request_id=request.id, tool=tool.name,
                 timeout_s=self.timeout_s)
        try:
            async with asyncio.timeout(self.timeout_s):
                return await future
        except TimeoutError:
            self._finish(request.id, "expired", by="timeout", reason=f"no decision within {self.timeout_s:g}s")
            return False
        except asyncio.CancelledError:
            self._finish(request.id, "cancelled", by="system", reason="the step was cancelled")
            raise

    def _finish(self, request_id: str, status: Status, by: str, reason: str | None = None) -> ApprovalRequest | None:
        with self._lock:
            waiting = self._waiting.pop(request_id, None)
            if waiting is None:
                return None
            request = waiting.request.model_copy(update={
                "status": status, "decided_by": by, "decided_at": self.clock(), "reason": reason})
            self._decided[request_id] = request
            while len(self._decided) > self.keep_decided:
                self._decided.pop(next(iter(self._decided)))
        waiting.ctx.emit(EventKind.APPROVAL, status=status, request_id=request_id, tool=request.tool,
                         approved=status == "approved", by=by, reason=reason)
        return request

    def decide(self, request_id: str, approved: bool, by: str, reason: str | None = None) -> ApprovalRequest:
        """Approve or deny a pending request. Raises :class:`NotFound` for an unknown or already closed one."""
        with self._lock:
            waiting = self._waiting.get(request_id)
            closed = self._decided.get(request_id)
        if waiting is None:
            if closed is not None:
                raise NotFound(f"approval {request_id} is already {closed.status} (by {closed.decided_by})")
            raise NotFound(f"no approval request {request_id}; GET /v1/approvals lists the pending ones")
        request = self._finish(request_id, "approved" if approved else "denied", by=by, reason=reason)
        if request is None:  # it expired between the lookup and now
            return self.get(request_id)

        def settle() -> None:
            if not waiting.future.done():
                waiting.future.set_result(approved)

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is waiting.loop:
            settle()
        else:
            waiting.loop.call_soon_threadsafe(settle)
        return request

    def pending(self, task_id: str | None = None) -> list[ApprovalRequest]:
        with self._lock:
            requests = [w.request for w in self._waiting.values()]
        return [r for r in requests if task_id is None or r.task_id == task_id]

    def get(self, request_id: str) -> ApprovalRequest:
        with self._lock:
            waiting = self._waiting.get(request_id)
            found = waiting.request if waiting is not None else self._decided.get(request_id)
        if found is None:
            raise NotFound(f"no approval request {request_id}")
        return found


def _preview(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments as a person will see them; very large values are cut so the list stays readable."""
    text = json.dumps(args, ensure_ascii=False, default=str)
    if len(text) <= ARGS_PREVIEW_CHARS:
        return json.loads(text)
    return {"preview": text[:ARGS_PREVIEW_CHARS] + "...", "truncated": True}
