"""What the durability tests share: `autoglm serve` and `autoglm run` as real processes killed with ``kill -9``, a
work service on loopback in the test's own process (it outlives every process the test kills and counts each call
it gets), a capable fake model that plans, PostgreSQL databases of their own, and checks of a task's event log."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from openautoglm.testing.fake_openai import FakeOpenAI
from openautoglm.testing.work import WorkService
from service_urls import fresh_pg_database

AUTOGLM = str(Path(sys.executable).with_name("autoglm"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env(root: Path) -> dict[str, str]:
    return {**os.environ, "AUTOGLM_HOME": str(root)}


@contextmanager
def served(root: Path, name: str = "serve") -> Iterator[tuple[subprocess.Popen[str], httpx.Client]]:
    """``autoglm serve`` in its own process group (it and the tool servers it starts die together on ``kill -9``),
    with the ``autoglm.yaml`` of ``root``; a client once ``/healthz`` answers."""
    port = free_port()
    log_path = root / f"{name}-{port}.log"
    log = log_path.open("w")  # closed below, after the process
    proc = subprocess.Popen([AUTOGLM, "serve", "--port", str(port)], cwd=root, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=log, text=True, start_new_session=True, env=env(root))
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)
        yield proc, client
    finally:
        client.close()
        if proc.poll() is None:
            crash(root, proc)
        proc.wait(10)
        log.close()


def crash(root: Path, proc: subprocess.Popen[str]) -> None:
    """``kill -9`` a process's group and the MCP tool servers it started (they note their pids in pids.txt)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    pids = root / "pids.txt"
    for pid in pids.read_text().split() if pids.exists() else []:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    pids.unlink(missing_ok=True)


def autoglm(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AUTOGLM, *args], cwd=root, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env(root))


@contextmanager
def started(root: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """An ``autoglm`` command running in the background, in its own process group, output to a file in ``root``;
    killed at the end if it still runs."""
    out = (root / f"{args[0]}-{secrets.token_hex(3)}").with_suffix(".out")
    with out.open("w") as sink:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([AUTOGLM, *args], cwd=root, stdin=subprocess.DEVNULL, stdout=sink,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env(root))
    try:
        yield proc
    finally:
        if proc.poll() is None:
            crash(root, proc)
        proc.wait(10)


def wait(check: Any, timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


# -- the task's log, over HTTP ---------------------------------------------------------------------------------------


def events(client: httpx.Client, task_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/tasks/{task_id}/trace")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["events"]
    return found


def finished_steps(log: list[dict[str, Any]]) -> list[str]:
    return [e["step_id"] for e in log if e["kind"] == "step.finished"]


def status(client: httpx.Client, task_id: str) -> str:
    found: str = client.get(f"/v1/tasks/{task_id}").json()["status"]
    return found


def wait_finished(client: httpx.Client, task_id: str, timeout: float = 90) -> str:
    wait(lambda: status(client, task_id) not in ("queued", "running", "interrupted"), timeout,
         what=f"task {task_id} to finish")
    return status(client, task_id)


def resumed_event(client: httpx.Client, task_id: str) -> dict[str, Any] | None:
    return next((e for e in events(client, task_id) if e["kind"] == "task.started" and e["data"].get("resumed")),
                None)


def check_log(log: list[dict[str, Any]], before: list[dict[str, Any]], steps: list[str]) -> None:
    """Every event from before the crash is still there, sequence numbers run 1..n without a gap or a repeat,
    each step finished once, and the task answered once."""
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert log[:len(before)] == before
    assert Counter(finished_steps(log)) == Counter(steps)
    assert [e["kind"] for e in log].count("answer") == 1


def chain(prefix: str, count: int, seconds: float = 0.0, **extra: dict[str, Any]) -> dict[str, Any]:
    """Steps ``<prefix>1..count`` one after the other, each a ``work.nap`` of ``seconds``; ``extra`` replaces a
    step by id (a side effect in the middle, say)."""
    steps = []
    for i in range(1, count + 1):
        sid = f"{prefix}{i}"
        step: dict[str, Any] = extra.get(sid) or {"uses": "work.nap", "with": {"step": sid, "seconds": seconds}}
        step = {"id": sid, "timeout_s": 150, **step}
        if i > 1:
            step["depends_on"] = [f"{prefix}{i - 1}"]
        steps.append(step)
    return {"steps": steps}


class PlanningModel(FakeOpenAI):
    """A capable model on loopback: the given plan for a planning call (schema-constrained), a short sentence
    otherwise; ``plans`` counts the planning calls."""

    def __init__(self, plan: dict[str, Any]) -> None:
        super().__init__("text")
        self.plan = plan
        self.plans = 0

    def answer_text(self, body: dict[str, Any]) -> str:
        if body.get("response_format"):
            self.plans += 1
            return json.dumps(self.plan)
        return "Done."


def write_config(root: Path, db_url: str, work: WorkService, *, lease_ttl_s: float = 2.0, max_running: int = 1,
                 model: FakeOpenAI | None = None, **more: Any) -> Path:
    """``root/autoglm.yaml``: the database, the work service's tools, short leases; a capable model node that
    plans when ``model`` is given."""
    config: dict[str, Any] = {
        "database_url": db_url, "auth": "disabled", "tools": ["llm"], "openapi": [work.openapi_config(root)],
        "gateway": {"lease_ttl_s": lease_ttl_s, "max_running_tasks": max_running,
                    "rate_limit_per_minute": 60_000, "rate_limit_burst": 1000},  # the tests poll
        **more,
    }
    if model is not None:
        config |= {"nodes": [{"name": "planner", "base_url": model.base_url, "model": "fake"}], "planner": "model"}
    (root / "autoglm.yaml").write_text(json.dumps(config), encoding="utf-8")
    return root


@contextmanager
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of its own (a unique name; other suites run on the same server), dropped after."""
    with fresh_pg_database("durable") as url:
        yield url
