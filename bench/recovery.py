"""Recovery: how long after a replica's ``kill -9`` its tasks run again on the other replica, beside the lease ttl.

Two ``autoglm serve`` replicas on one PostgreSQL database (a database of its own, dropped after). Each repetition:
replica A starts and takes ``--tasks`` tasks, each a plan of three ``work.nap`` steps on a loopback work service
(in this process) whose second step is held in flight; replica B starts; A is killed with SIGKILL; the held calls
are let go. Recovery is, per task, the time from the kill to B's ``task.started`` event with ``resumed`` (B found
the lapsed lease, claimed the task and resumed it from its log). B learns of A's death only by its leases lapsing
(B started while A was alive), as a replica on another machine would, so recovery is bounded by the lease ttl plus
one poll (ttl / 4); the ratio column says how close to the ttl it comes.

    .venv/bin/python bench/recovery.py [--ttl 2 5 10] [--reps 3] [--tasks 3]

Target (issue 13): under 10 s from the kill to the tasks running again.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from gateway import free_port, wait_ready  # bench/gateway.py
from openautoglm.testing.work import WorkService

AUTOGLM = str(Path(sys.executable).with_name("autoglm"))
PG = os.environ.get("AUTOGLM_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def start_replica(root: Path) -> tuple[subprocess.Popen[bytes], httpx.Client]:
    port = free_port()
    proc = subprocess.Popen([AUTOGLM, "serve", "--port", str(port), "--log-level", "warning"], cwd=root,
                            env={**os.environ, "AUTOGLM_HOME": str(root)}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/healthz", proc)
    return proc, httpx.Client(base_url=url, timeout=30)


def stop(proc: subprocess.Popen[bytes], client: httpx.Client) -> None:
    client.close()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    proc.wait(60)


def resumed_at(client: httpx.Client, task_id: str) -> float | None:
    trace = client.get(f"/v1/tasks/{task_id}/trace").json()["events"]
    return next((e["ts"] for e in trace if e["kind"] == "task.started" and e["data"].get("resumed")), None)


def repetition(root: Path, work: WorkService, rep: int, tasks: int, ttl: float) -> list[float]:
    """One kill of replica A with ``tasks`` tasks in flight; each task's seconds from the kill to its resumption."""
    held = [f"r{rep}t{i}s2" for i in range(tasks)]
    work.hold(*held)
    a_proc, a = start_replica(root)
    ids = []
    for i in range(tasks):
        steps = [{"id": f"s{n}", "uses": "work.nap", "with": {"step": f"r{rep}t{i}s{n}", "seconds": 0},
                  **({"depends_on": [f"s{n - 1}"]} if n > 1 else {})} for n in (1, 2, 3)]
        ids.append(a.post("/v1/tasks", json={"plan": {"steps": steps}}).json()["id"])
    for step in held:
        work.wait_for_call(step)
    b_proc, b = start_replica(root)
    try:
        os.killpg(a_proc.pid, signal.SIGKILL)
        killed_at = time.time()
        a_proc.wait(10)
        a.close()
        work.let_go(*held)
        deadline = time.monotonic() + 10 * ttl + 60
        found: dict[str, float] = {}
        while len(found) < len(ids):
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(found)} of {len(ids)} tasks resumed on replica B")
            for task_id in ids:
                if task_id not in found and (ts := resumed_at(b, task_id)) is not None:
                    found[task_id] = ts - killed_at
            time.sleep(0.05)
        for task_id in ids:  # they finish there too
            while b.get(f"/v1/tasks/{task_id}").json()["status"] in ("queued", "running", "interrupted"):
                time.sleep(0.1)
    finally:
        stop(b_proc, b)
    return list(found.values())


def measure(ttl: float, reps: int, tasks: int) -> list[float]:
    name = f"bench_recovery_{secrets.token_hex(4)}"
    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        with tempfile.TemporaryDirectory(prefix="autoglm-recovery-") as folder, WorkService() as work:
            root = Path(folder)
            (root / "autoglm.yaml").write_text(json.dumps({
                "database_url": f"{PG}/{name}", "auth": "disabled", "planner": "rules", "tools": [],
                "openapi": [work.openapi_config(root)],
                "gateway": {"lease_ttl_s": ttl, "max_running_tasks": max(tasks, 2),
                            "rate_limit_per_minute": 6e6, "rate_limit_burst": 100_000},
            }), encoding="utf-8")
            seconds: list[float] = []
            for rep in range(reps):
                seconds += repetition(root, work, rep, tasks, ttl)
        return seconds
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ttl", type=float, nargs="+", default=[2.0, 5.0, 10.0], help="lease ttls to compare")
    parser.add_argument("--reps", type=int, default=3, help="kills per ttl")
    parser.add_argument("--tasks", type=int, default=3, help="tasks in flight on the killed replica")
    args = parser.parse_args()
    rows = [(ttl, measure(ttl, args.reps, args.tasks)) for ttl in args.ttl]
    print(f"kill -9 of replica A with {args.tasks} tasks in flight, {args.reps} times per lease ttl; "
          "seconds until each task ran again on replica B")
    print(f"{'lease ttl s':>11} {'tasks':>6} {'min s':>7} {'p50 s':>7} {'max s':>7} {'p50 / ttl':>10} {'max / ttl':>10}"
          f" {'< 10 s':>7}")
    for ttl, seconds in rows:
        p50, worst = statistics.median(seconds), max(seconds)
        print(f"{ttl:>11g} {len(seconds):>6} {min(seconds):>7.2f} {p50:>7.2f} {worst:>7.2f} {p50 / ttl:>10.2f} "
              f"{worst / ttl:>10.2f} {'yes' if worst < 10 else 'no':>7}")


if __name__ == "__main__":
    main()
