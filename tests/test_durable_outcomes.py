"""A side effect whose outcome a crash left unknown is neither repeated blindly nor failed at once: a gateway killed
(``kill -9``) while two tasks' charges were in flight restarts, each task waits on a ``rerun`` approval request in
the store (listed by ``GET /v1/approvals`` with the step and why), and the operator's approval runs the charge
again while a denial fails the step with the operator's reason. Real gateway processes, the work service on
loopback in the test's process counting every call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from durable_support import chain, crash, events, served, status, wait, wait_finished, write_config
from openautoglm.store import Store
from openautoglm.testing.work import WorkService


@pytest.fixture()
def work() -> Iterator[WorkService]:
    with WorkService() as service:
        yield service


def _charging(prefix: str) -> dict[str, Any]:
    """Three steps; the middle one charges (a side effect) under an idempotency key."""
    sid = f"{prefix}2"
    return chain(prefix, 3, **{sid: {"uses": "work.charge", "with": {"body": {"step": sid}},
                                     "idempotency_key": f"charge-{sid}"}})


def _pending(client: httpx.Client, kind: str, count: int) -> dict[str, dict[str, Any]]:
    """The open approval requests of ``kind``, by step, once there are ``count`` of them."""
    def found() -> dict[str, dict[str, Any]] | None:
        rows = [r for r in client.get("/v1/approvals").json()["data"] if r.get("kind", "call") == kind]
        return {r["step_id"]: r for r in rows} if len(rows) == count else None

    requests: dict[str, dict[str, Any]] = wait(found, what=f"{count} {kind} approval requests")
    return requests


def _decide(client: httpx.Client, request_id: str, approved: bool, reason: str | None = None) -> None:
    answer = client.post(f"/v1/approvals/{request_id}", json={"approved": approved, "reason": reason})
    assert answer.status_code == 200, answer.text


def test_a_charge_in_flight_at_a_crash_waits_for_an_operator_who_reruns_or_fails_it(
        tmp_path: Path, work: WorkService) -> None:
    db_url = f"sqlite:///{tmp_path / 'outcomes.db'}"
    root = write_config(tmp_path, db_url, work, lease_ttl_s=60, max_running=2,
                        approvals={"timeout_s": 600, "poll_s": 0.2})
    work.hold("p2", "q2")
    with served(root) as (proc, client):
        rerun_id = client.post("/v1/tasks", json={"plan": _charging("p")}).json()["id"]
        denied_id = client.post("/v1/tasks", json={"plan": _charging("q")}).json()["id"]
        for request in _pending(client, "call", 2).values():  # a side effect is approved before it runs
            _decide(client, request["id"], True)
        work.wait_for_call("p2")
        work.wait_for_call("q2")
        crash(root, proc)  # both charges in flight: keys claimed, no outcome recorded
        proc.wait(10)
    work.let_go("p2", "q2")  # the card system did charge; nobody heard back
    store = Store(db_url)
    try:
        assert {k.key: k.status for k in store.recorded_keys()} == {"charge-p2": "started", "charge-q2": "started"}
    finally:
        store.close()

    with served(root) as (_, client):
        asked = _pending(client, "rerun", 2)
        # Waiting, not failed: each task holds at its charge until someone decides.
        assert status(client, rerun_id) == status(client, denied_id) == "running"
        assert {r["task_id"] for r in asked.values()} == {rerun_id, denied_id}
        for step, request in asked.items():
            assert request["tool"] == "work.charge" and request["args"] == {"body": {"step": step}}
            assert f"idempotency key 'charge-{step}'" in request["why"]
            assert "stopped before its outcome was recorded" in request["why"]
        _decide(client, asked["p2"]["id"], True)
        _decide(client, asked["q2"]["id"], False, reason="the card was charged: see the bank's ledger")
        assert wait_finished(client, rerun_id) == "succeeded"
        assert wait_finished(client, denied_id) in ("failed", "partial")
        rerun_log, denied_log = events(client, rerun_id), events(client, denied_id)
        assert client.get("/v1/approvals").json()["data"] == []

    for log in (rerun_log, denied_log):
        assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    keyed = [(e["step_id"], e["data"]["status"]) for e in rerun_log if e["kind"] == "idempotency"]
    assert keyed == [("p2", "outcome_unknown"), ("p2", "rerun_approved"), ("p2", "recorded")]
    failed = next(e for e in denied_log if e["kind"] == "step.failed")
    assert failed["step_id"] == "q2" and "the card was charged: see the bank's ledger" in failed["data"]["error"]
    assert "not approved" in failed["data"]["error"]
    assert [e["step_id"] for e in denied_log if e["kind"] == "step.skipped"] == ["q3"]
    # Approved: charged again, once. Denied: not again, and nothing after it ran. Finished steps never twice.
    assert work.calls == Counter({"p1": 1, "p2": 2, "p3": 1, "q1": 1, "q2": 1})
