"""Durable tasks: a gateway killed mid-plan (``kill -9``) or stopped (SIGTERM) loses nothing; the next one finishes
its tasks from their logs without running a finished step twice; ``autoglm resume`` never runs a task another
process holds. Real ``autoglm serve`` processes, a real MCP server for the slow steps, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from durable_support import autoglm, check_log, crash, events, finished_steps, served, status, wait
from gateway_support import database
from openautoglm.store import Store

SLOW = Path(__file__).with_name("slow_mcp_server.py")
LEASE_TTL_S = 2.0


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def _config(root: Path, db_url: str, lease_ttl_s: float = LEASE_TTL_S) -> Path:
    (root / "autoglm.yaml").write_text(json.dumps({
        "database_url": db_url, "auth": "disabled", "tools": ["llm"],
        "mcp_servers": [{"name": "slow", "command": sys.executable, "args": [str(SLOW)],
                         "env": {"NAP_CALLS": str(root / "calls.txt"), "NAP_PIDS": str(root / "pids.txt")}}],
        # One task at a time, so the second one is still queued when the gateway dies.
        "gateway": {"lease_ttl_s": lease_ttl_s, "max_running_tasks": 1,
                    "rate_limit_per_minute": 60_000, "rate_limit_burst": 1000},  # the test polls
    }), encoding="utf-8")
    return root


def _chain(prefix: str, count: int, seconds: float, gates: dict[int, Path] | None = None) -> dict[str, Any]:
    """Steps ``<prefix>1..count`` one after the other, each sleeping ``seconds``; step i of ``gates`` first waits
    for its file."""
    steps = []
    for i in range(1, count + 1):
        step: dict[str, Any] = {"id": f"{prefix}{i}", "uses": "slow.nap", "timeout_s": 150,
                                "with": {"step": f"{prefix}{i}", "seconds": seconds}}
        if gates and i in gates:
            step["with"]["gate"] = str(gates[i])
        if i > 1:
            step["depends_on"] = [f"{prefix}{i - 1}"]
        steps.append(step)
    return {"steps": steps}


def test_a_killed_gateway_finishes_its_tasks_after_a_restart_without_rerunning_steps(
        db_url: str, tmp_path: Path) -> None:
    # A long lease: the restarted gateway sees its predecessor's process is gone and does not wait it out.
    root = _config(tmp_path, db_url, lease_ttl_s=60)
    slow_steps = [f"a{i}" for i in range(1, 5)]
    gate = root / "gate"  # the third step waits for it: the task is mid-plan for as long as the test needs
    with served(root) as (proc, client):
        slow = client.post("/v1/tasks", json={"plan": _chain("a", 4, 0.3, gates={3: gate})})
        assert slow.status_code == 202
        slow_id = slow.json()["id"]
        queued_id = client.post("/v1/tasks", json={"plan": _chain("b", 2, 0.1)}).json()["id"]
        # Mid-plan: two steps done, the third one running.
        wait(lambda: len(finished_steps(events(client, slow_id))) == 2, what="two finished steps")
        wait(lambda: any(e["kind"] == "step.started" and e["step_id"] == "a3" for e in events(client, slow_id)),
              what="the third step")
        before = events(client, slow_id)
        assert status(client, queued_id) == "queued"
        crash(root, proc)
        proc.wait(10)
    assert (root / "calls.txt").read_text().split() == ["a1", "a2"]
    store = Store(db_url)
    try:
        # The dead process's lease is still in the store: the task says running though nobody runs it, for now.
        dead = store.get_task(slow_id)
        assert dead.status == "running" and dead.lease_owner and dead.lease_expires_at
    finally:
        store.close()

    restarted_at = time.time()
    with served(root) as (_, client):
        serving_at = time.time()
        resumed = wait(lambda: next((e for e in events(client, slow_id)
                                      if e["kind"] == "task.started" and e["data"].get("resumed")), None),
                        what="the slow task to resume")
        # While this gateway holds the task, `autoglm resume` refuses in one line instead of running it too.
        refused = autoglm(root, "resume", slow_id)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1 and "is being run by" in refused.stderr
        gate.touch()
        wait(lambda: status(client, slow_id) not in ("queued", "running"), what="the slow task to finish")
        wait(lambda: status(client, queued_id) not in ("queued", "running", "interrupted"),
              what="the queued task to finish")
        assert status(client, slow_id) == "succeeded" and status(client, queued_id) == "succeeded"
        slow_events, queued_events = events(client, slow_id), events(client, queued_id)
    assert resumed["data"]["steps_done"] == ["a1", "a2"]
    assert resumed["ts"] < dead.lease_expires_at  # taken over before the dead holder's lease would have lapsed
    check_log(slow_events, before, slow_steps)
    check_log(queued_events, [], ["b1", "b2"])
    # Each step really ran once: the two finished before the kill were not run again.
    assert Counter((root / "calls.txt").read_text().split()) == Counter([*slow_steps, "b1", "b2"])
    print(f"\nrecovery: {resumed['ts'] - restarted_at:.2f}s from the restart to the killed task running again, "
          f"{resumed['ts'] - serving_at:.2f}s after the new gateway answered",
          file=sys.stderr)

    again = autoglm(root, "resume", slow_id)
    assert again.returncode != 0 and "already finished (succeeded)" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_sigterm_drains_and_the_next_gateway_resumes(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as db_url:
        root = _config(tmp_path, db_url)
        with served(root) as (proc, client):
            task_id = client.post("/v1/tasks", json={"plan": _chain("c", 3, 0.8)}).json()["id"]
            wait(lambda: len(finished_steps(events(client, task_id))) == 1, what="one finished step")
            before = events(client, task_id)
            proc.send_signal(signal.SIGTERM)
            # uvicorn exits 0, or by the same signal once it has shut down (it re-raises it, newer versions).
            assert proc.wait(30) in (0, -signal.SIGTERM)
        store = Store(db_url)
        try:
            # Left for the next process: not "running" with nobody running it, and no lease to wait out.
            task = store.get_task(task_id)
            assert task.status == "interrupted" and task.lease_owner is None
        finally:
            store.close()
        with served(root) as (_, client):
            wait(lambda: status(client, task_id) not in ("queued", "running", "interrupted"), what="the task")
            assert status(client, task_id) == "succeeded"
            check_log(events(client, task_id), before, ["c1", "c2", "c3"])
        # The step in flight at SIGTERM finished before the gateway stopped (a step boundary); none ran twice.
        assert Counter((root / "calls.txt").read_text().split()) == Counter(["c1", "c2", "c3"])
