"""Gateway benchmark: our gateway, the backend directly, and LiteLLM's proxy, side by side, in one run.

One fake OpenAI-compatible backend (``python -m openautoglm.testing.fake_openai``) runs in its own process; our
gateway (``autoglm serve`` as configured here: API-key auth, rate limits, metrics, a node pool with that one node,
no response cache) and LiteLLM's proxy each run in their own process in front of it. A load generator in this
process sends the same chat completion to each:

- latency: sequential requests, interleaved round-robin across the targets so drift hits all alike; the added
  latency of a proxy is its p50 (p99) minus the backend's p50 (p99);
- throughput: a fixed number of requests at a fixed concurrency per target, in ``--rounds`` rounds with the targets
  in turn (drift again hits all alike); requests per second counts only when the run had 0 errors; CPU ms/req is
  the process's own CPU time (with its workers) per request in those phases, the figure least disturbed by other
  work on a shared machine (though a slower phase adds more of the process's time-driven background work).

    .venv/bin/python bench/gateway.py [--requests 1000] [--concurrency 32] [--throughput-requests 4000]
        [--litellm PATH]   # the `litellm` executable; default: a venv of its own (see below)
        [--against REF]    # the gateway as it was at a git ref too, as one more row (a before/after in one run)

LiteLLM's proxy extra pins older `rich` and `websockets` than this project uses, so it is installed in a venv of
its own rather than in .venv:  python -m venv ~/.cache/openautoglm-bench/litellm-venv &&
~/.cache/openautoglm-bench/litellm-venv/bin/pip install 'litellm[proxy]'
(Where the registry lacks the ``litellm-proxy`` package that extra names for litellm 1.110, install ``litellm==1.110.2``
with the extra's other requirements listed by hand instead; ``litellm-enterprise==0.1.83`` for its ``.post1``.)

Target (issue 7): under 2 ms added at p50, and more requests per second than LiteLLM's proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

OURS = "openautoglm gateway"
DEFAULT_LITELLM = Path.home() / ".cache" / "openautoglm-bench" / "litellm-venv" / "bin" / "litellm"
PROMPT = [{"role": "user", "content": "Say ok."}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120, headers: dict[str, str] | None = None,
               ) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2, headers=headers).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} was not ready within {timeout:g}s")


# -- another version of the code, for a before/after in one run ----------------------------------------------


def source_at(ref: str, into: Path) -> Path:
    """The package's source as it was at git ``ref`` (``git archive``), unpacked under ``into``: a child process
    run with :func:`env_for` on it imports that version, so one run can put two versions side by side."""
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", ref, "src"], check=True,
                             capture_output=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def env_for(src: Path | None) -> dict[str, str]:
    """The environment of a child that imports the package from ``src`` (None: this process's own)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [env.get("PYTHONPATH")])])
    return env


def copy_keys(source: Path, target: Path) -> None:
    """The API keys of one SQLite database into another (whose version made its own schema: keys look alike)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        columns = "id, key_hash, role, owner, name, created_at, revoked_at"
        rows = src.execute(f"SELECT {columns} FROM api_keys").fetchall()
        dst.executemany(f"INSERT INTO api_keys ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def current_src() -> Path:
    """Where this process imports the package from (the working tree when run with PYTHONPATH=src)."""
    import openautoglm

    return Path(openautoglm.__file__).resolve().parent.parent


# -- the gateway, in its own process ------------------------------------------------------------------------


def serve_gateway(port: int, backend: str, db_url: str) -> None:
    import uvicorn

    from openautoglm.app import AutoGLM
    from openautoglm.config import GatewaySettings, NodeConfig, Settings
    from openautoglm.logs import configure_logging
    from openautoglm.server.app import create_app

    configure_logging("WARNING", json_lines=True)
    settings = Settings(
        database_url=db_url, enable_caching=False, model_provider="fake",
        nodes=[NodeConfig(name="fake", base_url=backend, model="fake-model")],
        gateway=GatewaySettings(rate_limit_per_minute=6e6, rate_limit_burst=100_000,
                                max_concurrent_requests=1024),
    )
    app = create_app(AutoGLM(settings=settings), close_glm=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, log_level="warning")


# -- load ---------------------------------------------------------------------------------------------------


class Target:
    def __init__(self, name: str, url: str, model: str, key: str, pid: int) -> None:
        self.name = name
        self.pid = pid
        self.url = url
        self.body = {"model": model, "messages": PROMPT, "max_tokens": 16}
        self.client = httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30,
                                        limits=httpx.Limits(max_connections=256, max_keepalive_connections=256))
        self.latencies: list[float] = []
        self.errors = 0
        self.first_error: str | None = None

    async def call(self) -> float:
        start = time.perf_counter()
        response = await self.client.post(self.url, json=self.body)
        elapsed = time.perf_counter() - start
        if response.status_code != 200 or not response.json()["choices"][0]["message"]["content"]:
            self.errors += 1
            raise RuntimeError(f"{self.name}: {response.status_code} {response.text[:200]}")
        return elapsed


async def latency(targets: list[Target], n: int, warmup: int = 50) -> None:
    for target in targets:
        for _ in range(warmup):
            await target.call()
    for _ in range(n):
        for target in targets:
            with contextlib.suppress(RuntimeError):  # counted in target.errors
                target.latencies.append(await target.call())


async def throughput(target: Target, total: int, concurrency: int) -> tuple[float, int]:
    errors_before = target.errors
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            try:
                await target.call()
            except RuntimeError as exc:  # call() counted it
                target.first_error = target.first_error or str(exc)
            except httpx.HTTPError as exc:
                target.errors += 1
                target.first_error = target.first_error or f"{target.name}: {type(exc).__name__}: {exc}"

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - start), target.errors - errors_before


def cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and its descendants (Linux /proc), so a proxy's worker processes count."""
    total = 0.0
    todo = [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
        except (OSError, IndexError, ValueError):
            continue
    return total


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- the run ------------------------------------------------------------------------------------------------


def start_litellm(executable: Path, backend: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: fake\n"
        "    litellm_params:\n"
        "      model: openai/fake-model\n"
        f"      api_base: {backend}\n"
        "      api_key: sk-fake\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  drop_params: true\n"
        "general_settings:\n"
        "  master_key: sk-bench-master\n",
        encoding="utf-8",
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR",
           "LITELLM_TELEMETRY": "False", "DISABLE_SCHEMA_UPDATE": "True"}
    env.pop("DATABASE_URL", None)
    return subprocess.Popen([str(executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                             "--num_workers", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def run(args: argparse.Namespace) -> int:
    from openautoglm.server.keys import KeyRing
    from openautoglm.store import Store

    procs: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    try:
        fake_port, gw_port, ll_port = free_port(), free_port(), free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "openautoglm.testing.fake_openai", "--port",
                                       str(fake_port), "--mode", "text", "--text", "ok"],
                                      stdout=subprocess.DEVNULL))
        backend = f"http://127.0.0.1:{fake_port}/v1"
        wait_ready(f"{backend}/models", procs[-1])

        db_url = f"sqlite:///{workdir / 'gateway.db'}"
        store = Store(db_url)
        key, _ = KeyRing(store).create("user", "bench")
        store.close()
        procs.append(subprocess.Popen([sys.executable, __file__, "--serve-gateway", "--port", str(gw_port),
                                       "--backend", backend, "--db", db_url], env=env_for(current_src())))
        wait_ready(f"http://127.0.0.1:{gw_port}/healthz", procs[-1])

        targets = [Target("backend (direct)", f"{backend}/chat/completions", "fake-model", "sk-fake", procs[0].pid),
                   Target(OURS, f"http://127.0.0.1:{gw_port}/v1/chat/completions", "fake", key, procs[1].pid)]
        if args.against:
            # The gateway as it was at another git ref, on its own copy of the database (same key), in its own
            # process: the same requests interleaved with the others', so drift hits both versions alike.
            old_port, old_db = free_port(), f"sqlite:///{workdir / 'gateway-before.db'}"
            old_src = source_at(args.against, workdir / "before")
            procs.append(subprocess.Popen([sys.executable, __file__, "--serve-gateway", "--port", str(old_port),
                                           "--backend", backend, "--db", old_db], env=env_for(old_src)))
            wait_ready(f"http://127.0.0.1:{old_port}/healthz", procs[-1])
            copy_keys(workdir / "gateway.db", workdir / "gateway-before.db")  # its own schema, our key
            targets.append(Target(f"gateway @{args.against}"[:22], f"http://127.0.0.1:{old_port}/v1/chat/completions",
                                  "fake", key, procs[-1].pid))
        litellm_note = ""
        executable = Path(args.litellm)
        if executable.exists():
            proc = start_litellm(executable, backend, ll_port, workdir)
            procs.append(proc)
            try:
                wait_ready(f"http://127.0.0.1:{ll_port}/health/liveliness", proc, timeout=180)
                targets.append(Target("litellm proxy", f"http://127.0.0.1:{ll_port}/v1/chat/completions", "fake",
                                      "sk-bench-master", proc.pid))
            except RuntimeError as exc:
                err = proc.stderr.read().decode(errors="replace")[-800:] if proc.poll() is not None and proc.stderr \
                    else ""
                litellm_note = f"LiteLLM's proxy could not run: {exc}. {err}"
        else:
            litellm_note = f"LiteLLM's proxy is not installed at {executable} (see this file's docstring)"

        print(f"latency: {args.requests} sequential requests per target, interleaved; "
              f"throughput: {args.throughput_requests} requests at concurrency {args.concurrency}", flush=True)
        await latency(targets, args.requests)
        for target in targets:
            await throughput(target, min(200, args.throughput_requests), args.concurrency)  # warm the pools
        # In rounds, each target in turn, so that other work on the machine hits every target alike.
        seconds = dict.fromkeys((t.name for t in targets), 0.0)
        cpu = dict.fromkeys(seconds, 0.0)
        errors = dict.fromkeys(seconds, 0)
        share = max(1, args.throughput_requests // args.rounds)
        for _ in range(args.rounds):
            for target in targets:
                before = cpu_seconds(target.pid)
                rate, failed = await throughput(target, share, args.concurrency)
                # A proxy's own CPU, without the backend's (which every row shares).
                cpu[target.name] += cpu_seconds(target.pid) - before
                seconds[target.name] += share / rate
                errors[target.name] += failed
        done = share * args.rounds
        rates = {name: (done / seconds[name], errors[name]) for name in seconds}
        cpu_ms = {name: 1000 * cpu[name] / done for name in seconds}

        base = targets[0]
        b50, b99 = pct(base.latencies, 0.5), pct(base.latencies, 0.99)
        print()
        print(f"{'target':<22}{'p50 ms':>9}{'p99 ms':>9}{'added p50':>11}{'added p99':>11}{'req/s':>9}{'errors':>8}"
              f"{'CPU ms/req':>12}")
        for target in targets:
            p50, p99 = pct(target.latencies, 0.5), pct(target.latencies, 0.99)
            rps, errors = rates[target.name]
            added50 = "" if target is base else f"{(p50 - b50) * 1000:+.2f}"
            added99 = "" if target is base else f"{(p99 - b99) * 1000:+.2f}"
            shown = f"{rps:.0f}" if errors == 0 else "n/a"
            print(f"{target.name:<22}{p50 * 1000:>9.2f}{p99 * 1000:>9.2f}{added50:>11}{added99:>11}"
                  f"{shown:>9}{errors:>8}{cpu_ms[target.name]:>12.3f}")
        gw = targets[1]
        print()
        for other in targets[2:]:
            ours, theirs = rates[OURS], rates[other.name]
            if ours[1] == 0 and theirs[1] == 0:
                print(f"requests/s, {OURS} / {other.name}: {ours[0] / theirs[0]:.2f}x")
            print(f"added p50, {OURS} vs {other.name}: {(pct(gw.latencies, .5) - b50) * 1000:.2f} ms vs "
                  f"{(pct(other.latencies, .5) - b50) * 1000:.2f} ms; CPU ms/req "
                  f"{cpu_ms[OURS]:.3f} vs {cpu_ms[other.name]:.3f} ({cpu_ms[OURS] / cpu_ms[other.name]:.2f}x)")
        for target in targets:
            if target.first_error:
                print(f"first error, {target.first_error}")
        if litellm_note:
            print("\n" + litellm_note)
        print(f"median of direct latencies: {statistics.median(base.latencies) * 1000:.2f} ms "
              f"(the client's own cost is in every row)")
        for target in targets:
            await target.client.aclose()
        return 0
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--throughput-requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4, help="throughput runs in this many rounds, targets in turn")
    parser.add_argument("--litellm", default=str(DEFAULT_LITELLM))
    parser.add_argument("--against", metavar="REF",
                        help="also run the gateway as it was at this git ref (its src from git archive), side by side")
    parser.add_argument("--serve-gateway", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_gateway:
        serve_gateway(args.port, args.backend, args.db)
        return
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
