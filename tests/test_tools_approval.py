"""The approval broker: pending requests, decisions from elsewhere, timeouts that deny, every decision an event."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from openautoglm import AutoGLM
from openautoglm.config import Settings
from openautoglm.errors import ApprovalConflict, NotFound
from openautoglm.events import Event, EventKind
from openautoglm.models.scripted import ScriptedModel
from openautoglm.tools.approval import ApprovalBroker
from openautoglm.tools.base import FunctionTool, Tool
from tools_net_support import Recorder

sent: list[str] = []


def send_email(to: str, subject: str) -> str:
    """Send an email (a side effect)."""
    sent.append(to)
    return f"sent to {to}"


def email_tool() -> Tool:
    return FunctionTool(send_email, name="mail.send", side_effects=True)


async def wait_for_pending(broker: ApprovalBroker, count: int = 1) -> None:
    for _ in range(400):
        if len(broker.pending()) >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("no approval request appeared")


async def test_approve_from_the_broker() -> None:
    broker = ApprovalBroker(timeout_s=10)
    rec = Recorder()
    waiter = asyncio.create_task(broker.approver(email_tool(), {"to": "a@example.com", "subject": "hi"}, rec.ctx))
    await wait_for_pending(broker)
    [request] = broker.pending()
    assert (request.tool, request.args, request.task_id, request.step_id, request.status) == (
        "mail.send", {"to": "a@example.com", "subject": "hi"}, "t", "s", "pending")
    decided = broker.decide(request.id, approved=True, by="alice")
    assert await waiter is True
    assert decided.status == "approved" and decided.decided_by == "alice"
    assert broker.pending() == [] and broker.get(request.id).status == "approved"
    statuses = [(d["status"], d.get("by")) for k, d in rec.events if k == EventKind.APPROVAL]
    assert statuses == [("pending", None), ("approved", "alice")]


async def test_deny_and_unknown_or_repeated_decisions() -> None:
    broker = ApprovalBroker(timeout_s=10)
    waiter = asyncio.create_task(broker.approver(email_tool(), {"to": "b@example.com"}, Recorder().ctx))
    await wait_for_pending(broker)
    request_id = broker.pending()[0].id
    broker.decide(request_id, approved=False, by="bob", reason="not today")
    assert await waiter is False
    with pytest.raises(ApprovalConflict, match="already denied"):
        broker.decide(request_id, approved=True, by="mallory")
    with pytest.raises(NotFound, match="no approval request"):
        broker.decide("nope", approved=True, by="x")


async def test_timeout_denies_and_is_recorded() -> None:
    broker = ApprovalBroker(timeout_s=0.05)
    rec = Recorder()
    assert await broker.approver(email_tool(), {"to": "c@example.com"}, rec.ctx) is False
    last = [d for k, d in rec.events if k == EventKind.APPROVAL][-1]
    assert last["status"] == "expired" and last["by"] == "timeout" and last["approved"] is False
    assert broker.pending() == []


async def test_decision_from_another_thread() -> None:
    broker = ApprovalBroker(timeout_s=10)
    waiter = asyncio.create_task(broker.approver(email_tool(), {"to": "d@example.com"}, Recorder().ctx))
    await wait_for_pending(broker)
    request_id = broker.pending()[0].id
    thread = threading.Thread(target=broker.decide, args=(request_id, True, "ops"))
    thread.start()
    thread.join()
    assert await asyncio.wait_for(waiter, 5) is True


async def test_cancelled_step_leaves_no_pending_request() -> None:
    broker = ApprovalBroker(timeout_s=10)
    rec = Recorder()
    waiter = asyncio.create_task(broker.approver(email_tool(), {"to": "e@example.com"}, rec.ctx))
    await wait_for_pending(broker)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert broker.pending() == []
    assert [d["status"] for k, d in rec.events if k == EventKind.APPROVAL][-1] == "cancelled"


async def test_plan_waits_for_approval_through_the_app() -> None:
    sent.clear()
    broker = ApprovalBroker(timeout_s=10)
    events: list[Event] = []
    app = AutoGLM(settings=Settings(), model=ScriptedModel(["unused"]), tools=[email_tool()],
                  approver=broker.approver)
    plan = {"steps": [{"id": "mail", "uses": "mail.send", "with": {"to": "team@example.com", "subject": "report"}}]}
    run = asyncio.create_task(app.execute(plan, on_event=events.append))
    await wait_for_pending(broker)
    [request] = broker.pending(task_id=events[0].task_id)
    assert request.step_id == "mail" and sent == []  # nothing happens before the decision
    broker.decide(request.id, approved=True, by="lead")
    result = await run
    assert result.status == "succeeded" and sent == ["team@example.com"]
    approvals = [e.data for e in app.trace(result.task_id) if e.kind == EventKind.APPROVAL]
    assert [a.get("status") for a in approvals] == ["pending", "approved", None]
    assert approvals[1]["by"] == "lead" and approvals[2] == {"tool": "mail.send", "approved": True,
                                                             "approver": "configured"}
    await app.aclose()


async def test_plan_denied_when_nobody_decides() -> None:
    sent.clear()
    broker = ApprovalBroker(timeout_s=0.05)
    app = AutoGLM(settings=Settings(), model=ScriptedModel(["unused"]), tools=[email_tool()],
                  approver=broker.approver)
    result = await app.execute({"steps": [{"id": "mail", "uses": "mail.send",
                                           "with": {"to": "x@example.com", "subject": "s"}}]})
    assert result.status == "failed" and "not approved" in (result.steps[0].error or "") and sent == []
    await app.aclose()


def test_large_arguments_are_previewed() -> None:
    from openautoglm.tools.approval import _preview

    small: dict[str, Any] = {"a": 1}
    assert _preview(small) == small
    big = _preview({"text": "x" * 10_000})
    assert big["truncated"] is True and len(big["preview"]) < 4100
