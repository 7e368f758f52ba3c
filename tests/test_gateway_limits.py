"""Limits: per-key rate limits under concurrency (in-process and Redis), body size, time, requests in flight."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway_support import bearer, database, gateway, make_glm, new_key, wait_for_status
from openautoglm.models.scripted import ScriptedModel
from openautoglm.server.ratelimit import LocalBuckets
from service_urls import REDIS_URL

LIMIT = 6


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


async def _burst(url: str, headers: dict[str, str], count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30,
                                 limits=httpx.Limits(max_connections=count)) as client:
        return await asyncio.gather(*(client.get("/v1/models", headers=headers) for _ in range(count)))


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_5x_limit_concurrent_requests_admit_at_most_the_limit(db_url: str, backend: str) -> None:
    # A refill of one token an hour: within the test, only the burst can be admitted.
    glm = make_glm(db_url, redis_url=REDIS_URL if backend == "redis" else None,
                   rate_limit_per_minute=1 / 60, rate_limit_burst=LIMIT)
    with gateway(glm) as server:
        first, second = bearer(new_key(glm, "viewer")), bearer(new_key(glm, "viewer"))
        responses = await _burst(server.url, first, 5 * LIMIT)
        codes = [r.status_code for r in responses]
        assert codes.count(200) == LIMIT and codes.count(429) == 4 * LIMIT, codes
        refused = next(r for r in responses if r.status_code == 429)
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["type"] == "rate_limit_exceeded"
        # The limit is per key: another key still has its whole burst.
        other = [r.status_code for r in await _burst(server.url, second, LIMIT)]
        assert other == [200] * LIMIT


async def test_buckets_refill_at_their_rate() -> None:
    now = [0.0]
    buckets = LocalBuckets(rate_per_s=2.0, burst=2, clock=lambda: now[0])
    assert [await buckets.take("k") for _ in range(3)] == [0.0, 0.0, 0.5]
    now[0] += 0.5
    assert await buckets.take("k") == 0.0
    assert await buckets.take("k") == pytest.approx(0.5)
    assert await buckets.take("other") == 0.0


def test_oversized_bodies_get_413_even_without_a_content_length(db_url: str) -> None:
    glm = make_glm(db_url, max_body_bytes=4096)
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        headers = {**bearer(new_key(glm, "user")), "Content-Type": "application/json"}
        big = b'{"model": "autoglm", "messages": [{"role": "user", "content": "' + b"x" * 10_000 + b'"}]}'
        declared = http.post("/v1/chat/completions", content=big, headers=headers)
        assert declared.status_code == 413 and declared.json()["error"]["type"] == "request_too_large"

        def chunks() -> Iterator[bytes]:  # chunked transfer: no Content-Length to trust or check
            for i in range(0, len(big), 1000):
                yield big[i:i + 1000]

        streamed = http.post("/v1/chat/completions", content=chunks(), headers=headers)
        assert streamed.status_code == 413
        small = http.post("/v1/chat/completions", headers=headers,
                          json={"model": "autoglm", "messages": [{"role": "user", "content": "say hello"}]})
        assert small.status_code == 200


def test_slow_requests_time_out_with_504_and_excess_requests_get_503(db_url: str) -> None:
    glm = make_glm(db_url, ScriptedModel(["late"], name="slow", delay_s=3.0), request_timeout_s=0.5,
                   max_concurrent_requests=1)
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        headers = bearer(new_key(glm, "user"))
        body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}]}
        results: list[httpx.Response] = []
        slow = threading.Thread(target=lambda: results.append(http.post("/v1/chat/completions", json=body,
                                                                        headers=headers)))
        slow.start()
        busy = None
        for _ in range(40):  # until the first request is in flight
            busy = http.get("/healthz")
            if busy.status_code == 503:
                break
        slow.join()
        assert busy is not None and busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert results[0].status_code == 504 and results[0].json()["error"]["type"] == "timeout"
        assert http.get("/healthz").status_code == 200


def test_a_chat_that_times_out_still_finishes_as_a_task(db_url: str) -> None:
    glm = make_glm(db_url, ScriptedModel(["worth the wait"], delay_s=1.0), request_timeout_s=0.3)
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        headers = bearer(new_key(glm, "user", "patient"))
        late = http.post("/v1/chat/completions", headers=headers,
                         json={"model": "autoglm", "messages": [{"role": "user", "content": "take your time"}]})
        assert late.status_code == 504
        tasks = http.get("/v1/tasks", headers=headers).json()["data"]
        assert len(tasks) == 1
        assert wait_for_status(http, tasks[0]["id"], headers)["answer"].endswith("worth the wait")


def test_failed_authentication_is_rate_limited_by_address(db_url: str) -> None:
    glm = make_glm(db_url, rate_limit_per_minute=1 / 60, rate_limit_burst=LIMIT)
    with gateway(glm) as server, httpx.Client(base_url=server.url) as http:
        codes = [http.get("/v1/models", headers=bearer(f"agk_{i:012d}_guess")).status_code for i in range(LIMIT + 3)]
        assert codes == [401] * LIMIT + [429] * 3
