"""Two `autoglm serve` replicas on one PostgreSQL database behave as one service when one dies: with a task mid-plan
on replica A and another queued, ``kill -9`` of A leaves B to finish both by itself once A's leases lapse; no
finished step runs twice (the work service on loopback, in the test's process, counts every call) and no event is
lost (each log's sequence numbers run 1..n and keep everything written before the kill)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_support import (
    chain,
    check_log,
    crash,
    events,
    pg_database,
    resumed_event,
    served,
    status,
    wait_finished,
    write_config,
)
from openautoglm.testing.work import WorkService

pytestmark = pytest.mark.postgres
TTL_S = 2.0


@pytest.fixture()
def work() -> Iterator[WorkService]:
    with WorkService() as service:
        yield service


def test_the_other_replica_finishes_a_killed_replicas_running_and_queued_tasks(
        tmp_path: Path, work: WorkService) -> None:
    with pg_database() as db_url:
        # One task at a time on each replica, so a third task is still queued when A dies.
        root = write_config(tmp_path, db_url, work, lease_ttl_s=TTL_S, max_running=1)
        work.hold("a3", "z1")
        with served(root, "a") as (a_proc, a):
            mid_plan = a.post("/v1/tasks", json={"plan": chain("a", 4)}).json()["id"]
            work.wait_for_call("a3")  # on A: two steps done, the third running
            with served(root, "b") as (_, b):
                busy = b.post("/v1/tasks", json={"plan": chain("z", 1)}).json()["id"]
                work.wait_for_call("z1")  # B's one slot is taken
                queued = b.post("/v1/tasks", json={"plan": chain("b", 2)}).json()["id"]
                time.sleep(TTL_S)  # both replicas poll in that time: neither has room for it
                assert status(b, queued) == "queued" and status(b, mid_plan) == "running"
                before = events(b, mid_plan)

                crash(root, a_proc)
                killed_at = time.time()
                a_proc.wait(10)
                work.let_go("a3", "z1")  # A's call in flight ends into the void; B's own task ends, freeing its slot
                for task_id in (busy, mid_plan, queued):
                    assert wait_finished(b, task_id) == "succeeded"
                taken = resumed_event(b, mid_plan)
                mid_log, queued_log = events(b, mid_plan), events(b, queued)
                ran_queued = next(e for e in queued_log if e["kind"] == "task.started")

    assert taken is not None and taken["data"]["steps_done"] == ["a1", "a2"]
    assert taken["ts"] - killed_at < TTL_S + 30 and ran_queued["ts"] > killed_at
    check_log(mid_log, before, ["a1", "a2", "a3", "a4"])
    check_log(queued_log, [], ["b1", "b2"])
    # a3 was in flight at the kill (a read: run again); every finished step ran once.
    assert work.calls == Counter({"a1": 1, "a2": 1, "a3": 2, "a4": 1, "z1": 1, "b1": 1, "b2": 1})
    print(f"\nreplica takeover: B ran A's task again {taken['ts'] - killed_at:.2f}s after the kill "
          f"(lease ttl {TTL_S:g}s)")
