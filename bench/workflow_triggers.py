"""Signed events through a real gateway on loopback into the order-to-shipment workflow (fake CRM, ERP and carrier
over real HTTP), side by side: distinct events (each orders and ships) against the same event sent again (each
reuses the first run's recorded outputs), and the first against a dry run of the same workflow.

    .venv/bin/python bench/workflow_triggers.py            # 20 events of each kind
    .venv/bin/python bench/workflow_triggers.py --events 50

Time is from the POST to the task's `succeeded`, read by polling `/v1/tasks/{id}` every 20 ms (so figures carry up
to 20 ms of polling). No model is involved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from gateway_support import LiveServer, bearer, new_key  # noqa: E402
from openautoglm.app import AutoGLM  # noqa: E402
from openautoglm.config import Settings  # noqa: E402
from openautoglm.planning import DirectPlanner  # noqa: E402
from openautoglm.server.app import create_app  # noqa: E402
from openautoglm.server.triggers import approval_broker, sign  # noqa: E402
from openautoglm.store import Store  # noqa: E402
from openautoglm.testing.business import BusinessFakes  # noqa: E402

FLOW = ROOT / "tests" / "data" / "workflows" / "order_to_shipment.yaml"
SECRET = "bench-secret"


def post(client: httpx.Client, event: dict[str, Any]) -> str:
    body = json.dumps(event).encode()
    stamp = str(int(time.time()))
    response = client.post("/v1/events/orders", content=body, headers={
        "X-AutoGLM-Timestamp": stamp, "X-AutoGLM-Signature": sign(SECRET, stamp, body),
        "content-type": "application/json"})
    response.raise_for_status()
    return str(response.json()["id"])


def until_done(client: httpx.Client, task_id: str, headers: dict[str, str]) -> str:
    while True:
        status = client.get(f"/v1/tasks/{task_id}", headers=headers).json()["status"]
        if status not in ("queued", "running"):
            return str(status)
        time.sleep(0.02)


def timed(client: httpx.Client, event: dict[str, Any], headers: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    status = until_done(client, post(client, event), headers)
    return (time.perf_counter() - start) * 1000, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20)
    n = parser.parse_args().events
    os.environ["ORDERS_SECRET"] = SECRET
    with BusinessFakes() as fakes, tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        (tmp / "workflows").mkdir()
        (tmp / "workflows" / FLOW.name).write_text(FLOW.read_text(encoding="utf-8"), encoding="utf-8")
        settings = Settings(
            database_url=f"sqlite:///{tmp / 'gw.db'}", home=tmp / "home", workflows_dir=tmp / "workflows",
            retries=0, openapi=fakes.openapi_config(tmp / "specs"),
            triggers=[{"name": "orders", "workflow": "order_to_shipment", "secret": "env:ORDERS_SECRET",
                       "approve": ["crm.*", "erp.*", "logistics.*"]}])
        glm = AutoGLM(settings=settings, store=Store(settings.db_url), planner=DirectPlanner())
        broker = approval_broker(glm)
        glm.approver = broker.approver
        admin = bearer(new_key(glm, "admin"))
        base = {"customer_id": "C-100", "sku": "SKU-TEA", "quantity": 2}
        with LiveServer(create_app(glm, approvals=broker, access_log=False)) as server, \
                httpx.Client(base_url=server.url, timeout=60) as client:
            timed(client, base | {"event_id": "warm-up"}, admin)
            orders0, ships0 = len(fakes.orders), len(fakes.shipments)
            distinct = [timed(client, base | {"event_id": f"D-{i}"}, admin) for i in range(n)]
            orders1, ships1 = len(fakes.orders), len(fakes.shipments)
            repeated = [timed(client, base | {"event_id": "D-0"}, admin) for _ in range(n)]
            orders2, ships2 = len(fakes.orders), len(fakes.shipments)
        glm.store.close()
        dry = []
        glm2 = AutoGLM(settings=settings.model_copy(update={"database_url": f"sqlite:///{tmp / 'dry.db'}"}))
        asyncio.run(glm2.dry_run(FLOW, base | {"event_id": "warm-up"}))  # loads the tools once
        for i in range(n):
            start = time.perf_counter()
            asyncio.run(glm2.dry_run(FLOW, base | {"event_id": f"X-{i}"}))
            dry.append(((time.perf_counter() - start) * 1000, "dry"))
        orders3 = len(fakes.orders)
    rows = [
        ("distinct events", distinct, orders1 - orders0, ships1 - ships0),
        ("same event again", repeated, orders2 - orders1, ships2 - ships1),
        ("dry run (in process)", dry, orders3 - orders2, 0),
    ]
    print(f"{n} events each, order_to_shipment (CRM GET, ERP POST, carrier POST) on loopback")
    print(f"{'':22} {'p50 ms':>8} {'p95 ms':>8} {'succeeded':>10} {'orders':>7} {'shipments':>10}")
    for label, samples, orders, ships in rows:
        ms = sorted(s[0] for s in samples)
        ok = sum(1 for s in samples if s[1] in ("succeeded", "dry"))
        p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
        print(f"{label:22} {statistics.median(ms):8.1f} {p95:8.1f} {ok:>7}/{len(ms):<2} {orders:7} {ships:10}")


if __name__ == "__main__":
    main()
