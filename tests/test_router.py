"""The router against fake OpenAI-compatible servers on loopback: faults, fallback, breaker, balancing, cache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from openautoglm import AutoGLM, Settings
from openautoglm.config import NodeConfig, RouteConfig, RouterSettings
from openautoglm.errors import ModelResponseError, ModelUnavailable, NoNodeAvailable, NotFound
from openautoglm.events import EventKind
from openautoglm.models.base import ChatModel, ChatRequest, ChatResponse, reporting_model_events
from openautoglm.models.factory import model_for_node
from openautoglm.models.openai_compat import OpenAICompatibleModel
from openautoglm.models.pool import OPEN, PoolNode, Router
from openautoglm.models.pool.cache import RedisCache, SQLiteCache, cache_key
from openautoglm.testing import FakeOpenAI, closed_port_url
from service_urls import REDIS_URL


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Trace:
    """Collects what a routed call reports, as ``ToolContext.emit`` would."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, **data: Any) -> None:
        self.events.append((str(kind), data))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [d for k, d in self.events if k == kind]


@pytest.fixture
def fakes() -> Iterator[Callable[..., FakeOpenAI]]:
    started: list[FakeOpenAI] = []

    def make(mode: Any = "echo", **options: Any) -> FakeOpenAI:
        fake = FakeOpenAI(mode, **options).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


def client(url: str, name: str, timeout_s: float = 5.0) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(url, "fake", name=name, timeout_s=timeout_s)


def settings(**options: Any) -> RouterSettings:
    return RouterSettings(probe_interval_s=None, **options)


@pytest.fixture
async def routers() -> AsyncIterator[list[Router]]:
    made: list[Router] = []
    yield made
    for router in made:
        await router.aclose()


async def routed(router: Router, request: ChatRequest, trace: Trace) -> ChatResponse:
    with reporting_model_events(trace):
        return await router.complete(request)


# -- each fault ends in a fallback that succeeds, with the attempts in the trace ----------------------------------


@pytest.mark.parametrize("fault", ["refuse", "stall", "error", "malformed"])
async def test_each_fault_falls_back_to_a_node_that_answers(fault: str, fakes: Any, routers: list[Router]) -> None:
    good = fakes("echo")
    if fault == "refuse":
        bad_url, bad = closed_port_url(), None
    else:
        bad = fakes(fault, status=500)
        bad_url = bad.base_url
    router = Router(settings=settings(default=RouteConfig(retries=0, fallbacks=["backup"])))
    routers.append(router)
    router.add(client(bad_url, "primary", timeout_s=0.3))
    router.add(client(good.base_url, "backup"), capabilities=["backup"])
    trace = Trace()

    answer = await routed(router, ChatRequest.of("hello there"), trace)

    assert answer.text == "hello there"
    assert answer.node == "backup"
    attempts = trace.of(EventKind.MODEL_ATTEMPT)
    assert [(a["node"], a["outcome"]) for a in attempts] == [("primary", "error"), ("backup", "ok")]
    assert attempts[0]["retryable"] is True
    assert trace.of(EventKind.FALLBACK) == [{"from": "text-generation", "to": "backup",
                                             "reason": f"primary: {attempts[0]['error']}"}]
    if bad is not None:
        assert bad.requests == 1
    assert good.requests == 1


async def test_a_retry_goes_to_another_node_of_the_same_capability(fakes: Any, routers: list[Router]) -> None:
    bad, good = fakes("error", status=503), fakes("text", text="fine")
    router = Router([client(bad.base_url, "a"), client(good.base_url, "b")], settings=settings())
    routers.append(router)
    trace = Trace()
    for _ in range(4):
        assert (await routed(router, ChatRequest.of("x", temperature=0.5), trace)).text == "fine"
    # every call succeeded; whenever "a" was tried first, the retry went to "b" and no fallback was needed
    assert bad.requests >= 1
    assert good.requests == 4
    assert not trace.of(EventKind.FALLBACK)
    assert all(a["outcome"] == "ok" for a in trace.of(EventKind.MODEL_ATTEMPT) if a["node"] == "b")


async def test_when_everything_fails_the_error_is_clear_and_upstream_calls_are_bounded(
        fakes: Any, routers: list[Router]) -> None:
    bads = [fakes("error", status=500) for _ in range(4)]
    route = RouteConfig(retries=1, fallbacks=["second"])
    router = Router(settings=settings(default=route))
    routers.append(router)
    router.add(client(bads[0].base_url, "a1"))
    router.add(client(bads[1].base_url, "a2"))
    router.add(client(bads[2].base_url, "a3"))
    router.add(client(bads[3].base_url, "b1"), capabilities=["second"])
    trace = Trace()

    with pytest.raises(ModelUnavailable) as caught:
        await routed(router, ChatRequest.of("x"), trace)

    upstream = sum(b.requests for b in bads)
    # (1 + retries) on the first capability (2 of its 3 nodes), then (1 + retries) on the fallback (it has one)
    assert upstream == 3 <= (1 + route.retries) * (1 + len(route.fallbacks))
    assert "all 3 attempts for 'text-generation' failed" in str(caught.value)
    assert "answered 500" in str(caught.value)
    assert caught.value.retryable is False  # the executor must not retry what the router already retried
    assert len(trace.of(EventKind.MODEL_ATTEMPT)) == 3


async def test_non_retryable_errors_are_not_retried(fakes: Any, routers: list[Router]) -> None:
    refusing, other = fakes("error", status=400), fakes("echo")
    router = Router(settings=settings(default=RouteConfig(retries=3, fallbacks=["backup"])))
    routers.append(router)
    router.add(client(refusing.base_url, "strict"))
    router.add(client(other.base_url, "backup"), capabilities=["backup"])
    trace = Trace()
    with pytest.raises(ModelResponseError, match="400"):
        await routed(router, ChatRequest.of("x"), trace)
    assert refusing.requests == 1
    assert other.requests == 0
    assert trace.of(EventKind.MODEL_ATTEMPT)[0]["retryable"] is False
    # a bad request is not the node's fault: its breaker does not count it
    assert router.get("strict").breaker.failures == 0


async def test_no_node_for_a_capability_is_a_clear_error(routers: list[Router]) -> None:
    router = Router(settings=settings())
    routers.append(router)
    with pytest.raises(NoNodeAvailable, match="none has that capability"):
        await router.complete(ChatRequest.of("x"))


# -- the circuit breaker ------------------------------------------------------------------------------------------


async def test_an_open_breaker_keeps_calls_off_the_dead_node_until_a_half_open_probe(
        fakes: Any, routers: list[Router]) -> None:
    dead, alive = fakes("error", status=500), fakes("echo")
    clock = Clock()
    router = Router(settings=settings(breaker_failures=3, breaker_cooldown_s=30.0, default=RouteConfig(retries=1)),
                    clock=clock)
    routers.append(router)
    router.add(client(dead.base_url, "dead"), weight=100.0)  # preferred: the breaker, not the weight, must stop it
    router.add(client(alive.base_url, "alive"))

    while router.get("dead").breaker.state != OPEN:
        assert (await router.complete(ChatRequest.of("hi"))).node == "alive"
    assert dead.requests == 3
    dead.reset_counts()

    for _ in range(50):  # the cooldown, on the router's clock
        assert (await router.complete(ChatRequest.of("hi"))).node == "alive"
        clock.now += 0.5
    assert dead.requests == 0
    assert router.get("dead").describe(clock())["state"] == "down"

    clock.now += 10  # past the cooldown: one call is let through as the probe
    dead.set(mode="echo")
    for _ in range(5):
        await router.complete(ChatRequest.of("hi"))
    assert dead.requests >= 1
    assert router.get("dead").breaker.state == "closed"


async def test_a_failed_half_open_probe_reopens_the_breaker(fakes: Any, routers: list[Router]) -> None:
    dead, alive = fakes("error", status=500), fakes("echo")
    clock = Clock()
    router = Router([client(dead.base_url, "dead"), client(alive.base_url, "alive")], clock=clock,
                    settings=settings(breaker_failures=1, breaker_cooldown_s=5.0))
    routers.append(router)
    router.get("dead").weight = router.get("dead").effective = 1e9
    await router.complete(ChatRequest.of("hi"))
    assert router.get("dead").breaker.state == OPEN
    clock.now += 6
    dead.reset_counts()
    answers = await asyncio.gather(*(router.complete(ChatRequest.of("hi")) for _ in range(10)))
    assert all(a.node == "alive" for a in answers)
    assert dead.requests == 1  # exactly one probe, even with ten calls at once
    assert router.get("dead").breaker.state == OPEN


async def test_active_probes_count_against_a_node(fakes: Any, routers: list[Router]) -> None:
    alive = fakes("echo")
    router = Router([client(closed_port_url(), "gone"), client(alive.base_url, "alive")],
                    settings=settings(breaker_failures=2))
    routers.append(router)
    assert await router.probe_all() == {"gone": False, "alive": True}
    await router.probe_all()
    assert router.get("gone").breaker.state == OPEN
    assert alive.other_requests == 2  # GET /v1/models
    assert alive.requests == 0


# -- balancing ------------------------------------------------------------------------------------------------------


async def test_traffic_shifts_toward_the_faster_node(fakes: Any, routers: list[Router]) -> None:
    fast, slow = fakes("echo", latency_s=0.002), fakes("echo", latency_s=0.05)
    router = Router([client(fast.base_url, "fast"), client(slow.base_url, "slow")], settings=settings())
    routers.append(router)

    async def calls(count: int) -> tuple[int, int]:
        fast.reset_counts()
        slow.reset_counts()

        async def worker() -> None:
            for _ in range(count // 5):
                await router.complete(ChatRequest.of("hi"))

        await asyncio.gather(*(worker() for _ in range(5)))  # 5 at a time
        return fast.requests, slow.requests

    first = await calls(50)
    await calls(100)
    last = await calls(150)
    assert sum(first) == 50 and sum(last) == 150
    assert last[0] / 150 > first[0] / 50  # the share moved toward the fast node...
    assert last[0] > 2 * last[1]  # ...which ends up with most of the traffic
    assert last[1] >= 5  # while the slow node is still measured, not starved
    described = {row["name"]: row for row in router.describe()}
    assert described["fast"]["ewma_latency_ms"] < described["slow"]["ewma_latency_ms"]
    assert described["fast"]["effective_weight"] > described["slow"]["effective_weight"]


async def test_errors_lower_a_nodes_share(fakes: Any, routers: list[Router]) -> None:
    flaky, steady = fakes("echo"), fakes("echo")
    router = Router([client(flaky.base_url, "flaky"), client(steady.base_url, "steady")],
                    settings=settings(breaker_failures=1000))
    routers.append(router)
    flaky.set(mode="error", status=503)
    for _ in range(40):
        await router.complete(ChatRequest.of("hi"))
    flaky.set(mode="echo")
    flaky.reset_counts()
    steady.reset_counts()
    for _ in range(40):
        await router.complete(ChatRequest.of("hi"))
    assert steady.requests > flaky.requests


async def test_least_in_flight_spreads_concurrent_calls(fakes: Any, routers: list[Router]) -> None:
    servers = [fakes("echo", latency_s=0.05) for _ in range(3)]
    router = Router([client(s.base_url, f"n{i}") for i, s in enumerate(servers)],
                    settings=settings(default=RouteConfig(strategy="least_inflight")))
    routers.append(router)
    await asyncio.gather(*(router.complete(ChatRequest.of("hi")) for _ in range(9)))
    assert [s.requests for s in servers] == [3, 3, 3]


async def test_consistent_hashing_keeps_a_prompt_prefix_on_one_node(fakes: Any, routers: list[Router]) -> None:
    servers = [fakes("echo") for _ in range(4)]
    router = Router([client(s.base_url, f"n{i}") for i, s in enumerate(servers)],
                    settings=settings(routes={"text-generation": RouteConfig(strategy="hash")}))
    routers.append(router)
    homes: dict[str, set[str]] = {}
    for round_ in range(3):
        for doc in range(20):
            answer = await router.complete(ChatRequest.of(f"document {doc} " + "x" * 300 + f" question {round_}"))
            homes.setdefault(str(doc), set()).add(str(answer.node))
    assert all(len(nodes) == 1 for nodes in homes.values())
    assert len({next(iter(n)) for n in homes.values()}) >= 2  # the keys spread over the ring

    # the home of some prefixes goes down: those move, the rest stay where their caches are
    router.get("n0").breaker.state = OPEN
    router.get("n0").breaker.opened_at = router.clock()
    moved = 0
    for doc, nodes in homes.items():
        answer = await router.complete(ChatRequest.of(f"document {doc} " + "x" * 300 + " again"))
        if nodes == {"n0"}:
            assert answer.node != "n0"
            moved += 1
        else:
            assert {answer.node} == nodes
    assert moved < len(homes)


async def test_cost_aware_routing_prefers_the_cheapest_healthy_node(fakes: Any, routers: list[Router]) -> None:
    cheap, dear = fakes("echo"), fakes("echo")
    router = Router(settings=settings(default=RouteConfig(strategy="cost")))
    routers.append(router)
    router.add(client(dear.base_url, "dear"), cost=3.0)
    router.add(client(cheap.base_url, "cheap"), cost=0.5)
    for _ in range(5):
        assert (await router.complete(ChatRequest.of("hi"))).node == "cheap"
    cheap.set(mode="error", status=500)
    assert (await router.complete(ChatRequest.of("hi"))).node == "dear"


class Gate(ChatModel):
    """A node whose calls wait on an event: shows how many run at once."""

    def __init__(self) -> None:
        self.name = "gate"
        self.running = 0
        self.peak = 0
        self.release = asyncio.Event()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.running += 1
        self.peak = max(self.peak, self.running)
        await self.release.wait()
        self.running -= 1
        return ChatResponse(text="done", model="gate")


async def test_a_node_at_its_concurrency_limit_makes_callers_wait(routers: list[Router]) -> None:
    gate = Gate()
    router = Router(settings=settings())
    routers.append(router)
    node = router.add(gate)
    node.limit = 2.0
    calls = [asyncio.create_task(router.complete(ChatRequest.of("hi"))) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert gate.running == 2
    assert router.describe()[0]["state"] == "saturated"
    gate.release.set()
    answers = await asyncio.gather(*calls)
    assert [a.text for a in answers] == ["done"] * 5
    assert gate.peak <= 3  # the limit may grow by a fraction as calls succeed, never jump


def test_adaptive_concurrency_grows_while_latency_holds_and_shrinks_when_it_climbs() -> None:
    node = PoolNode(ChatModel(), name="n")
    start = node.limit
    for _ in range(50):
        node.succeeded(0.010)
    grown = node.limit
    assert grown > start
    for _ in range(10):
        node.succeeded(0.100)  # ten times the baseline
    assert node.limit < grown
    shrunk = node.limit
    node.failed(0.0)
    assert node.limit == pytest.approx(shrunk / 2)


# -- membership: registration, heartbeats, lapse and rejoin ----------------------------------------------------------


async def test_a_node_whose_heartbeat_lapses_leaves_the_pool_and_rejoins(fakes: Any, routers: list[Router]) -> None:
    remote, local = fakes("text", text="remote"), fakes("text", text="local")
    clock = Clock()
    router = Router([client(local.base_url, "local")], clock=clock, settings=settings(node_ttl_s=10.0),
                    node_factory=model_for_node)
    routers.append(router)
    router.register(NodeConfig(name="remote", base_url=remote.base_url, capabilities=["planning"]))
    assert (await router.complete(ChatRequest.of("x", capability="planning"))).text == "remote"

    clock.now += 11  # no heartbeat
    assert router.get("remote").describe(clock())["state"] == "lapsed"
    trace = Trace()
    answer = await routed(router, ChatRequest.of("x", capability="planning"), trace)
    assert answer.text == "local"  # "planning" has no live node: falls to text-generation, in the trace
    assert trace.of(EventKind.FALLBACK)[0]["to"] == "text-generation"
    remote.reset_counts()

    router.heartbeat("remote")
    assert (await router.complete(ChatRequest.of("x", capability="planning"))).text == "remote"
    assert remote.requests == 1

    clock.now += 200  # long gone: forgotten, and a heartbeat says to register again
    await router.probe_all()
    with pytest.raises(NotFound, match="register it again"):
        router.heartbeat("remote")


# -- streaming -------------------------------------------------------------------------------------------------------


async def collect(router: Router, request: ChatRequest, trace: Trace) -> list[str]:
    with reporting_model_events(trace):
        return [piece async for piece in router.stream(request)]


async def test_streams_pass_through_piece_by_piece(fakes: Any, routers: list[Router]) -> None:
    fake = fakes("echo")
    router = Router([client(fake.base_url, "s")], settings=settings())
    routers.append(router)
    trace = Trace()
    assert await collect(router, ChatRequest.of("one two three four"), trace) == ["one", " two", " three", " four"]
    assert trace.of(EventKind.MODEL_ATTEMPT)[0] | {"latency_ms": 0} == {
        "node": "s", "target": "text-generation", "attempt": 1, "outcome": "ok", "latency_ms": 0, "chunks": 4,
        "stream": True}


async def test_a_stream_cut_midway_is_reported_as_broken_not_as_success(fakes: Any, routers: list[Router]) -> None:
    cutting, good = fakes("cut_stream", cut_after=2), fakes("echo")
    router = Router(settings=settings(default=RouteConfig(retries=2, fallbacks=["backup"])))
    routers.append(router)
    router.add(client(cutting.base_url, "cutter"))
    router.add(client(good.base_url, "backup"), capabilities=["backup"])
    trace = Trace()
    received: list[str] = []
    with pytest.raises(ModelUnavailable, match="stream broke") as caught, reporting_model_events(trace):
        async for piece in router.stream(ChatRequest.of("a b c d e f")):
            received.append(piece)
    assert received and "".join(received) != "a b c d e f"
    assert caught.value.retryable is False
    assert good.requests == 0  # pieces were already out: no fallback stitched onto them
    attempt = trace.of(EventKind.MODEL_ATTEMPT)[-1]
    assert attempt["outcome"] == "error" and attempt["chunks"] == len(received)
    assert router.get("cutter").breaker.failures == 1


async def test_a_stream_that_fails_before_its_first_piece_falls_back(fakes: Any, routers: list[Router]) -> None:
    cutting, good = fakes("cut_stream", cut_after=0), fakes("echo")
    router = Router(settings=settings(default=RouteConfig(retries=0, fallbacks=["backup"])))
    routers.append(router)
    router.add(client(cutting.base_url, "cutter"))
    router.add(client(good.base_url, "backup"), capabilities=["backup"])
    trace = Trace()
    assert "".join(await collect(router, ChatRequest.of("a b c"), trace)) == "a b c"
    assert [a["outcome"] for a in trace.of(EventKind.MODEL_ATTEMPT)] == ["error", "ok"]
    assert trace.of(EventKind.FALLBACK)[0]["to"] == "backup"


# -- the response cache ------------------------------------------------------------------------------------------------


async def test_sqlite_cache_answers_repeats_without_calling_a_node(fakes: Any, routers: list[Router],
                                                                    tmp_path: Any) -> None:
    fake = fakes("echo")
    router = Router([client(fake.base_url, "n")], settings=settings(),
                    cache=SQLiteCache(tmp_path / "cache.db"))
    routers.append(router)
    trace = Trace()
    first = await routed(router, ChatRequest.of("same question"), trace)
    again = await routed(router, ChatRequest.of("  same question\r\n"), trace)  # normalized to the same key
    assert again == first
    assert fake.requests == 1
    assert trace.of(EventKind.CACHE_HIT)[0]["cache"] == "sqlite"
    # sampling without a seed is never served from the cache; with a seed it is
    await router.complete(ChatRequest.of("same question", temperature=0.8))
    await router.complete(ChatRequest.of("same question", temperature=0.8))
    assert fake.requests == 3
    await router.complete(ChatRequest.of("same question", temperature=0.8, seed=7))
    await router.complete(ChatRequest.of("same question", temperature=0.8, seed=7))
    assert fake.requests == 4
    # a fresh process (a new cache object on the same file) still has it
    reopened = SQLiteCache(tmp_path / "cache.db")
    assert await reopened.get(cache_key(ChatRequest.of("same question"))) == first
    await reopened.aclose()


async def test_sampled_calls_are_cached_only_when_asked(fakes: Any, routers: list[Router], tmp_path: Any) -> None:
    fake = fakes("echo")
    router = Router([client(fake.base_url, "n")], settings=settings(cache_nondeterministic=True),
                    cache=SQLiteCache(tmp_path / "cache.db"))
    routers.append(router)
    for _ in range(3):
        await router.complete(ChatRequest.of("q", temperature=1.0))
    assert fake.requests == 1


async def test_redis_cache_against_the_real_redis(fakes: Any, routers: list[Router]) -> None:
    import uuid

    fake = fakes("echo")
    cache = RedisCache(REDIS_URL, ttl_s=60, prefix=f"autoglm:test:{uuid.uuid4().hex}:")
    router = Router([client(fake.base_url, "n")], settings=settings(), cache=cache)
    routers.append(router)
    trace = Trace()
    prompt = f"redis question {uuid.uuid4().hex}"
    first = await routed(router, ChatRequest.of(prompt), trace)
    pieces = await collect(router, ChatRequest.of(prompt), trace)
    assert pieces == [first.text]
    assert fake.requests == 1
    assert [e["cache"] for e in trace.of(EventKind.CACHE_HIT)] == ["redis"]
    stored = await cache._redis().get(cache.prefix + cache_key(ChatRequest.of(prompt)))
    assert ChatResponse.model_validate_json(stored).text == prompt
    assert 0 < await cache._redis().ttl(cache.prefix + cache_key(ChatRequest.of(prompt))) <= 60


# -- the app: configured nodes make the app's model a router; attempts land in the task trace ----------------------


async def test_configured_nodes_route_llm_steps_and_trace_every_attempt(fakes: Any) -> None:
    good = fakes("text", text="routed answer")
    app_settings = Settings(
        enable_caching=False, retries=3,
        nodes=[NodeConfig(name="broken", base_url=closed_port_url(), model="m"),
               NodeConfig(name="spare", base_url=good.base_url, model="m", capabilities=["spare"])],
        router=RouterSettings(probe_interval_s=None, default=RouteConfig(retries=0, fallbacks=["spare"])),
    )
    async with AutoGLM(settings=app_settings) as glm:
        assert isinstance(glm.model, Router)
        result = await glm.execute({"steps": [{"id": "w", "uses": "llm.generate", "with": {"prompt": "hi"}}]})
        assert result.status == "succeeded", result.answer
        assert result.steps[0].output == "routed answer"
        assert result.steps[0].node == "spare"
        events = glm.trace(result.task_id)
        attempts = [e for e in events if e.kind == EventKind.MODEL_ATTEMPT]
        assert [(e.step_id, e.data["node"], e.data["outcome"]) for e in attempts] == [
            ("w", "broken", "error"), ("w", "spare", "ok")]
        assert [e.data["to"] for e in events if e.kind == EventKind.FALLBACK] == ["spare"]
        rows = {row["name"]: row for row in glm.describe_models()}
        assert rows["broken"]["consecutive_failures"] == 1
        assert rows["spare"]["state"] == "ready" and rows["spare"]["ewma_latency_ms"] > 0

        # when every node fails the step fails once: the executor does not multiply the router's attempts
        good.set(mode="error", status=500)
        failed = await glm.execute({"steps": [{"id": "w", "uses": "llm.generate", "with": {"prompt": "again"}}]})
        assert failed.steps[0].status == "failed"
        assert failed.steps[0].attempts == 1
        assert "all 2 attempts" in (failed.steps[0].error or "")


async def test_the_app_caches_routed_calls_in_its_data_dir(fakes: Any) -> None:
    fake = fakes("echo")
    app_settings = Settings(nodes=[NodeConfig(name="n", base_url=fake.base_url, model="m")],
                            router=RouterSettings(probe_interval_s=None))
    async with AutoGLM(settings=app_settings) as glm:
        for _ in range(2):
            result = await glm.execute({"steps": [{"id": "w", "uses": "llm.generate", "with": {"prompt": "hi"}}]})
            assert result.steps[0].output == "hi"
        assert fake.requests == 1
        assert (app_settings.data_dir / "cache.db").is_file()
        hits = [e for e in glm.trace(result.task_id) if e.kind == EventKind.CACHE_HIT]
        assert hits and hits[0].step_id == "w"


async def test_a_node_asked_for_by_name_is_served_by_that_node_or_fails_clearly(
        fakes: Any, routers: list[Router]) -> None:
    named, other = fakes("text", text="named"), fakes("text", text="other")
    clock = Clock()
    router = Router([client(other.base_url, "other")], clock=clock, settings=settings(node_ttl_s=5.0),
                    node_factory=model_for_node)
    routers.append(router)
    router.register(NodeConfig(name="named", base_url=named.base_url))
    pinned = router.node("named")
    for _ in range(3):
        assert (await pinned.complete(ChatRequest.of("x"))).text == "named"
    assert "".join([p async for p in pinned.stream(ChatRequest.of("x"))]) == "named"
    clock.now += 6
    with pytest.raises(NoNodeAvailable, match="heartbeat lapsed"):
        await pinned.complete(ChatRequest.of("x"))
    assert other.requests == 0


# -- breaker trips shared through Redis (models/pool/health.py) ---------------------------------------------------


async def test_a_trip_in_one_router_is_honoured_by_another_through_redis_until_a_success_clears_it(
        fakes: Any, routers: list[Router]) -> None:
    import uuid

    from openautoglm.models.pool.health import RedisHealth

    dead = fakes("error", status=503)
    prefix = f"autoglm:test:{uuid.uuid4().hex}:"

    def make() -> Router:
        router = Router([client(dead.base_url, "n")], settings=settings(breaker_failures=3, breaker_cooldown_s=60),
                        health=RedisHealth(REDIS_URL, prefix, refresh_s=0.0))
        routers.append(router)
        return router

    first, second = make(), make()
    for router in (first, second, first):  # the count is shared: the third failure trips it, wherever it was
        with pytest.raises(ModelUnavailable):
            await router.complete(ChatRequest.of("q"))
    assert dead.requests == 3 and first.get("n").breaker.state == OPEN
    third = make()  # a process that never called it (a CLI run)
    for router in (second, third):
        with pytest.raises(NoNodeAvailable):
            await router.complete(ChatRequest.of("q"))
    assert dead.requests == 3

    # The cooldown runs out (its key expires); a success anywhere then clears the shared count.
    import redis.asyncio as aioredis

    check = aioredis.from_url(REDIS_URL)
    await check.delete(prefix + "node:n:cooldown")
    assert await check.exists(prefix + "node:n:failures") == 1
    dead.set(mode="text", text="back")
    assert (await make().complete(ChatRequest.of("q"))).text == "back"
    assert await check.exists(prefix + "node:n:failures") == 0
    await check.aclose()


async def test_without_redis_each_router_keeps_its_own_breaker(fakes: Any, routers: list[Router]) -> None:
    dead = fakes("error", status=503)
    first = Router([client(dead.base_url, "n")], settings=settings(breaker_failures=3, breaker_cooldown_s=60))
    second = Router([client(dead.base_url, "n")], settings=settings(breaker_failures=3, breaker_cooldown_s=60))
    routers.extend([first, second])
    for _ in range(3):
        with pytest.raises(ModelUnavailable):
            await first.complete(ChatRequest.of("q"))
    with pytest.raises(ModelUnavailable):
        await second.complete(ChatRequest.of("q"))  # it never heard of the trip
    assert dead.requests == 4
