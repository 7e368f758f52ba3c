"""Router benchmark: our router and LiteLLM's Router over the same fake OpenAI-compatible backends, side by side.

Two fake backends run in their own processes (``python -m openautoglm.testing``), so they do not share
a GIL with the routers under test. For each router we measure, in the same run:

- added latency per call: sequential calls through the router minus sequential direct calls with the ``openai``
  SDK to the same backends (p50 and p99 of the difference of the distributions), in interleaved blocks so drift
  hits both alike;
- calls per second at a fixed concurrency, counting errors (a rate only counts at 0 errors).

    .venv/bin/python bench/router.py [--calls 2000] [--concurrency 32] [--throughput-calls 4000]

Target (issue 5): ours adds under 0.5 ms p50 and sustains more calls per second than LiteLLM's Router.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch from the internet at import
os.environ.setdefault("LITELLM_LOG", "ERROR")

import openai

from openautoglm.config import RouterSettings
from openautoglm.models.base import ChatRequest
from openautoglm.models.openai_compat import OpenAICompatibleModel
from openautoglm.models.pool import Router

Call = Callable[[], Awaitable[Any]]
MESSAGES = [{"role": "user", "content": "Say ok."}]


def start_backend() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-m", "openautoglm.testing", "--mode", "text",
                                "--text", "ok"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("listening "):
        process.kill()
        raise RuntimeError(f"the fake backend did not start: {line!r}")
    return process, line.removeprefix("listening ")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sequential(call: Call, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def throughput(call: Call, total: int, concurrency: int) -> tuple[float, int]:
    errors = 0
    remaining = total

    async def worker() -> None:
        nonlocal errors, remaining
        while remaining > 0:
            remaining -= 1
            try:
                await call()
            except Exception:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started), errors


async def backend_capacity(url: str, total: int = 20000, connections: int = 16) -> float:
    """Requests per second one fake backend answers to a minimal keep-alive client (no SDK): its ceiling."""
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    body = b'{"model":"fake-model","messages":[{"role":"user","content":"Say ok."}]}'
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
               b"content-length: %d\r\n\r\n%s" % (len(body), body))
    remaining = total

    async def connection() -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection(host, int(port))
        while remaining > 0:
            remaining -= 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        writer.close()
        await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return total / (time.perf_counter() - started)


async def router_bookkeeping(count: int = 20000) -> float:
    """Seconds per call our router spends on its own: two nodes that answer at once, no network."""
    from openautoglm.models.base import ChatModel, ChatResponse

    answer = ChatResponse(text="ok", model="null")

    class Instant(ChatModel):
        async def complete(self, request: ChatRequest) -> ChatResponse:
            return answer

    router = Router([Instant()], settings=RouterSettings(probe_interval_s=None))
    router.add(Instant(), name="second")
    request = ChatRequest.of("Say ok.")
    started = time.perf_counter()
    for _ in range(count):
        await router.complete(request)
    return (time.perf_counter() - started) / count


def build_litellm(urls: list[str]) -> Any:
    import litellm
    from litellm import Router as LiteLLMRouter

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    model_list = [{"model_name": "fake", "litellm_params": {"model": "openai/fake-model", "api_base": url,
                                                             "api_key": "not-needed", "max_retries": 0}}
                  for url in urls]
    return LiteLLMRouter(model_list=model_list, num_retries=0, routing_strategy="simple-shuffle")


async def run(args: argparse.Namespace) -> None:
    backends = [start_backend() for _ in range(2)]
    urls = [url for _, url in backends]
    try:
        ours = Router([OpenAICompatibleModel(url, "fake-model", name=f"backend{i}") for i, url in enumerate(urls)],
                      settings=RouterSettings(probe_interval_s=None))
        theirs = build_litellm(urls)
        direct_clients = [openai.AsyncOpenAI(base_url=url, api_key="not-needed", max_retries=0) for url in urls]
        turn = 0

        async def direct() -> Any:
            nonlocal turn
            turn += 1
            return await direct_clients[turn % 2].chat.completions.create(model="fake-model", messages=MESSAGES,
                                                                            max_tokens=16, temperature=0)

        async def through_ours() -> Any:
            response = await ours.complete(ChatRequest(messages=MESSAGES, max_tokens=16))  # type: ignore[arg-type]
            assert response.text == "ok"
            return response

        async def through_litellm() -> Any:
            response = await theirs.acompletion(model="fake", messages=MESSAGES, max_tokens=16, temperature=0)
            assert response.choices[0].message.content == "ok"
            return response

        calls = {"direct": direct, "ours": through_ours, "litellm": through_litellm}
        for call in calls.values():  # warm up: connections, lazy imports, first-call setup
            await sequential(call, 200)
        samples: dict[str, list[float]] = {name: [] for name in calls}
        order = list(calls)
        shuffler = random.Random(5)
        for _ in range(args.calls):  # interleaved call by call, in shuffled order: machine noise hits all alike
            shuffler.shuffle(order)
            for name in order:
                samples[name] += await sequential(calls[name], 1)
        bookkeeping = await router_bookkeeping()
        capacity = await backend_capacity(urls[0])

        rates: dict[str, tuple[float, int]] = {}
        for name, call in calls.items():
            rates[name] = await throughput(call, args.throughput_calls, args.concurrency)

        base50, base99 = percentile(samples["direct"], 0.5), percentile(samples["direct"], 0.99)
        rows = []
        for name, label in (("ours", "Open-AutoGLM Router"), ("litellm", "LiteLLM Router")):
            p50 = percentile(samples[name], 0.5) - base50
            p99 = percentile(samples[name], 0.99) - base99
            rate, errors = rates[name]
            rows.append((label, p50 * 1000, p99 * 1000, rate, errors))

        print(f"\nrouter benchmark: 2 fake backends in their own processes, {len(samples['direct'])} sequential calls "
              f"per router (interleaved), {args.throughput_calls} calls at concurrency {args.concurrency}\n")
        print(f"direct openai SDK (baseline): p50 {base50 * 1000:.3f} ms, p99 {base99 * 1000:.3f} ms, "
              f"{rates['direct'][0]:.0f} calls/s ({rates['direct'][1]} errors)\n")
        header = f"{'router':<22}{'added p50 ms':>14}{'added p99 ms':>14}{'calls/s':>10}{'errors':>8}"
        print(header)
        print("-" * len(header))
        for label, p50, p99, rate, errors in rows:
            print(f"{label:<22}{p50:>14.3f}{p99:>14.3f}{rate:>10.0f}{errors:>8}")
        (_, o50, o99, orate, _), (_, l50, l99, lrate, _) = rows
        print("-" * len(header))
        print(f"{'LiteLLM / ours':<22}{_ratio(l50, o50):>14}{_ratio(l99, o99):>14}{_ratio(lrate, orate):>10}")
        print(f"\ntarget: ours adds < 0.5 ms p50 -> {'met' if o50 < 0.5 else 'NOT met'}; "
              f"ours sustains more calls/s than LiteLLM at 0 errors -> "
              f"{'met' if orate > lrate and rows[0][4] == 0 else 'NOT met'}")
        print(f"our router's own work per call, without I/O (pick, breaker, EWMA, events off): "
              f"{bookkeeping * 1e6:.1f} us")
        print(f"one fake backend's ceiling (raw keep-alive client, 16 connections): {capacity:.0f} requests/s")
        spread = statistics.quantiles(samples["direct"], n=10)
        print(f"(machine noise: direct call p10..p90 {spread[0] * 1000:.3f}..{spread[-1] * 1000:.3f} ms; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        await ours.aclose()
        for client in direct_clients:
            await client.close()
    finally:
        for process, _ in backends:
            process.terminate()
            process.wait(10)


def _ratio(numerator: float, denominator: float) -> str:
    if denominator <= 0:
        return "n/a"
    return f"{numerator / denominator:.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per router, for latency")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--throughput-calls", type=int, default=4000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
