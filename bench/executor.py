"""Executor benchmark: one DAG of uneven steps, run by our executor and by LangGraph side by side.

The DAG has N steps (default 200); each is a tool that sleeps a step-specific time (uneven: most short, some long)
and depends on up to three earlier steps. The critical path (the longest chain of sleeps) is the floor for any
executor. We report, for each framework, wall time against the critical path, and framework overhead per step
measured on the same DAG shape with zero-latency steps.

    .venv/bin/python bench/executor.py [--steps 200] [--repeat 3] [--seed 7]

Targets (issue 2): ours <= 1.05 x the critical path, overhead under 1 ms per step.
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

from openautoglm.engine import Executor
from openautoglm.events import EventEmitter
from openautoglm.plan import RetryPolicy, parse_plan
from openautoglm.store import Store
from openautoglm.tools import ToolRegistry, tool


@dataclass
class Dag:
    latency_s: dict[str, float]
    deps: dict[str, list[str]]

    def critical_path(self) -> float:
        finish: dict[str, float] = {}
        for node in self.latency_s:  # insertion order is a topological order
            finish[node] = max((finish[d] for d in self.deps[node]), default=0.0) + self.latency_s[node]
        return max(finish.values())

    def zero(self) -> Dag:
        return Dag({k: 0.0 for k in self.latency_s}, self.deps)


def make_dag(steps: int, seed: int) -> Dag:
    rng = random.Random(seed)
    latency: dict[str, float] = {}
    deps: dict[str, list[str]] = {}
    for i in range(steps):
        name = f"s{i:03d}"
        # Uneven latencies: mostly 2-20 ms, one step in ten 40-120 ms.
        latency[name] = rng.uniform(0.04, 0.12) if rng.random() < 0.1 else rng.uniform(0.002, 0.02)
        window = list(latency)[max(0, i - 25) : i]
        deps[name] = sorted(rng.sample(window, k=min(len(window), rng.choice([0, 1, 1, 2, 2, 3]))))
    return Dag(latency, deps)


@tool(name="bench.sleep")
async def bench_sleep(seconds: float) -> float:
    """Sleep for the given time."""
    if seconds:
        await asyncio.sleep(seconds)
    return seconds


async def run_ours(dag: Dag, store: Store) -> float:
    plan = parse_plan({"steps": [
        {"id": node, "uses": "bench.sleep", "with": {"seconds": dag.latency_s[node]}, "depends_on": dag.deps[node]}
        for node in dag.latency_s
    ]})
    executor = Executor(ToolRegistry([bench_sleep]), default_retry=RetryPolicy(attempts=1))
    emitter = EventEmitter(f"bench-{time.monotonic_ns()}", [store.append])
    start = time.perf_counter()
    results = await executor.run(plan, emitter)
    elapsed = time.perf_counter() - start
    assert all(r.status == "succeeded" for r in results.values())
    return elapsed


class _State(TypedDict):
    done: Annotated[list[str], operator.add]


def build_langgraph(dag: Dag) -> Any:
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(_State)
    has_dependents = {d for ds in dag.deps.values() for d in ds}

    def node_fn(name: str, seconds: float) -> Callable[[_State], Awaitable[dict[str, list[str]]]]:
        async def run(state: _State) -> dict[str, list[str]]:
            if seconds:
                await asyncio.sleep(seconds)
            return {"done": [name]}

        return run

    for name, seconds in dag.latency_s.items():
        graph.add_node(name, node_fn(name, seconds))
    for name, deps in dag.deps.items():
        if not deps:
            graph.add_edge(START, name)
        elif len(deps) == 1:
            graph.add_edge(deps[0], name)
        else:
            graph.add_edge(deps, name)  # waits for all of them
        if name not in has_dependents:
            graph.add_edge(name, END)
    return graph.compile()


async def run_langgraph(compiled: Any, steps: int) -> float:
    start = time.perf_counter()
    out = await compiled.ainvoke({"done": []}, {"recursion_limit": steps + 10})
    elapsed = time.perf_counter() - start
    assert len(set(out["done"])) == steps, "LangGraph did not run every step"
    return elapsed


async def measure(args: argparse.Namespace) -> None:
    dag = make_dag(args.steps, args.seed)
    critical = dag.critical_path()
    zero = dag.zero()
    lg, lg_zero = build_langgraph(dag), build_langgraph(zero)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        await run_ours(zero, store)  # warm-up: imports, first-call caches
        await run_langgraph(lg_zero, args.steps)
        rows: dict[str, dict[str, list[float]]] = {"open-autoglm": {"wall": [], "zero": []},
                                                   "langgraph": {"wall": [], "zero": []}}
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            rows["open-autoglm"]["wall"].append(await run_ours(dag, store))
            rows["langgraph"]["wall"].append(await run_langgraph(lg, args.steps))
            rows["open-autoglm"]["zero"].append(await run_ours(zero, store))
            rows["langgraph"]["zero"].append(await run_langgraph(lg_zero, args.steps))
        store.close()

    print(f"\nDAG: {args.steps} steps, seed {args.seed}, critical path {critical * 1000:.1f} ms, "
          f"sum of all step latencies {sum(dag.latency_s.values()) * 1000:.1f} ms; median of {args.repeat} runs\n")
    header = f"{'executor':<14} {'wall ms':>9} {'wall / critical':>16} {'overhead/step ms':>17}"
    print(header)
    print("-" * len(header))
    medians = {}
    for name, r in rows.items():
        wall = statistics.median(r["wall"])
        per_step = statistics.median(r["zero"]) / args.steps * 1000
        medians[name] = (wall, per_step)
        print(f"{name:<14} {wall * 1000:>9.1f} {wall / critical:>16.3f} {per_step:>17.3f}")
    ours, theirs = medians["open-autoglm"], medians["langgraph"]
    print(f"\nlanggraph / open-autoglm: wall {theirs[0] / ours[0]:.2f}x, overhead per step {theirs[1] / ours[1]:.2f}x")
    print(f"targets: wall/critical <= 1.05 -> {'met' if ours[0] / critical <= 1.05 else 'NOT met'}; "
          f"overhead < 1 ms/step -> {'met' if ours[1] < 1 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
