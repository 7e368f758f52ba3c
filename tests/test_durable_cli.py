"""`autoglm run` holds its task's lease like a gateway's worker: killed with ``kill -9`` mid-plan, its task is taken
over (by `autoglm resume`, at once, since its holder is a dead process of this host; by a running gateway once the
lease lapses) and finished without running a finished step again; while it runs, `autoglm resume` refuses.
Real processes: the CLI, the gateway, `autoglm resume`; a capable fake model that plans and the work service on
loopback in the test's process, which count every call."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_support import (
    PlanningModel,
    autoglm,
    chain,
    check_log,
    crash,
    pg_database,
    resumed_event,
    served,
    started,
    status,
    wait_finished,
    write_config,
)
from durable_support import events as http_events
from openautoglm.events import Event
from openautoglm.store import Store, TaskRecord
from openautoglm.testing.work import WorkService

PLAN = chain("a", 4)
STEPS = ["a1", "a2", "a3", "a4"]
EMBEDDINGS = {"embeddings": {"provider": "hashing", "dim": 64}}


@pytest.fixture()
def work() -> Iterator[WorkService]:
    with WorkService() as service:
        yield service


@pytest.fixture()
def model() -> Iterator[PlanningModel]:
    with PlanningModel(PLAN) as fake:
        yield fake


def _only_task(store: Store) -> TaskRecord:
    (task,) = store.list_tasks()
    return task


def _as_dicts(log: list[Event]) -> list[dict[str, object]]:
    return [{"seq": e.seq, "kind": e.kind, "step_id": e.step_id, "data": e.data} for e in log]


def test_a_killed_cli_run_is_resumed_without_rerunning_steps_and_resume_refuses_while_it_runs(
        tmp_path: Path, work: WorkService, model: PlanningModel) -> None:
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    # A long lease: `autoglm resume` must not wait it out, since the holder is a dead process of this host.
    root = write_config(tmp_path, db_url, work, lease_ttl_s=60, model=model, **EMBEDDINGS)
    work.hold("a3")
    store = Store(db_url)
    try:
        with started(root, "run", "rest four times, one after the other", "--json") as cli:
            work.wait_for_call("a3")
            task = _only_task(store)
            assert task.status == "running" and task.lease_owner and f":{cli.pid}:" in task.lease_owner
            # While the CLI runs it, a second process may not: one line, a non-zero exit, no traceback.
            refused = autoglm(root, "resume", task.id)
            assert refused.returncode != 0 and "Traceback" not in refused.stderr, refused.stderr
            assert len(refused.stderr.strip().splitlines()) == 1 and "is being run by" in refused.stderr
            assert cli.poll() is None  # and the CLI run was not disturbed
            before = _as_dicts(store.events(task.id))
            crash(root, cli)
            cli.wait(10)
        work.let_go("a3")
        dead = store.get_task(task.id)
        assert dead.status == "running" and dead.lease_expires_at and dead.lease_expires_at > time.time() + 30

        resumed = autoglm(root, "resume", task.id, "--json")
        assert resumed.returncode == 0, resumed.stderr
        log = store.events(task.id)
        assert store.get_task(task.id).status == "succeeded"
    finally:
        store.close()
    check_log(_as_dicts(log), before, STEPS)
    again = next(e for e in log if e.kind == "task.started" and e.data.get("resumed"))
    assert again.data["steps_done"] == ["a1", "a2"]
    # a1 and a2 ran once; a3 was in flight when the CLI died (a read: run again), a4 once.
    assert work.calls == Counter({"a1": 1, "a2": 1, "a3": 2, "a4": 1})
    assert model.plans == 1  # the plan came from the log, not from planning again


@pytest.mark.postgres
def test_a_running_gateway_takes_over_a_killed_cli_run_once_its_lease_lapses(
        tmp_path: Path, work: WorkService, model: PlanningModel) -> None:
    ttl = 2.0
    with pg_database() as db_url:
        root = write_config(tmp_path, db_url, work, lease_ttl_s=ttl, model=model, **EMBEDDINGS)
        with served(root) as (_, client):
            work.hold("a3")
            with started(root, "run", "rest four times, one after the other") as cli:
                work.wait_for_call("a3")
                store = Store(db_url)
                try:
                    task_id = _only_task(store).id
                finally:
                    store.close()
                time.sleep(2 * ttl)  # the CLI renews its lease: the gateway leaves the task alone
                assert work.calls["a3"] == 1 and status(client, task_id) == "running"
                before = http_events(client, task_id)
                crash(root, cli)
                killed_at = time.time()
                cli.wait(10)
            work.let_go("a3")
            assert wait_finished(client, task_id) == "succeeded"
            taken = resumed_event(client, task_id)
            log = http_events(client, task_id)
    assert taken is not None and taken["data"]["steps_done"] == ["a1", "a2"]
    # Taken over once the lease lapsed (ttl), found at the gateway's next poll (ttl / 4); generous on busy cores.
    assert taken["ts"] - killed_at < ttl + 20
    check_log(log, before, STEPS)
    assert work.calls == Counter({"a1": 1, "a2": 1, "a3": 2, "a4": 1})
    print(f"\ncli takeover: the gateway ran the killed CLI's task again {taken['ts'] - killed_at:.2f}s after the "
          f"kill (lease ttl {ttl:g}s)")


def test_ctrl_c_cancels_a_cli_run_so_no_gateway_takes_it_up_and_resume_continues_it(
        tmp_path: Path, work: WorkService, model: PlanningModel) -> None:
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    root = write_config(tmp_path, db_url, work, lease_ttl_s=60, model=model, **EMBEDDINGS)
    work.hold("a3")
    store = Store(db_url)
    try:
        with started(root, "run", "rest four times, one after the other") as cli:
            work.wait_for_call("a3")
            task = _only_task(store)
            os.kill(cli.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
            assert cli.wait(30) == 130
        work.let_go("a3")
        said = next(root.glob("run-*.out")).read_text()
        assert f"task {task.id} is cancelled; `autoglm resume {task.id}` continues it" in said, said
        assert "Traceback" not in said
        stopped = store.get_task(task.id)
        assert stopped.status == "cancelled" and stopped.lease_owner is None
        # A person stopped it: a gateway polling this database finds nothing to take up.
        assert store.claim_tasks("another-worker", 10, 5.0) == []

        resumed = autoglm(root, "resume", task.id, "--json")
        assert resumed.returncode == 0, resumed.stderr
        assert store.get_task(task.id).status == "succeeded"
    finally:
        store.close()
    assert work.calls == Counter({"a1": 1, "a2": 1, "a3": 2, "a4": 1})
