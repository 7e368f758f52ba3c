"""The task queue and leases in the store, and the task routes over them: claims never overlap (SQLite and
PostgreSQL), a cancelled task stops and resumes from its log without rerunning a finished step, someone else's task
is a 404, and planning's embedding runs off the event loop, so ``/healthz`` answers while it works."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_support import bearer, database, gateway, make_glm, new_key, wait_for_status
from openautoglm.app import AutoGLM
from openautoglm.config import GatewaySettings, Settings
from openautoglm.embeddings import HashingEmbedder, Kind
from openautoglm.errors import TaskConflict
from openautoglm.leases import Leases, NewTask
from openautoglm.models.scripted import ScriptedModel
from openautoglm.planning import RulePlanner
from openautoglm.store import Store
from openautoglm.taskspec import TaskSpec
from openautoglm.tools.base import tool


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def test_concurrent_claimers_never_take_one_task_twice(db_url: str) -> None:
    store = Store(db_url)
    try:
        ids = [f"t{i:02d}" for i in range(40)]
        for task_id in ids:
            store.enqueue_task(task_id, "r", {"kind": "request", "request": "r"})
        with ThreadPoolExecutor(8) as pool:
            claims = list(pool.map(lambda n: [t.id for t in store.claim_tasks(f"worker-{n}", 5, 30)], range(8)))
        taken = [task_id for claim in claims for task_id in claim]
        assert sorted(taken) == ids  # every task once: 8 workers x 5 slots
        assert store.claim_tasks("late", 5, 30) == []  # every lease is live
        # A holder that stops renewing loses its tasks to the next claimer once the lease lapses.
        store.enqueue_task("lapsing", "r", {"kind": "request", "request": "r"})
        assert [t.id for t in store.claim_tasks("dies", 1, 0.2)] == ["lapsing"]
        store.open_task("lapsing", "r")
        assert store.claim_tasks("survivor", 1, 30) == []
        time.sleep(0.3)
        assert [t.id for t in store.claim_tasks("survivor", 1, 30)] == ["lapsing"]
        assert store.renew_leases("dies", ["lapsing"], 30) == set()
        assert store.renew_leases("survivor", ["lapsing"], 30) == {"lapsing"}
    finally:
        store.close()


def test_resume_takes_the_lease_and_says_why_it_cannot(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        store.enqueue_task("held", "r", {"kind": "request", "request": "r"}, holder="gateway-a", lease_s=30)
        with pytest.raises(TaskConflict, match="is being run by gateway-a"):
            Leases(store, 5).take("held")
        store.create_task("done", "r", status="succeeded")
        with pytest.raises(TaskConflict, match=r"already finished \(succeeded\)"):
            Leases(store, 5).take("done")
        store.release_lease("held", "gateway-a")  # left unfinished: interrupted, free for anyone
        assert store.get_task("held").status == "interrupted"
        Leases(store, 5, holder="cli").take("held")
        assert store.get_task("held").lease_owner == "cli"
    finally:
        store.close()


def test_a_cancelled_task_stops_and_resumes_without_rerunning_finished_steps(db_url: str) -> None:
    calls: list[str] = []
    gate = threading.Event()

    @tool
    async def work(name: str) -> str:
        """Do one piece of work; the piece named 'slow' waits for the test."""
        if name == "slow":
            await asyncio.to_thread(gate.wait, 20)
        calls.append(name)
        return f"{name} done"

    glm = make_glm(db_url, tools=[work])
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        ann, bob = bearer(new_key(glm, "user", "ann")), bearer(new_key(glm, "user", "bob"))
        operator = bearer(new_key(glm, "operator"))
        plan = {"steps": [{"id": "first", "uses": "work", "with": {"name": "first"}},
                          {"id": "slow", "uses": "work", "with": {"name": "slow"}, "depends_on": ["first"]},
                          {"id": "last", "uses": "work", "with": {"name": "last"}, "depends_on": ["slow"]}]}
        task_id = http.post("/v1/tasks", json={"plan": plan}, headers=ann).json()["id"]
        deadline = time.monotonic() + 20
        while calls != ["first"] and time.monotonic() < deadline:
            time.sleep(0.02)
        # Someone else's task is not there for them: the same 404 as an unknown id.
        for verb in ("cancel", "resume"):
            other = http.post(f"/v1/tasks/{task_id}/{verb}", headers=bob)
            assert other.status_code == 404 and other.json()["error"]["type"] == "not_found"
        stopped = http.post(f"/v1/tasks/{task_id}/cancel", headers=ann)
        assert stopped.status_code == 200 and stopped.json()["status"] == "cancelled"
        assert wait_for_status(http, task_id, ann)["status"] == "cancelled"
        again = http.post(f"/v1/tasks/{task_id}/cancel", headers=ann)
        assert again.status_code == 409 and again.json()["error"]["type"] == "task_conflict"
        trace = http.get(f"/v1/tasks/{task_id}/trace", headers=ann).json()["events"]
        assert trace[-1]["kind"] == "task.failed" and trace[-1]["data"]["error"] == "cancelled on request"
        assert glm.store.get_task(task_id).lease_owner is None

        gate.set()
        resumed = http.post(f"/v1/tasks/{task_id}/resume", headers=operator)  # an operator may resume anyone's
        assert resumed.status_code == 202
        done = wait_for_status(http, task_id, ann)
        assert done["status"] == "succeeded", done
        assert Counter(calls) == {"first": 1, "slow": 1, "last": 1}  # the finished step was not run again
        events = http.get(f"/v1/tasks/{task_id}/trace", headers=ann).json()["events"]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        finished = http.post(f"/v1/tasks/{task_id}/resume", headers=ann)
        assert finished.status_code == 409 and "already finished (succeeded)" in finished.json()["error"]["message"]


class GatedEmbedder(HashingEmbedder):
    """Embeds a query only once the test lets it: a stand-in for a CPU-bound model, held as long as needed."""

    def __init__(self) -> None:
        super().__init__(64)
        self.embedding = threading.Event()
        self.release = threading.Event()

    def _embed_batch(self, texts: list[str], kind: Kind) -> list[list[float]]:
        if kind == "query":
            self.embedding.set()
            self.release.wait(20)
        return super()._embed_batch(texts, kind)


def test_healthz_answers_while_the_planner_embeds(tmp_path: Path) -> None:
    embedder = GatedEmbedder()
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    glm = AutoGLM(settings=Settings(auth="disabled", database_url=url, tools=["math"], gateway=GatewaySettings()),
                  model=ScriptedModel(["unused"]), store=Store(url), planner=RulePlanner(embedder=embedder,
                                                                                         model_fill=False))
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        task_id = http.post("/v1/tasks", json={"request": "计算 12 乘以 7"}).json()["id"]
        assert embedder.embedding.wait(20), "the planner never embedded"
        try:
            started = time.monotonic()
            health = http.get("/healthz", timeout=3)  # the embedding holds its thread, not the event loop
            took = time.monotonic() - started
        finally:
            embedder.release.set()
        assert health.status_code == 200 and took < 3
        body: dict[str, Any] = wait_for_status(http, task_id, {})
        assert body["status"] == "succeeded" and "84" in (body["answer"] or "")


def test_a_resumed_session_task_answers_once_and_joins_its_session(tmp_path: Path) -> None:
    from openautoglm.planning import DirectPlanner

    url = f"sqlite:///{tmp_path / 'resume.db'}"
    model = ScriptedModel(["你好，祝你今天愉快！"], delay_s=30)  # the first run is stopped while the model thinks
    glm = AutoGLM(settings=Settings(database_url=url), model=model, store=Store(url), planner=DirectPlanner())

    async def scenario() -> Any:
        run = asyncio.create_task(glm.run("写一句问候", session_id="s1", owner="ann", task_id="t1", role="user"))
        while not any(e.kind == "step.started" for e in glm.store.events("t1")):
            await asyncio.sleep(0.02)
        run.cancel()  # as a drain or a crash leaves it: planned, its step unfinished
        await asyncio.gather(run, return_exceptions=True)
        glm.store.update_task("t1", status="interrupted")
        model.delay_s = 0
        return await glm.resume("t1")

    try:
        result = asyncio.run(scenario())
        assert result.status == "succeeded" and result.answer, (result.answer, [s.error for s in result.steps])
        assert [e.kind for e in glm.store.events("t1")].count("answer") == 1
        assert [t.task_id for t in glm.sessions.history("s1", "ann")] == ["t1"]
        assert glm.store.get_task("t1").lease_owner is None  # resume gave its lease back
        with pytest.raises(TaskConflict, match="already finished"):
            asyncio.run(glm.resume("t1"))
    finally:
        glm.store.close()


def test_a_run_whose_lease_another_process_took_stops_with_task_conflict(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'lost.db'}")
    stopped: list[BaseException] = []

    async def scenario() -> None:
        leases = Leases(store, ttl_s=0.2, holder="stalled")
        try:
            async with leases.holding("t1", NewTask(TaskSpec(kind="request", request="r"))):
                store.expire_leases("stalled")  # as if this process had stalled past its ttl ...
                assert store.take_lease("t1", "other", 30)  # ... and another process took the task over
                await asyncio.sleep(5)  # the next heartbeat finds the lease gone and stops this body
        except TaskConflict as exc:
            stopped.append(exc)
        finally:
            await leases.aclose()

    try:
        asyncio.run(scenario())
        assert len(stopped) == 1 and "was taken over by another process" in str(stopped[0])
        assert store.get_task("t1").lease_owner == "other"  # the new holder keeps it
    finally:
        store.close()
