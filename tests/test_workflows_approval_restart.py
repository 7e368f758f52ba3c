"""An approval survives a real crash: the order-to-shipment workflow, started by a signed event, waits for a person
to approve its ERP order in an `autoglm serve` process that is then `kill -9`ed. A new gateway process starts on the
same database, lists the same request (not a second one), the approval is granted through it, and the workflow
goes on and finishes: the order is placed once and shipped once. SQLite and PostgreSQL; real HTTP fakes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_support import database
from openautoglm.server.triggers import sign
from openautoglm.testing.business import BusinessFakes
from test_reports_schedules import free_port

pytestmark = [pytest.mark.process]
AUTOGLM = str(Path(sys.executable).with_name("autoglm"))
ORDER_FLOW = Path(__file__).parent / "data" / "workflows" / "order_to_shipment.yaml"
SECRET = "s3cret-for-orders"
EVENT = {"event_id": "E-9", "customer_id": "C-100", "sku": "SKU-TEA", "quantity": 2}


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def _config(root: Path, db_url: str, fakes: BusinessFakes) -> None:
    flows = root / "workflows"
    flows.mkdir()
    (flows / ORDER_FLOW.name).write_text(ORDER_FLOW.read_text(encoding="utf-8"), encoding="utf-8")
    (root / "autoglm.yaml").write_text(json.dumps({
        "database_url": db_url, "auth": "disabled", "tools": ["llm"], "workflows_dir": str(flows), "retries": 0,
        "openapi": fakes.openapi_config(root / "specs"),
        # The CRM and the carrier are approved by the trigger's configuration; the ERP order waits for a person.
        "triggers": [{"name": "orders", "workflow": "order_to_shipment", "secret": "env:ORDERS_SECRET",
                      "approve": ["crm.*", "logistics.*"]}],
        "approvals": {"timeout_s": 300, "poll_s": 0.1},
        "gateway": {"lease_ttl_s": 2, "rate_limit_per_minute": 60_000, "rate_limit_burst": 1000},
    }), encoding="utf-8")


@contextmanager
def served(root: Path) -> Iterator[tuple[subprocess.Popen[str], httpx.Client]]:
    """``autoglm serve`` in its own process group, so ``kill -9`` reaches it and whatever it started."""
    port = free_port()
    log_path = root / f"serve-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([AUTOGLM, "serve", "--port", str(port)], cwd=root, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=log, text=True, start_new_session=True,
                                env={**os.environ, "AUTOGLM_HOME": str(root), "ORDERS_SECRET": SECRET})
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        try:
            _wait(lambda: _healthy(client) or proc.poll() is not None, 90, "the gateway to start")
            assert proc.poll() is None, log_path.read_text()
            yield proc, client
        finally:
            client.close()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return found


def _pending(client: httpx.Client) -> list[dict[str, Any]]:
    answer = client.get("/v1/approvals")
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def test_an_approval_survives_kill_9_and_the_order_is_placed_once(db_url: str, tmp_path: Path) -> None:
    with BusinessFakes() as fakes:
        _config(tmp_path, db_url, fakes)
        with served(tmp_path) as (first, client):
            body = json.dumps(EVENT).encode()
            stamp = str(int(time.time()))
            sent = client.post("/v1/events/orders", content=body, headers={
                "X-AutoGLM-Timestamp": stamp, "X-AutoGLM-Signature": sign(SECRET, stamp, body),
                "content-type": "application/json"})
            assert sent.status_code == 202, sent.text
            task_id = sent.json()["id"]
            [request] = _wait(lambda: _pending(client), 60, "the approval request")
            assert (request["tool"], request["task_id"], request["status"]) == ("erp.createOrder", task_id, "pending")
            assert client.get(f"/v1/tasks/{task_id}").json()["status"] == "running"
            os.killpg(first.pid, signal.SIGKILL)  # the crash: no drain, no goodbye
            first.wait(10)
        assert fakes.orders == {} and [r.path for r in fakes.server.requests] == ["/crm/customers/C-100"]

        with served(tmp_path) as (_, client):
            still = _pending(client)
            assert [p["id"] for p in still] == [request["id"]]  # the same request, not a second one
            decided = client.post(f"/v1/approvals/{request['id']}", json={"approved": True})
            assert decided.status_code == 200 and decided.json()["status"] == "approved", decided.text
            _wait(lambda: client.get(f"/v1/tasks/{task_id}").json()["status"] not in ("queued", "running",
                                                                                        "interrupted"),
                  60, "the workflow to finish")
            done = client.get(f"/v1/tasks/{task_id}").json()
            assert done["status"] == "succeeded", done
            assert _pending(client) == []
        calls = [(r.method, r.path) for r in fakes.server.requests]
        print(f"\ncalls to the fakes: {calls}")
        # The CRM lookup finished before the crash (its result is in the log: not called again on resume); the
        # side effects ran exactly once.
        assert calls.count(("GET", "/crm/customers/C-100")) == 1
        assert calls.count(("POST", "/erp/orders")) == 1 and calls.count(("POST", "/logistics/shipments")) == 1
        assert len(fakes.orders) == 1 and len(fakes.shipments) == 1
