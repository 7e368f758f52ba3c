"""Many replicas as one: two real ``autoglm serve`` processes on one PostgreSQL database and the machine's Redis.

A node registered through one replica serves chats through the other, and both see its heartbeats, its lapse and
its removal; a node whose breaker one replica tripped is skipped by the other and by successive CLI runs (the calls
counted at a loopback fake node); an SSE client on one replica follows a task running on the other live, every
event in order; an approval requested on one is granted through the other and the task goes on where it runs.
Each test has its own database and its own Redis key prefix.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from durable_support import AUTOGLM, served, wait
from openautoglm.testing.fake_openai import FakeOpenAI
from service_urls import REDIS_URL, fresh_pg_database

SLOW = Path(__file__).with_name("slow_mcp_server.py")
pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(autouse=True)
def shared_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every replica and CLI run opens the node tokens and sealed content the others stored: one key for all."""
    monkeypatch.setenv("AUTOGLM_SECRET_KEY", "dGhpcyBpcyBhIHRlc3Qga2V5IG9mIDMyIGJ5dGVzISE=")


@pytest.fixture
def db_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own, dropped afterwards."""
    with fresh_pg_database("replicas") as url:
        yield url


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    value = f"autoglm-test:{secrets.token_hex(6)}:"
    yield value
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=value + "*"):
        client.delete(key)
    client.close()


def replica(tmp_path: Path, name: str, config: dict[str, Any]) -> Path:
    """A replica's own directory (its data dir) with its autoglm.yaml."""
    root = tmp_path / name
    root.mkdir(exist_ok=True)
    (root / "autoglm.yaml").write_text(json.dumps(config), encoding="utf-8")
    return root


def base_config(db_url: str, prefix: str | None, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "database_url": db_url, "auth": "disabled", "tools": ["llm"], "planner": "rules",
        # The default lease: on busy shared cores a much shorter one can lapse under a live task, and the other
        # replica would take it over (tests/test_durable.py is about that).
        "gateway": {"rate_limit_per_minute": 60_000, "rate_limit_burst": 1000},
    }
    if prefix is not None:
        config |= {"redis_url": REDIS_URL, "redis_prefix": prefix}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = config[key] | value
        else:
            config[key] = value
    return config


def node_row(client: httpx.Client, name: str) -> dict[str, Any] | None:
    rows = client.get("/v1/nodes").json()["data"]
    return next((r for r in rows if r["name"] == name), None)


def chat(client: httpx.Client, model: str, text_: str = "hello") -> httpx.Response:
    return client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user",
                                                                                   "content": text_}]})


# -- 1. nodes registered through any replica -------------------------------------------------------------------


def test_a_node_registered_through_a_serves_through_b_and_both_see_it_lapse_and_go(
        tmp_path: Path, db_url: str, prefix: str) -> None:
    config = base_config(db_url, prefix, router={"node_sync_s": 0.2, "probe_interval_s": None})
    a_root, b_root = replica(tmp_path, "a", config), replica(tmp_path, "b", config)
    with FakeOpenAI("text", text="answered by the node") as fake, \
            served(a_root) as (_, a), served(b_root) as (_, b):
        joined = a.post("/v1/nodes", json={"name": "n1", "base_url": fake.base_url, "ttl_s": 5})
        assert joined.status_code == 201, joined.text
        wait(lambda: (r := node_row(b, "n1")) and r["state"] == "ready", 4, "B to serve the node A registered")

        answer = chat(b, "n1")
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == "answered by the node"
        assert fake.requests == 1

        # Heartbeats through B keep it in both pools past its first TTL.
        for _ in range(6):
            assert b.post("/v1/nodes/n1/heartbeat").status_code == 200
            time.sleep(1.0)
        for client in (a, b):
            row = node_row(client, "n1")
            assert row is not None and row["state"] == "ready", row
        # Silence: both see it lapse.
        wait(lambda: all((r := node_row(c, "n1")) and r["state"] == "lapsed" for c in (a, b)), 10,
                 "both replicas to see the node lapse")
        assert chat(a, "n1").status_code >= 400

        # Back again through B; removed through A: gone from both.
        assert b.post("/v1/nodes", json={"name": "n1", "base_url": fake.base_url, "ttl_s": 30}).status_code == 201
        wait(lambda: (r := node_row(a, "n1")) and r["state"] == "ready", 5, "A to see it registered again")
        answer = chat(a, "n1")
        assert answer.status_code == 200, (answer.text, node_row(a, "n1"), node_row(b, "n1"))
        assert a.delete("/v1/nodes/n1").status_code == 200
        wait(lambda: node_row(b, "n1") is None, 5, "B to drop the node A removed")
        assert chat(b, "n1").status_code == 404
        assert b.delete("/v1/nodes/n1").status_code == 404


# -- 2. breaker trips shared through Redis ---------------------------------------------------------------------


def dead_node_config(db_url: str, prefix: str | None, fake: FakeOpenAI) -> dict[str, Any]:
    # The default planner: a CLI run asks the node for a plan, then the plan's llm step asks it again (two calls).
    return base_config(db_url, prefix, nodes=[{"name": "dead", "base_url": fake.base_url, "timeout_s": 5}],
                       router={"breaker_failures": 5, "breaker_cooldown_s": 120, "probe_interval_s": None},
                       planner="auto", enable_caching=False)


def cli_runs(root: Path, count: int) -> None:
    for _ in range(count):
        done = subprocess.run([AUTOGLM, "run", "写一首关于秋天的短诗"], cwd=root, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL,
                              env={**os.environ, "AUTOGLM_HOME": str(root)})
        assert "Traceback" not in done.stderr, done.stderr


def test_a_node_tripped_by_a_is_skipped_by_b_and_by_cli_runs(tmp_path: Path, db_url: str, prefix: str) -> None:
    with FakeOpenAI("error", status=503) as fake:
        config = dead_node_config(db_url, prefix, fake)
        a_root, b_root = replica(tmp_path, "a", config), replica(tmp_path, "b", config)
        with served(a_root) as (_, a), served(b_root) as (_, b):
            for _ in range(5):  # breaker_failures: the fifth trips it
                assert chat(a, "dead").status_code >= 500
            assert fake.requests == 5
            refused = chat(b, "dead")
            assert refused.status_code == 503, refused.text
            assert "circuit open" in refused.text
            assert fake.requests == 5  # B never called it
            cli_runs(replica(tmp_path, "cli", config), 3)
            assert fake.requests == 5  # nor did CLI runs


def test_successive_cli_runs_share_the_breaker_only_with_redis(tmp_path: Path, db_url: str, prefix: str) -> None:
    """Ten CLI runs against a dead node: in-process breakers call it every run; shared ones stop at the trip."""
    calls: dict[str, int] = {}
    for name, shared in (("in-process", None), ("redis", prefix)):
        with FakeOpenAI("error", status=503) as fake:
            cli_runs(replica(tmp_path, name, dead_node_config(db_url, shared, fake)), 10)
            calls[name] = fake.requests
    print(f"\n10 CLI runs against a dead node: {calls['in-process']} calls with in-process breakers, "
          f"{calls['redis']} with breakers shared through Redis "
          f"(ratio {calls['in-process'] / max(1, calls['redis']):.1f}x)")
    assert calls["in-process"] == 20  # every run calls it twice
    assert calls["redis"] == 5  # breaker_failures: the run that tripped it made no call after that


# -- 3. live events across replicas ----------------------------------------------------------------------------


def slow_config(db_url: str, prefix: str | None, **extra: Any) -> dict[str, Any]:
    return base_config(db_url, prefix, tools=["llm"], mcp_servers=[
        {"name": "slow", "command": sys.executable, "args": [str(SLOW)],
         "env": {"NAP_CALLS": "calls.txt", "NAP_PIDS": "pids.txt"}}], **extra)


def chain(count: int, seconds: float, gate: Path | None = None) -> dict[str, Any]:
    """Steps s1..s<count> one after the other, each sleeping ``seconds``; s2 first waits for the file ``gate``."""
    steps: list[dict[str, Any]] = []
    for i in range(1, count + 1):
        step: dict[str, Any] = {"id": f"s{i}", "uses": "slow.nap", "with": {"step": f"s{i}", "seconds": seconds}}
        if i == 2 and gate is not None:
            step["with"]["gate"] = str(gate)
        if i > 1:
            step["depends_on"] = [f"s{i - 1}"]
        steps.append(step)
    return {"steps": steps}


class Follower(threading.Thread):
    """Reads a task's event stream: every event with the time it arrived, and whether the stream ended by itself."""

    def __init__(self, client: httpx.Client, task_id: str) -> None:
        super().__init__(daemon=True)
        self.client, self.task_id = client, task_id
        self.got: list[tuple[float, dict[str, Any]]] = []
        self.ended = False

    def run(self) -> None:
        with self.client.stream("GET", f"/v1/tasks/{self.task_id}/events", timeout=120) as stream:
            kind = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind == "end":
                    self.ended = True
                    return
                elif line.startswith("data: "):
                    self.got.append((time.time(), json.loads(line.removeprefix("data: "))))


def follow_from_b(a_root: Path, b_root: Path, gate: Path, task_id: str) -> Follower:
    """With the task running on A and waiting at its gate, follow it through B from the start, then open the gate."""
    with served(b_root) as (_, b):
        assert b.get(f"/v1/tasks/{task_id}").json()["status"] == "running"
        follower = Follower(b, task_id)
        follower.start()
        wait(lambda: follower.got, 30, "the replayed events")
        gate.touch()
        follower.join(120)
    return follower


def test_an_sse_client_on_b_follows_a_task_on_a_live_through_redis(tmp_path: Path, db_url: str,
                                                                    prefix: str) -> None:
    # A minute between reads of the log: whatever arrives sooner came through Redis pub/sub.
    config = slow_config(db_url, prefix, gateway={"live_poll_s": 60})
    a_root, b_root = replica(tmp_path, "a", config), replica(tmp_path, "b", config)
    gate = tmp_path / "gate"
    with served(a_root) as (_, a):
        task_id = a.post("/v1/tasks", json={"plan": chain(6, 0.5, gate)}).json()["id"]
        wait(lambda: a.get(f"/v1/tasks/{task_id}").json()["status"] == "running", 30, "A to run the task")
        follower = follow_from_b(a_root, b_root, gate, task_id)
        stored = a.get(f"/v1/tasks/{task_id}/trace").json()["events"]
        status = a.get(f"/v1/tasks/{task_id}").json()["status"]
    assert follower.ended and status == "succeeded"
    got = follower.got
    seqs = [e["seq"] for _, e in got]
    assert seqs == [e["seq"] for e in stored] == list(range(1, len(stored) + 1))  # all, in order, once
    assert [e["kind"] for _, e in got] == [e["kind"] for e in stored]
    # Live: every step after the gate reached B's client soon after A emitted it, never waiting for a read of the
    # log (a minute away). The bound is loose: two shared cores, other suites running.
    delays = [arrived - e["ts"] for arrived, e in got if e["kind"] == "step.finished" and e["step_id"] != "s1"]
    print(f"\nstep.finished on A -> its SSE line on B (Redis pub/sub): {[round(d * 1000) for d in delays]} ms")
    assert len(delays) == 5 and max(delays) < 10, delays
    assert (a_root / "calls.txt").read_text().split() == [f"s{i}" for i in range(1, 7)]  # it ran on A
    assert not (b_root / "calls.txt").exists()


def test_without_redis_b_follows_a_task_on_a_by_reading_the_log(tmp_path: Path, db_url: str) -> None:
    config = slow_config(db_url, None, gateway={"live_poll_s": 0.2})
    a_root, b_root = replica(tmp_path, "a", config), replica(tmp_path, "b", config)
    gate = tmp_path / "gate"
    with served(a_root) as (_, a):
        task_id = a.post("/v1/tasks", json={"plan": chain(4, 0.3, gate)}).json()["id"]
        wait(lambda: a.get(f"/v1/tasks/{task_id}").json()["status"] == "running", 30, "A to run the task")
        follower = follow_from_b(a_root, b_root, gate, task_id)
        stored = a.get(f"/v1/tasks/{task_id}/trace").json()["events"]
    assert follower.ended
    assert [e["seq"] for _, e in follower.got] == list(range(1, len(stored) + 1))


# -- 4. approvals decided through any replica ------------------------------------------------------------------


def test_an_approval_requested_on_a_is_granted_through_b_and_the_task_on_a_goes_on(
        tmp_path: Path, db_url: str, prefix: str) -> None:
    config = slow_config(db_url, prefix, approvals={"timeout_s": 1, "escalate_to": "admin",
                                                    "escalation_timeout_s": None, "poll_s": 0.2})
    config["mcp_servers"][0]["side_effects"] = True  # every slow.nap waits for a person
    a_root, b_root = replica(tmp_path, "a", config), replica(tmp_path, "b", config)
    with served(a_root) as (_, a):
        task_id = a.post("/v1/tasks", json={"plan": chain(1, 0.1)}).json()["id"]
        wait(lambda: [r for r in a.get("/v1/approvals").json()["data"] if r["status"] == "escalated"], 30,
                 "the request to escalate after approvals.timeout_s")
        with served(b_root) as (_, b):
            time.sleep(2.0)  # escalated, and then no time limit: it is still open on B
            [pending] = b.get("/v1/approvals").json()["data"]
            assert pending["task_id"] == task_id and pending["status"] == "escalated"
            assert pending["expires_at"] is None
            decided = b.post(f"/v1/approvals/{pending['id']}", json={"approved": True, "reason": "fine"})
            assert decided.status_code == 200, decided.text
        wait(lambda: a.get(f"/v1/tasks/{task_id}").json()["status"] not in ("queued", "running"), 30,
                 "the task on A to go on")
        assert a.get(f"/v1/tasks/{task_id}").json()["status"] == "succeeded"
        trace = a.get(f"/v1/tasks/{task_id}/trace").json()["events"]
    statuses = [e["data"].get("status") for e in trace if e["kind"] == "approval" and e["data"].get("status")]
    assert statuses == ["pending", "escalated", "approved"]
    assert (a_root / "calls.txt").read_text().split() == ["s1"]
