"""``executor: ray`` on a real local Ray cluster: a head node and one more worker node, started once for this
module with ``ray start`` on loopback and always stopped (the fixture's finalizer), even when a test fails."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import ray  # the `ray` extra (in requirements.lock, so CI has it)

from openautoglm import AutoGLM
from openautoglm.config import Settings
from openautoglm.errors import ConfigError
from openautoglm.events import EventKind
from openautoglm.executors.ray_steps import RayExecutor
from openautoglm.models.base import ChatRequest, Message
from openautoglm.models.ray_replicas import RayReplicasModel
from openautoglm.store import Store
from openautoglm.tools import ToolContext, tool

TESTS = str(Path(__file__).parent)


@tool(name="probe.where")
async def where(label: str, seconds: float = 0.0) -> dict:
    """Sleep, then say which process and node ran this step."""
    await asyncio.sleep(seconds)
    return {"label": label, "pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}


@tool(name="probe.join")
def join(parts: list[Any], ctx: ToolContext) -> dict:
    """Collect the branches' answers; says so in an event of its own."""
    ctx.emit(EventKind.TOOL_CALL, tool="probe.join", inputs={"count": len(parts)})
    return {"labels": sorted(p["label"] for p in parts), "pids": sorted({p["pid"] for p in parts})}


@tool(name="probe.fragile")
async def fragile(marker: str, seconds: float) -> dict:
    """Append this process's pid to ``marker``, then sleep: a test kills the first process to write."""
    with open(marker, "a") as f:
        f.write(f"{os.getpid()}\n")
    await asyncio.sleep(seconds)
    return {"pid": os.getpid()}


@tool(name="probe.flaky")
def flaky(marker: str) -> str:
    """Fail the first time (a tool's own error, raised in the worker), succeed after."""
    path = Path(marker)
    if not path.exists():
        path.write_text("failed once")
        raise ValueError("first call fails on purpose")
    return "second call worked"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from openautoglm.testing.ray_cluster import LocalRayCluster

    started = LocalRayCluster(head_cpus=2, worker_cpus=(2,), pythonpath=(TESTS,))
    try:
        started.start()
        yield started
    finally:
        ray.shutdown()  # this process's connection first, then the cluster's processes
        started.stop()


def make_app(cluster: Any, **settings: Any) -> AutoGLM:
    options = {"executor": "ray", "ray_address": cluster.address, "retries": 0} | settings
    return AutoGLM(settings=Settings(**options), tools=[where, join, fragile, flaky], store=Store.temporary())


def kinds(events: list[Any], step: str) -> list[str]:
    return [e.kind for e in events if e.step_id == step]


async def test_parallel_branches_run_on_both_nodes_and_the_trace_has_every_event(cluster: Any) -> None:
    app = make_app(cluster)
    branches = [f"b{i}" for i in range(4)]
    plan = {"steps": [
        *({"id": b, "uses": "probe.where", "with": {"label": b, "seconds": 1.0}, "timeout_s": 10} for b in branches),
        {"id": "all", "uses": "probe.join", "with": {"parts": [f"${{{b}.output}}" for b in branches]}},
    ]}
    try:
        # The process's first plan, four steps at once: joining the cluster and starting its workers happen before
        # the first step and out of its timeout (two first steps at once once left both waiting forever).
        result = await app.execute(plan)
        events = app.trace(result.task_id)
    finally:
        await app.aclose()
    assert result.status == "succeeded", result.answer
    outputs = {s.id: s.output for s in result.steps}
    assert outputs["all"]["labels"] == branches
    # Four one-second branches on 2 + 2 CPUs: they ran at once, so on both nodes, each in a worker process.
    nodes = {outputs[b]["node"] for b in branches}
    assert len(nodes) == 2
    assert os.getpid() not in outputs["all"]["pids"]
    for b in branches:
        assert kinds(events, b) == ["step.started", "step.worker", "step.finished"]
        placed = next(e for e in events if e.step_id == b and e.kind == "step.worker").data
        assert placed["status"] == "ran" and placed["executor"] == "ray"
        assert (placed["node"], placed["pid"]) == (outputs[b]["node"], outputs[b]["pid"])
    # The join's own event came back from its worker and sits between its start and its finish.
    assert kinds(events, "all") == ["step.started", "step.worker", "tool.call", "step.finished"]
    starts = [e.ts for e in events if e.kind == "step.started" and e.step_id in branches]
    ends = [e.ts for e in events if e.kind == "step.finished" and e.step_id in branches]
    assert max(starts) < min(ends)  # all four were running at the same time


async def test_a_worker_killed_mid_step_is_recorded_and_the_step_runs_again(cluster: Any, tmp_path: Path) -> None:
    app = make_app(cluster)
    marker = tmp_path / "pids"
    plan = {"steps": [{"id": "long", "uses": "probe.fragile", "with": {"marker": str(marker), "seconds": 2.0}},
                      {"id": "after", "uses": "probe.where", "with": {"label": "after"}, "depends_on": ["long"]}]}
    try:
        running = asyncio.create_task(app.execute(plan))
        deadline = time.monotonic() + 60
        while not marker.exists() or "\n" not in marker.read_text():  # a whole pid, written by the worker
            assert time.monotonic() < deadline, "the step never started on a worker"
            assert not running.done(), running
            await asyncio.sleep(0.05)
        victim = int(marker.read_text().split()[0])
        assert victim != os.getpid()
        os.kill(victim, signal.SIGKILL)  # a real worker process, mid-step
        result = await asyncio.wait_for(running, 120)
        events = app.trace(result.task_id)
    finally:
        await app.aclose()
    assert result.status == "succeeded", result.answer
    pids = [int(p) for p in marker.read_text().split()]
    assert len(pids) == 2 and pids[1] != victim
    assert result.steps[0].output == {"pid": pids[1]}
    assert kinds(events, "long") == ["step.started", "step.worker", "step.retry", "step.worker", "step.finished"]
    lost, retry, ran = (e.data for e in events if e.step_id == "long" and e.kind in ("step.worker", "step.retry"))
    assert lost["status"] == "lost" and "WorkerCrashedError" in lost["error"]
    assert retry["error_type"] == "WorkerCrashedError" and retry["attempt"] == 1
    assert ran["status"] == "ran" and ran["pid"] == pids[1]
    finished = next(e for e in events if e.step_id == "long" and e.kind == "step.finished")
    assert finished.data["attempts"] == 1  # a lost worker is not a failed attempt of the tool


async def test_a_tools_own_error_in_a_worker_meets_the_retry_policy(cluster: Any, tmp_path: Path) -> None:
    app = make_app(cluster, retries=1)
    marker = tmp_path / "flaky"
    try:
        result = await app.execute({"steps": [{"id": "f", "uses": "probe.flaky", "with": {"marker": str(marker)}}]})
        events = app.trace(result.task_id)
    finally:
        await app.aclose()
    assert result.status == "succeeded" and result.steps[0].output == "second call worked"
    retry = next(e for e in events if e.kind == "step.retry").data
    assert retry["error_type"] == "ValueError" and "on purpose" in retry["error"]
    assert kinds(events, "f") == ["step.started", "step.worker", "step.retry", "step.worker", "step.finished"]


async def test_a_step_past_its_timeout_is_stopped_on_the_cluster(cluster: Any, tmp_path: Path) -> None:
    app = make_app(cluster)
    marker = tmp_path / "pids"
    plan = {"steps": [{"id": "slow", "uses": "probe.fragile", "timeout_s": 3,
                       "with": {"marker": str(marker), "seconds": 60}}]}
    try:
        result = await app.execute(plan)
    finally:
        await app.aclose()
    assert result.status == "failed" and "timed out" in (result.steps[0].error or "")
    victim = int(marker.read_text().split()[0])
    deadline = time.monotonic() + 30
    while _exists(victim):  # the cancelled task's worker is killed, not left sleeping
        assert time.monotonic() < deadline, "the timed-out step's worker is still running"
        await asyncio.sleep(0.2)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_gguf_node_served_by_two_ray_actors_and_one_killed_mid_call(cluster: Any) -> None:
    node = {"name": "smol-replicas", "backend": "ray", "replicas": 2, "ray_address": cluster.address}
    app = make_app(cluster, nodes=[node])
    plan = {"steps": [{"id": f"w{i}", "uses": "llm.generate", "with": {"prompt": f"Say hello number {i}.",
                                                                        "max_tokens": 8}} for i in range(2)]}
    try:
        result = await app.execute(plan)
        events = app.trace(result.task_id)
        model = app.services.router.get("smol-replicas").model
        assert isinstance(model, RayReplicasModel)
        where = await model.where()
        served = list(model.served)
        # Replica 0 (next in line) is killed in the middle of a long generation: replica 1 answers the call.
        counting = ChatRequest(messages=[Message(role="user", content="Count from 1 to 200: 1, 2, 3, 4,")],
                               max_tokens=150)
        call = asyncio.create_task(model.complete(counting))
        while model._busy[0] == 0:
            assert not call.done(), call
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        os.kill(where[0][1], signal.SIGKILL)
        survived = await asyncio.wait_for(call, 180)
        after = (list(model.lost), list(model.served))
    finally:
        await app.aclose()  # kills the actors: their CPUs go back to the cluster
    assert result.status == "succeeded", result.answer
    assert all(isinstance(s.output, str) and s.output.strip() for s in result.steps)
    # The two model steps went one to each replica: two worker processes, neither of them this one.
    assert served == [1, 1]
    assert survived.text.strip() and after == ([1, 0], [1, 2])
    assert len({pid for _, pid in where}) == 2 and os.getpid() not in {pid for _, pid in where}
    for step in ("w0", "w1"):
        finished = next(e for e in events if e.step_id == step and e.kind == "step.finished")
        assert finished.data["node"] == "smol-replicas"
        # The model step itself stays in the task's process (it holds the router); the model work is on Ray.
        worker = next(e for e in events if e.step_id == step and e.kind == "step.worker").data
        assert worker["status"] == "local" and "portable" in worker["reason"]


def test_executor_setting_picks_the_class_and_an_unknown_one_is_a_config_error() -> None:
    app = AutoGLM(settings=Settings(executor="ray", ray_address="127.0.0.2:1"), tools=[where],
                  store=Store.temporary())
    executor = app.services.new_executor()
    assert isinstance(executor, RayExecutor) and executor.address == "127.0.0.2:1"
    assert type(AutoGLM(settings=Settings(), store=Store.temporary()).services.new_executor()).__name__ == "Executor"
    with pytest.raises(ConfigError, match="unknown executor 'dask'; known: local, ray"):
        AutoGLM(settings=Settings(executor="dask"), store=Store.temporary()).services.new_executor()
