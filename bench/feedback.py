"""The feedback loop against the router's own adaptation (EWMA) alone, on the same traffic, side by side.

A fleet of four fake OpenAI-compatible nodes on loopback (real HTTP) whose behaviour changes during the run:

- ``steady``:   20 ms, never fails;
- ``degrades``: 8 ms, then (from call DEGRADE_AT) 60 ms with 30 % of calls failing;
- ``recovers``: 80 ms with 30 % failing, then (from call RECOVER_AT) 6 ms, never failing;
- ``liar``:     4 ms, answers fluently but wrongly (a malformed answer the transport cannot see; users rate it down).

Calls go in batches of CONCURRENCY. A simulated user rates half of the answers (+1 right, -1 wrong), through the store
like ``POST /v1/feedback``. The loop (policies/loop.py) ticks every TICK_EVERY calls. A third run injects bad policies
an operator might activate (all weight on ``degrades`` while it is slow and failing; later all on ``liar``) and counts
the calls until the loop rolls each back.

Cost of a call: its latency in seconds + 1 if it failed + 1 if its answer was wrong. Regret: the run's cost minus the
cost of the best single node in hindsight (from the fleet's configured behaviour).

    .venv/bin/python bench/feedback.py [--calls 1500] [--seed 7] [--json]

Targets (issue 16): the degrading node's share falls within 100 calls, an injected bad policy is rolled back within
200, the loop's regret is lower than EWMA alone, thumbs-down answers move traffic away from the liar.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openautoglm.config import PolicySettings, RouterSettings
from openautoglm.errors import ModelError
from openautoglm.events import EventKind
from openautoglm.models.base import ChatRequest, reporting_model_events
from openautoglm.models.openai_compat import OpenAICompatibleModel
from openautoglm.models.pool import Router
from openautoglm.policies.book import PolicyBook
from openautoglm.policies.loop import PolicyLoop
from openautoglm.store import Store
from openautoglm.testing import FakeOpenAI

CONCURRENCY = 5
TICK_EVERY = 10
SHARE_WINDOW = 50  # calls over which a node's share is measured
FAIL_COST = WRONG_COST = 1.0
LIE = "The answer is certainly 42."
LOOP_SETTINGS = PolicySettings(canary_share=0.5, window=60, min_calls=20, alpha=0.01)


@dataclass
class Phase:
    latency_s: float
    error_rate: float = 0.0
    wrong: bool = False

    def cost(self) -> float:
        return self.latency_s + self.error_rate * FAIL_COST + (WRONG_COST if self.wrong else 0.0)


def fleet(calls: int) -> dict[str, list[tuple[int, Phase]]]:
    """Each node's phases: (first call, behaviour)."""
    degrade_at, recover_at = calls * 4 // 15, calls * 8 // 15
    return {
        "steady": [(0, Phase(0.020))],
        "degrades": [(0, Phase(0.008)), (degrade_at, Phase(0.060, 0.3))],
        "recovers": [(0, Phase(0.080, 0.3)), (recover_at, Phase(0.006))],
        "liar": [(0, Phase(0.004, wrong=True))],
    }


def phase_at(phases: list[tuple[int, Phase]], call: int) -> Phase:
    return [p for start, p in phases if start <= call][-1]


@dataclass
class Run:
    name: str
    nodes: list[str | None] = field(default_factory=list)  # the node that answered each call (None: failed)
    costs: list[float] = field(default_factory=list)
    failed: int = 0
    wrong: int = 0
    seconds: float = 0.0
    log: list[dict[str, Any]] = field(default_factory=list)
    rollbacks: list[tuple[int, int | None]] = field(default_factory=list)  # (injected at, rolled back after calls)

    def share(self, node: str, start: int, end: int) -> float:
        window = self.nodes[start:end]
        return sum(1 for n in window if n == node) / max(1, len(window))


async def simulate(name: str, calls: int, seed: int, with_loop: bool, inject: list[tuple[int, dict[str, Any]]],
                   workdir: Path) -> Run:
    plan = fleet(calls)
    fakes = {n: FakeOpenAI("text" if n == "liar" else "echo", text=LIE, status=503, seed=seed + i).start()
             for i, n in enumerate(plan)}
    router = Router([OpenAICompatibleModel(f.base_url, "m", name=n, timeout_s=5.0) for n, f in fakes.items()],
                    settings=RouterSettings(probe_interval_s=None, breaker_cooldown_s=2.0))
    store = Store(f"sqlite:///{workdir / (name + '.db')}")
    book = PolicyBook(store, router)
    loop = PolicyLoop(book, router, LOOP_SETTINGS) if with_loop else None
    rng = random.Random(seed)
    run = Run(name)
    pending_injections = sorted(inject)
    injected: tuple[int, int] | None = None  # (call, version)

    async def one(i: int) -> None:
        attempts: list[dict[str, Any]] = []

        def sink(kind: str, **data: Any) -> None:
            if kind == EventKind.MODEL_ATTEMPT and data.get("outcome") == "ok":
                attempts.append(data)

        prompt = f"question {i}"
        start = time.perf_counter()
        with reporting_model_events(sink):
            try:
                answer = await router.complete(ChatRequest.of(prompt))
            except ModelError:
                answer = None
        latency = time.perf_counter() - start
        node = attempts[-1]["node"] if attempts else None
        run.nodes[i] = node
        wrong = answer is not None and answer.text != prompt
        run.failed += answer is None
        run.wrong += wrong
        run.costs[i] = latency + (FAIL_COST if answer is None else 0.0) + (WRONG_COST if wrong else 0.0)
        if answer is not None and rng.random() < 0.5:  # the user rates half of the answers
            store.add_feedback(f"call-{i}", -1 if wrong else 1, nodes=[node] if node else [],
                               policy_version=attempts[-1].get("policy"))

    run.nodes = [None] * calls
    run.costs = [0.0] * calls
    began = time.perf_counter()
    try:
        for batch in range(0, calls, CONCURRENCY):
            for node, phases in plan.items():  # the fleet changes under the router's feet
                phase = phase_at(phases, batch)
                fakes[node].set(latency_s=phase.latency_s, error_rate=phase.error_rate)
            if pending_injections and batch >= pending_injections[0][0]:
                _, body = pending_injections.pop(0)
                record = book.create(body, "operator", "injected bad policy")
                book.activate(record.version, "operator", "injected bad policy")
                injected = (batch, record.version)
            await asyncio.gather(*(one(i) for i in range(batch, min(calls, batch + CONCURRENCY))))
            if loop is not None and (batch // CONCURRENCY) % (TICK_EVERY // CONCURRENCY or 1) == 0:
                did = loop.tick()
                if did is not None:
                    run.log.append({"call": batch + CONCURRENCY, "did": did})
                if injected is not None and did == "rolled_back" and book.state().active != injected[1]:
                    run.rollbacks.append((injected[0], batch + CONCURRENCY - injected[0]))
                    injected = None
        if injected is not None:
            run.rollbacks.append((injected[0], None))
    finally:
        run.seconds = time.perf_counter() - began
        await router.aclose()
        store.close()
        for fake in fakes.values():
            fake.stop()
    return run


def best_fixed(calls: int) -> tuple[str, float]:
    plan = fleet(calls)
    totals = {n: sum(phase_at(phases, i).cost() for i in range(calls)) for n, phases in plan.items()}
    node = min(totals, key=lambda n: totals[n])
    return node, totals[node]


def calls_to_halve(run: Run, node: str, at: int) -> int | None:
    """Calls after ``at`` until ``node``'s trailing share is under half its share just before ``at``."""
    before = run.share(node, max(0, at - SHARE_WINDOW * 2), at)
    for end in range(at + 5, len(run.nodes) + 1, 5):
        if run.share(node, max(at, end - SHARE_WINDOW // 2), end) < before / 2:
            return end - at
    return None


def summarize(run: Run, calls: int) -> dict[str, Any]:
    _, fixed = best_fixed(calls)
    degrade_at = fleet(calls)["degrades"][1][0]
    third = calls // 3
    return {
        "cost": round(sum(run.costs), 2), "regret": round(sum(run.costs) - fixed, 2),
        "failed": run.failed, "wrong": run.wrong,
        "degrades_share_before": round(run.share("degrades", degrade_at - 2 * SHARE_WINDOW, degrade_at), 3),
        "calls_to_halve_degrades": calls_to_halve(run, "degrades", degrade_at),
        "liar_share_first_third": round(run.share("liar", 0, third), 3),
        "liar_share_last_third": round(run.share("liar", calls - third, calls), 3),
        "recovers_share_last_third": round(run.share("recovers", calls - third, calls), 3),
        "proposals": sum(1 for e in run.log if e["did"] == "proposed"),
        "promotions": sum(1 for e in run.log if e["did"] == "promoted"),
        "rollbacks": sum(1 for e in run.log if e["did"] == "rolled_back"),
        "first_promotion_at": next((e["call"] for e in run.log if e["did"] == "promoted"), None),
        "injected_rolled_back_after": [after for _, after in run.rollbacks],
        "seconds": round(run.seconds, 1),
    }


async def main_async(calls: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ewma = await simulate("ewma", calls, seed, with_loop=False, inject=[], workdir=work)
        loop = await simulate("loop", calls, seed, with_loop=True, inject=[], workdir=work)
        slow_all = {"routes": {"text-generation": {"weights": {"degrades": 100, "steady": 0.01, "recovers": 0.01,
                                                               "liar": 0.01}}}}
        lies_all = {"routes": {"text-generation": {"weights": {"liar": 100, "steady": 0.01, "recovers": 0.01,
                                                               "degrades": 0.01}}}}
        injected = await simulate("inject", calls, seed, with_loop=True,
                                  inject=[(calls * 2 // 5, slow_all), (calls * 7 // 10, lies_all)], workdir=work)
    node, fixed = best_fixed(calls)
    return {"calls": calls, "seed": seed, "best_fixed": {"node": node, "cost": round(fixed, 2)},
            "ewma": summarize(ewma, calls), "loop": summarize(loop, calls), "inject": summarize(injected, calls),
            "loop_log": loop.log, "inject_log": injected.log}


def print_table(result: dict[str, Any]) -> None:
    ewma, loop, inject = result["ewma"], result["loop"], result["inject"]
    print(f"\nfeedback loop benchmark: {result['calls']} calls, 4 fake nodes on loopback, concurrency {CONCURRENCY}, "
          f"seed {result['seed']}; best fixed node in hindsight: {result['best_fixed']['node']} "
          f"(cost {result['best_fixed']['cost']})\n")
    rows = [
        ("regret (cost units)", "regret"), ("total cost", "cost"), ("failed calls", "failed"),
        ("wrong answers served", "wrong"), ("degrades: share before", "degrades_share_before"),
        ("degrades: calls to halve share", "calls_to_halve_degrades"),
        ("liar share, first third", "liar_share_first_third"), ("liar share, last third", "liar_share_last_third"),
        ("recovers share, last third", "recovers_share_last_third"), ("proposals", "proposals"),
        ("promotions", "promotions"), ("canaries rolled back", "rollbacks"),
        ("first promotion at call", "first_promotion_at"), ("wall time (s)", "seconds"),
    ]
    header = f"{'':<34}{'EWMA alone':>14}{'EWMA + loop':>14}"
    print(header)
    print("-" * len(header))
    for label, key in rows:
        print(f"{label:<34}{_cell(ewma[key]):>14}{_cell(loop[key]):>14}")
    print("-" * len(header))
    after = inject["injected_rolled_back_after"]
    print(f"{'injected bad policies rolled back after (calls)':<48}{'never':>14}{', '.join(map(_cell, after)):>14}")
    halved = loop["calls_to_halve_degrades"]
    rolled_back = bool(after) and all(a is not None and a <= 200 for a in after)
    print(f"\ntargets: degrading node's share halved within 100 calls -> {_met(halved is not None and halved <= 100)}; "
          f"injected bad policy rolled back within 200 -> {_met(rolled_back)}; "
          f"regret lower than EWMA alone -> {_met(loop['regret'] < ewma['regret'])}; "
          f"thumbs-down moves traffic off the liar -> "
          f"{_met(loop['liar_share_last_third'] < ewma['liar_share_last_third'] / 2)}")


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.calls < 300:
        print("bench/feedback.py: --calls must be at least 300", file=sys.stderr)
        sys.exit(2)
    result = asyncio.run(main_async(args.calls, args.seed))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
