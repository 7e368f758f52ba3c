"""Is the gateway's event loop free under load? ``/healthz`` latency idle and while orchestrated chats plan.

``autoglm serve`` (rule planner with the bundled e5 embedder, a fast fake model node, no response cache) gets
``--chats`` distinct orchestrated chats at ``--concurrency``; meanwhile one client asks ``/healthz`` every 20 ms.
The same probe runs against the idle gateway first, side by side in the table. Distinct texts: no cache helps.

    .venv/bin/python bench/healthz_load.py [--chats 300] [--concurrency 50]

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

from gateway import free_port, wait_ready  # bench/gateway.py


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
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
                                   env={**os.environ, "AUTOGLM_HOME": str(root)}, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(f"{url}/healthz", gateway)
            # One chat first: the embedder loads once, outside the measurement.
            httpx.post(f"{url}/v1/chat/completions", timeout=300,
                       json={"model": "autoglm", "messages": [{"role": "user", "content": "计算 2 乘以 3"}]})
            figures = asyncio.run(load(url, args.chats, args.concurrency))
        finally:
            gateway.terminate()
            node.terminate()
            gateway.wait(30)
            node.wait(30)
    print(f"{args.chats} distinct orchestrated chats at concurrency {args.concurrency}")
    print(f"{'figure':<24} {'value':>10}")
    for name, value in figures.items():
        print(f"{name:<24} {value:>10.1f}")


if __name__ == "__main__":
    main()
