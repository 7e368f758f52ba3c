"""Steps on Ray: the same uneven 200-step sleep DAG on the local executor and on a Ray cluster of 1 and of 4 workers.

The DAG is bench/executor.py's (each step sleeps, depends on up to three earlier steps), its sleeps multiplied by
``--scale`` so that steps are sleep-bound (default 5: mostly 10-100 ms, one in ten 200-600 ms). Each Ray cluster is
real and local (``ray start --head`` on loopback, ``--num-cpus`` = workers; each step reserves one CPU, so at most
that many steps run at once), started for its row and stopped after it.

Reported, side by side:
- per-step overhead: the same DAG with zero-length sleeps, wall time / steps (for Ray with 1 worker this is the
  whole round trip of one step: submit, run in the worker, result and events back into the event log);
- for the sleep DAG: wall time; the ideal wall time of the same DAG on that many workers with no overhead at all
  (a list schedule of the recorded sleeps: with 1 worker, their sum); efficiency = ideal / measured; and the
  speedup of 4 workers over 1 with its efficiency, speedup / 4.

    PYTHONPATH=src .venv/bin/python bench/ray_executor.py [--steps 200] [--scale 5] [--seed 7] [--repeat 1]

Targets (issue 13): overhead < 5 ms per step; efficiency >= 0.8 at 4 workers for sleep-bound steps.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import statistics
import sys
import tempfile
import time
from pathlib import Path

from executor import Dag, bench_sleep, make_dag  # bench/executor.py: the DAG and its sleeping tool
from openautoglm.engine import Executor
from openautoglm.events import EventEmitter
from openautoglm.plan import RetryPolicy, parse_plan
from openautoglm.store import Store
from openautoglm.testing.ray_cluster import LocalRayCluster
from openautoglm.tools import ToolRegistry

BENCH = str(Path(__file__).parent)


def scaled(dag: Dag, factor: float) -> Dag:
    return Dag({k: v * factor for k, v in dag.latency_s.items()}, dag.deps)


def ideal_wall(dag: Dag, workers: int) -> float:
    """The DAG's wall time on ``workers`` slots with zero overhead: each ready step (in plan order) takes the slot
    that frees first. A lower bound no executor on that many workers can beat by much."""
    finish: dict[str, float] = {}
    slots = [0.0] * workers
    for node in dag.latency_s:  # insertion order is a topological order, and the order steps become ready
        ready = max((finish[d] for d in dag.deps[node]), default=0.0)
        free = heapq.heappop(slots)
        finish[node] = max(ready, free) + dag.latency_s[node]
        heapq.heappush(slots, finish[node])
    return max(finish.values())


async def run_dag(executor: Executor, dag: Dag, store: Store) -> float:
    plan = parse_plan({"steps": [
        {"id": node, "uses": "bench.sleep", "with": {"seconds": dag.latency_s[node]}, "depends_on": dag.deps[node]}
        for node in dag.latency_s
    ]})
    emitter = EventEmitter(f"bench-{time.monotonic_ns()}", [store.append])
    start = time.perf_counter()
    results = await executor.run(plan, emitter)
    elapsed = time.perf_counter() - start
    failed = [r for r in results.values() if r.status != "succeeded"]
    assert not failed, failed[0]
    return elapsed


async def measure_row(executor: Executor, dag: Dag, zero: Dag, repeat: int, store: Store) -> tuple[float, float]:
    await run_dag(executor, zero, store)  # warm-up: connection, worker processes, imports
    walls, zeros = [], []
    for _ in range(repeat):
        zeros.append(await run_dag(executor, zero, store))
        walls.append(await run_dag(executor, dag, store))
    return statistics.median(walls), statistics.median(zeros)


def ray_row(workers: int, dag: Dag, zero: Dag, repeat: int, store: Store) -> tuple[float, float, float]:
    """(sleep DAG wall, zero DAG wall, cluster start seconds) on a fresh local cluster of ``workers`` CPUs."""
    import ray

    from openautoglm.executors.ray_steps import RayExecutor

    cluster = LocalRayCluster(head_cpus=workers, pythonpath=(BENCH, str(Path(BENCH).parent / "src")))
    try:
        cluster.start()
        executor = RayExecutor(ToolRegistry([bench_sleep]), default_retry=RetryPolicy(attempts=1),
                               address=cluster.address)
        wall, zero_wall = asyncio.run(measure_row(executor, dag, zero, repeat, store))
        return wall, zero_wall, sum(cluster.start_s)
    finally:
        ray.shutdown()
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--scale", type=float, default=5.0, help="multiply bench/executor.py's sleeps")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    dag = scaled(make_dag(args.steps, args.seed), args.scale)
    zero = dag.zero()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        local = Executor(ToolRegistry([bench_sleep]), default_retry=RetryPolicy(attempts=1))
        rows = {"local": (*asyncio.run(measure_row(local, dag, zero, args.repeat, store)), 0.0)}
        for workers in args.workers:
            print(f"ray, {workers} worker(s)...", file=sys.stderr, flush=True)
            rows[f"ray {workers}"] = ray_row(workers, dag, zero, args.repeat, store)
        store.close()

    total = sum(dag.latency_s.values())
    print(f"\nDAG: {args.steps} steps, seed {args.seed}, sleeps x{args.scale:g}: sum {total:.2f} s, critical path "
          f"{dag.critical_path():.2f} s; median of {args.repeat} run(s)\n")
    header = (f"{'executor':<9} {'overhead ms/step':>16} {'sleep DAG s':>12} {'ideal s':>8} {'ideal/measured':>15} "
              f"{'cluster start s':>16}")
    print(header)
    print("-" * len(header))
    for name, (wall, zero_wall, started) in rows.items():
        workers = int(name.split()[1]) if name.startswith("ray") else None
        ideal = ideal_wall(dag, workers) if workers else dag.critical_path()
        print(f"{name:<9} {zero_wall / args.steps * 1000:>16.2f} {wall:>12.2f} {ideal:>8.2f} {ideal / wall:>15.3f} "
              f"{started:>16.1f}")
    local_overhead = rows["local"][1] / args.steps * 1000
    print()
    for workers in args.workers:
        overhead = rows[f"ray {workers}"][1] / args.steps * 1000
        print(f"ray {workers} / local: overhead per step {overhead / local_overhead:.1f}x "
              f"({overhead - local_overhead:+.2f} ms)")
    if 1 in args.workers and 4 in args.workers:
        speedup = rows["ray 1"][0] / rows["ray 4"][0]
        ideal_speedup = ideal_wall(dag, 1) / ideal_wall(dag, 4)
        print(f"ray 4 / ray 1: speedup {speedup:.2f}x (ideal for this DAG {ideal_speedup:.2f}x), "
              f"scaling efficiency speedup/4 = {speedup / 4:.3f}")
        overhead1 = rows["ray 1"][1] / args.steps * 1000
        efficiency4 = ideal_wall(dag, 4) / rows["ray 4"][0]
        print(f"targets: overhead < 5 ms/step -> {'met' if overhead1 < 5 else 'NOT met'} ({overhead1:.2f} ms, "
              f"1 worker); efficiency >= 0.8 at 4 workers -> {'met' if efficiency4 >= 0.8 else 'NOT met'} "
              f"(ideal/measured {efficiency4:.3f}, speedup/4 {speedup / 4:.3f})")


if __name__ == "__main__":
    main()
