"""Signed events start the order-to-shipment workflow through a real gateway on loopback (uvicorn, httpx), against
fake CRM, ERP and carrier servers (real HTTP, OpenAPI tools): bad signatures, unknown triggers, replays and bad
bodies are refused with the right status; the same event twice ships once; a failing carrier undoes the order;
an approval request lives in the store, escalates on time, and survives a gateway restart."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_support import LiveServer, bearer, new_key, wait_for_status
from openautoglm.app import AutoGLM
from openautoglm.config import Settings
from openautoglm.errors import ConfigError
from openautoglm.events import EventKind
from openautoglm.planning import DirectPlanner
from openautoglm.server.app import create_app
from openautoglm.server.triggers import approval_broker, check_triggers, sign
from openautoglm.store import Store
from openautoglm.testing.business import BusinessFakes
from openautoglm.tools.approval import ApprovalBroker
from openautoglm.tools.base import FunctionTool
from tools_net_support import Recorder

ORDER_FLOW = Path(__file__).parent / "data" / "workflows" / "order_to_shipment.yaml"
SECRET = "s3cret-for-orders"
EVENT = {"event_id": "E-1", "customer_id": "C-100", "sku": "SKU-TEA", "quantity": 2}


@pytest.fixture
def fakes() -> Iterator[BusinessFakes]:
    with BusinessFakes() as running:
        yield running


def make_settings(tmp_path: Path, fakes: BusinessFakes, **extra: Any) -> Settings:
    flows = tmp_path / "workflows"
    flows.mkdir(exist_ok=True)
    shutil.copy(ORDER_FLOW, flows / ORDER_FLOW.name)
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'gw.db'}", home=tmp_path / "home", workflows_dir=flows, retries=0,
        openapi=fakes.openapi_config(tmp_path / "specs"),
        triggers=[
            {"name": "orders", "workflow": "order_to_shipment", "secret": "env:ORDERS_SECRET",
             "approve": ["crm.*", "erp.*", "logistics.*"]},
            {"name": "orders-reviewed", "workflow": "order_to_shipment", "secret": "env:ORDERS_SECRET",
             "approve": ["crm.*"]},  # the ERP and the carrier wait for a person
        ],
        gateway={"max_body_bytes": 4096, "lease_ttl_s": 1.0, "drain_timeout_s": 0.2},
        **extra,
    )


def start_gateway(settings: Settings) -> tuple[AutoGLM, ApprovalBroker, LiveServer]:
    glm = AutoGLM(settings=settings, store=Store(settings.db_url), planner=DirectPlanner())
    broker = approval_broker(glm)
    glm.approver = broker.approver
    return glm, broker, LiveServer(create_app(glm, approvals=broker))


def signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    stamp = str(int(at if at is not None else time.time()))
    return {"X-AutoGLM-Timestamp": stamp, "X-AutoGLM-Signature": sign(secret, stamp, body),
            "content-type": "application/json"}


def post_event(client: httpx.Client, name: str, event: Any, **kw: Any) -> httpx.Response:
    body = json.dumps(event).encode()
    return client.post(f"/v1/events/{name}", content=body, headers=signed(body, **kw))


def test_signed_events_run_the_workflow_once_and_bad_ones_are_refused(
        fakes: BusinessFakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_SECRET", SECRET)
    glm, _, server = start_gateway(make_settings(tmp_path, fakes))
    admin = bearer(new_key(glm, "admin"))
    with server, httpx.Client(base_url=server.url, timeout=30) as client:
        body = json.dumps(EVENT).encode()
        refusals = {
            "unknown trigger": (client.post("/v1/events/nope", content=body, headers=signed(body)), 404),
            "no signature": (client.post("/v1/events/orders", content=body,
                                         headers={"content-type": "application/json"}), 401),
            "wrong secret": (post_event(client, "orders", EVENT, secret="guess"), 401),
            "tampered body": (client.post("/v1/events/orders", content=body.replace(b"2", b"9"),
                                          headers=signed(body)), 401),
            "replayed later": (post_event(client, "orders", EVENT, at=time.time() - 3600), 401),
            "not an object": (post_event(client, "orders", [1, 2]), 422),
            "not JSON": (client.post("/v1/events/orders", content=b"{oops", headers=signed(b"{oops")), 422),
            "missing input": (post_event(client, "orders", {"event_id": "E-x"}), 422),
            "wrong type": (post_event(client, "orders", EVENT | {"quantity": "two"}), 422),
            "too large": (post_event(client, "orders", EVENT | {"pad": "x" * 5000}), 413),
        }
        for what, (response, status) in refusals.items():
            assert response.status_code == status, (what, response.text)
            assert "error" in response.json(), what
        assert fakes.server.requests == []  # nothing reached the systems

        first = post_event(client, "orders", EVENT)
        assert first.status_code == 202, first.text
        done = wait_for_status(client, first.json()["id"], admin, timeout=30)
        assert done["status"] == "succeeded", done
        assert len(fakes.orders) == 1 and len(fakes.shipments) == 1
        assert fakes.shipments[0]["address"] == "1 Harbour Road, Shanghai"
        calls = [(r.method, r.path) for r in fakes.server.requests]
        assert calls == [("GET", "/crm/customers/C-100"), ("POST", "/erp/orders"), ("POST", "/logistics/shipments")]

        again = post_event(client, "orders", EVENT)  # the sender retries the same event: it ships once
        assert again.status_code == 202
        repeat = wait_for_status(client, again.json()["id"], admin, timeout=30)
        assert repeat["status"] == "succeeded" and len(fakes.orders) == 1 and len(fakes.shipments) == 1
        trace = client.get(f"/v1/tasks/{again.json()['id']}/trace", headers=admin).json()
        reused = [e for e in trace["events"] if e["kind"] == EventKind.IDEMPOTENCY]
        assert [(e["step_id"], e["data"]["status"]) for e in reused] == [("order", "reused"), ("shipment", "reused")]
        assert not [e for e in trace["events"] if e["kind"] == EventKind.APPROVAL]  # a reuse acts on nothing
        first_trace = client.get(f"/v1/tasks/{first.json()['id']}/trace", headers=admin).json()
        granted = [(e["data"]["tool"], e["data"].get("by")) for e in first_trace["events"]
                   if e["kind"] == EventKind.APPROVAL and e["data"].get("status") == "approved"]
        assert granted == [("erp.createOrder", "trigger:orders (configuration)"),
                           ("logistics.createShipment", "trigger:orders (configuration)")]

        fakes.fail_shipments = True  # the carrier is down: the order is cancelled again
        failing = post_event(client, "orders", EVENT | {"event_id": "E-2"})
        ended = wait_for_status(client, failing.json()["id"], admin, timeout=30)
        assert ended["status"] in ("failed", "partial"), ended
        assert len(fakes.orders) == 2 and fakes.cancelled == [max(fakes.orders)]
        assert len(fakes.shipments) == 1


def test_an_approval_waits_in_the_store_and_survives_a_restart(
        fakes: BusinessFakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_SECRET", SECRET)
    settings = make_settings(tmp_path, fakes, approvals={"timeout_s": 120, "poll_s": 0.1})
    glm, _, server = start_gateway(settings)
    operator = bearer(new_key(glm, "operator"))
    admin = bearer(new_key(glm, "admin"))
    with server, httpx.Client(base_url=server.url, timeout=30) as client:
        task_id = post_event(client, "orders-reviewed", EVENT).json()["id"]
        pending = _wait_for_approvals(client, operator)
        assert [(p["tool"], p["task_id"], p["status"]) for p in pending] == [
            ("erp.createOrder", task_id, "pending")]
        assert pending[0]["args"] == {"body": {"customer_id": "C-100", "sku": "SKU-TEA", "quantity": 2}}
        assert fakes.orders == {}
    # The gateway stops (its runner drains: the task waiting on a person is left interrupted); a new one starts
    # on the same database with a new broker and facade.
    glm2, _, server2 = start_gateway(settings)
    with server2, httpx.Client(base_url=server2.url, timeout=30) as client:
        still = _wait_for_approvals(client, operator)
        assert [p["id"] for p in still] == [pending[0]["id"]]  # the same request, not a second one
        decided = client.post(f"/v1/approvals/{pending[0]['id']}", json={"approved": True}, headers=operator)
        assert decided.status_code == 200 and decided.json()["status"] == "approved"
        shipment = _wait_for_approvals(client, operator, tool="logistics.createShipment")
        client.post(f"/v1/approvals/{shipment[0]['id']}", json={"approved": True}, headers=operator)
        done = wait_for_status(client, task_id, admin, timeout=30)
        assert done["status"] == "succeeded", done
        assert len(fakes.orders) == 1 and len(fakes.shipments) == 1
        again = client.post(f"/v1/approvals/{pending[0]['id']}", json={"approved": False}, headers=operator)
        assert again.status_code == 409 and "already approved" in again.json()["error"]["message"]
    glm.store.close()
    glm2.store.close()


def _wait_for_approvals(client: httpx.Client, headers: dict[str, str], tool: str | None = None,
                        timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in client.get("/v1/approvals", headers=headers).json()["data"]
                 if tool is None or p["tool"] == tool]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("no approval request appeared")


# -- escalation, on the broker over a real store -------------------------------------------------------------------


def _mail() -> FunctionTool:
    def send(to: str) -> str:
        """Send mail."""
        return to

    return FunctionTool(send, name="mail.send", side_effects=True)


async def test_a_request_nobody_decides_escalates_then_expires(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    broker = ApprovalBroker(timeout_s=0.1, records=store, escalate_to="admin", escalation_timeout_s=0.2, poll_s=0.02)
    rec = Recorder()
    assert await broker.approver(_mail(), {"to": "x@example.com"}, rec.ctx) is False
    statuses = [(d["status"], d.get("by")) for k, d in rec.events if k == EventKind.APPROVAL]
    assert statuses == [("pending", None), ("escalated", "timeout"), ("expired", "timeout")]
    [row] = store.list_approvals(("expired",))
    assert row["escalate_to"] == "admin" and row["args"] == {"to": "x@example.com"}
    store.close()


async def test_an_escalated_request_is_for_its_role_only(tmp_path: Path) -> None:
    from openautoglm.errors import ToolPermissionError

    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    broker = ApprovalBroker(timeout_s=0.05, records=store, escalate_to="admin", escalation_timeout_s=30,
                            poll_s=0.02)
    waiter = asyncio.create_task(broker.approver(_mail(), {"to": "y@example.com"}, Recorder().ctx))
    for _ in range(200):
        if [r for r in broker.pending() if r.status == "escalated"]:
            break
        await asyncio.sleep(0.01)
    [request] = broker.pending()
    assert request.status == "escalated"
    with pytest.raises(ToolPermissionError, match="escalated to role admin"):
        broker.decide(request.id, approved=True, by="op", role="operator")
    broker.decide(request.id, approved=True, by="boss", role="admin")
    assert await asyncio.wait_for(waiter, 5) is True
    store.close()


def test_plain_text_trigger_secrets_are_refused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, triggers=[{"name": "t", "workflow": "w", "secret": "hunter2"}])
    with pytest.raises(ConfigError, match="never plain text"):
        check_triggers(settings)


def test_a_sealed_trigger_secret_opens_with_the_store_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from openautoglm.cli import app as cli
    from openautoglm.config import TriggerConfig
    from openautoglm.server.triggers import trigger_secret, verify

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTOGLM_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli, ["secrets", "seal"], input=SECRET + "\n")
    assert result.exit_code == 0, result.output
    sealed = result.stdout.strip()
    assert SECRET not in sealed
    glm = AutoGLM(settings=Settings(home=tmp_path / "home"))
    trigger = TriggerConfig(name="t", workflow="w", secret=sealed)
    opened = trigger_secret(trigger, glm)
    assert opened == SECRET
    body = b'{"a": 1}'
    verify(opened, {k.lower(): v for k, v in signed(body).items()}, body, 300)
    glm.store.close()
