"""Is the gateway's event loop free under load? ``/healthz`` latency idle and while orchestrated chats plan.

``autoglm serve`` (rule planner with the bundled e5 embedder, a fast fake model node, no response cache) gets
``--chats`` distinct orchestrated chats at ``--concurrency``; meanwhile one client asks ``/healthz`` every 20 ms.
The same probe runs against the idle gateway first, side by side in the table. Distinct texts: no cache helps.

    .venv/bin/python bench/healthz_load.py [--chats 300] [--concurrency 50] [--against REF] [--rounds N]

``--against REF`` runs the same load against the gateway as it was at a git ref too (its ``src`` unpacked from
``git archive``), alternating with this tree's, and prints both side by side with the ratio (this tree / REF).

Target (issue 13): ``/healthz`` p99 under 100 ms under full load (the planner's embedding ran on the event loop
before: p99 927 ms, max 14 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from gateway import cpu_seconds, current_src, env_for, free_port, source_at, wait_ready  # bench/gateway.py


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def probe(client: httpx.AsyncClient, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        response = await client.get("/healthz")
        if response.status_code == 200:
            out.append(time.perf_counter() - start)
        await asyncio.sleep(0.02)


async def load(url: str, chats: int, concurrency: int) -> dict[str, float]:
    limits = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        idle: list[float] = []
        stop = asyncio.Event()
        prober = asyncio.create_task(probe(client, stop, idle))
        await asyncio.sleep(3)
        stop.set()
        await prober
        busy: list[float] = []
        stop = asyncio.Event()
        prober = asyncio.create_task(probe(client, stop, busy))
        gate = asyncio.Semaphore(concurrency)
        latencies: list[float] = []
        errors = 0

        async def chat(i: int) -> None:
            nonlocal errors
            async with gate:
                body = {"model": "autoglm", "messages": [{"role": "user", "content": f"计算 {i + 11} 乘以 {i + 7}"}]}
                start = time.perf_counter()
                response = await client.post("/v1/chat/completions", json=body)
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(chat(i) for i in range(chats)))
        elapsed = time.perf_counter() - started
        stop.set()
        await prober
    return {"chats/s": chats / elapsed, "chat p50 ms": statistics.median(latencies) * 1000, "errors": errors,
            "idle healthz p50 ms": pct(idle, 0.5), "idle healthz p99 ms": pct(idle, 0.99),
            "loaded healthz p50 ms": pct(busy, 0.5), "loaded healthz p99 ms": pct(busy, 0.99),
            "loaded healthz max ms": max(busy) * 1000, "healthz probes": len(busy)}


def measure(args: argparse.Namespace, src: Path | None) -> dict[str, float]:
    """One gateway (the package from ``src``; None: this process's own) under the load, its figures."""
    autoglm = str(Path(sys.executable).with_name("autoglm"))
    with tempfile.TemporaryDirectory(prefix="autoglm-bench-") as folder:
        root = Path(folder)
        node_port, port = free_port(), free_port()
        node = subprocess.Popen([sys.executable, "-m", "openautoglm.testing.fake_openai", "--port", str(node_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (root / "autoglm.yaml").write_text(json.dumps({
            "auth": "disabled", "planner": "rules", "enable_caching": False, "tools": ["math"],
            "model_provider": "fake",
            "nodes": [{"name": "fake", "base_url": f"http://127.0.0.1:{node_port}/v1", "model": "fake-model"}],
            "gateway": {"rate_limit_per_minute": 6e6, "rate_limit_burst": 100_000, "max_concurrent_requests": 1024,
                        "max_running_tasks": args.concurrency},
        }), encoding="utf-8")
        gateway = subprocess.Popen([autoglm, "serve", "--port", str(port), "--log-level", "warning"], cwd=root,
                                   env={**env_for(src), "AUTOGLM_HOME": str(root)}, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(f"{url}/healthz", gateway)
            # One chat first: the embedder loads once, outside the measurement.
            httpx.post(f"{url}/v1/chat/completions", timeout=300,
                       json={"model": "autoglm", "messages": [{"role": "user", "content": "计算 2 乘以 3"}]})
            cpu_before = cpu_seconds(gateway.pid)
            figures = asyncio.run(load(url, args.chats, args.concurrency))
            # The gateway's own CPU per chat (its idle probe phase included): the figure least moved by other work.
            figures["gateway CPU ms/chat"] = 1000 * (cpu_seconds(gateway.pid) - cpu_before) / args.chats
        finally:
            gateway.terminate()
            node.terminate()
            gateway.wait(30)
            node.wait(30)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--against", metavar="REF",
                        help="also run the gateway as it was at this git ref (e.g. a commit before a change), "
                             "alternating with this tree's, and print both side by side")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each version (alternating); medians shown")
    args = parser.parse_args()
    versions: dict[str, Path | None] = {"this tree": None}
    with tempfile.TemporaryDirectory(prefix="autoglm-bench-src-") as folder:
        if args.against:
            versions = {args.against: source_at(args.against, Path(folder)), "this tree": current_src()}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in versions}
        for _ in range(args.rounds):
            for name, src in versions.items():
                runs[name].append(measure(args, src))
    print(f"{args.chats} distinct orchestrated chats at concurrency {args.concurrency}, "
          f"median of {args.rounds} run(s) per version, load average {os.getloadavg()[0]:.1f}")
    names = list(runs)
    header = f"{'figure':<24}" + "".join(f"{n[:14]:>16}" for n in names)
    if len(names) == 2:
        header += f"{'ratio':>9}"
    print(header)
    for figure in runs[names[0]][0]:
        values = [statistics.median(r[figure] for r in runs[n]) for n in names]
        line = f"{figure:<24}" + "".join(f"{v:>16.1f}" for v in values)
        if len(names) == 2:
            line += f"{values[1] / values[0]:>8.2f}x" if values[0] else f"{'':>9}"
        print(line)


if __name__ == "__main__":
    main()
