"""Model nodes: the OpenAI-compatible endpoint a Node serves, registration with a coordinator (the gateway),
heartbeats, lapse and rejoin, and a completion routed through the gateway to a Node running the real model."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import uvicorn

from openautoglm import AutoGLM, ScriptedModel, Settings
from openautoglm.config import RouterSettings
from openautoglm.models.base import ChatRequest
from openautoglm.models.factory import model_for_node
from openautoglm.models.pool import Router
from openautoglm.node import Node
from openautoglm.server.app import create_app
from openautoglm.server.keys import KeyRing
from openautoglm.testing import closed_port_url


class LiveServer:
    """uvicorn serving ``app`` on a free loopback port in a background thread."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                                    access_log=False, lifespan="on", loop="asyncio"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the coordinator did not start"
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Coordinator:
    """The real gateway app over an empty pool, on loopback, with an operator key for nodes and callers."""

    def __init__(self, url: str, pool: Router, key: str, viewer_key: str) -> None:
        self.url, self.pool, self.key, self.viewer_key = url, pool, key, viewer_key
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def nodes(self) -> dict[str, dict[str, Any]]:
        return {row["name"]: row for row in self.http.get("/v1/nodes").raise_for_status().json()["data"]}

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=self.key, max_retries=0)


@pytest.fixture
def coordinator() -> Iterator[Coordinator]:
    pool = Router(settings=RouterSettings(probe_interval_s=None, node_ttl_s=30.0), node_factory=model_for_node)
    glm = AutoGLM(settings=Settings(enable_caching=False), model=pool)
    key, _ = KeyRing(glm.store).create("operator", "tests", "nodes")
    viewer_key, _ = KeyRing(glm.store).create("viewer", "watcher")
    with LiveServer(create_app(glm, access_log=False, close_glm=True)) as server:
        coordinator = Coordinator(server.url, pool, key, viewer_key)
        yield coordinator
        coordinator.http.close()


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.mark.model
def test_a_node_serving_the_embedded_model_joins_serves_through_the_gateway_and_leaves(
        coordinator: Coordinator) -> None:
    url = coordinator.url
    node = Node(name="local-glm-01")  # the embedded GGUF
    node.register(url, api_key=coordinator.key)
    node.enable_task("text-generation")
    node.start()
    try:
        row = coordinator.nodes()["local-glm-01"]
        assert row["state"] == "ready" and row["source"] == "registered"
        assert row["capabilities"] == ["text-generation"] and row["base_url"] == node.base_url

        gateway = coordinator.openai()
        answer = gateway.chat.completions.create(
            model="local-glm-01", messages=[{"role": "user", "content": "Say hello."}], max_tokens=8)
        assert answer.choices[0].message.content
        assert answer.usage is not None and 0 < answer.usage.completion_tokens <= 8
        pieces = [c.choices[0].delta.content for c in gateway.chat.completions.create(
            model="local-glm-01", messages=[{"role": "user", "content": "Count to three."}], max_tokens=6,
            stream=True) if c.choices and c.choices[0].delta.content]
        assert len(pieces) >= 2  # token by token, not one lump
        assert coordinator.nodes()["local-glm-01"]["calls"] == 2  # both went through the pool's router
        gateway.close()
    finally:
        node.stop()
    assert "local-glm-01" not in coordinator.nodes()
    with coordinator.openai() as gateway, pytest.raises(openai.NotFoundError):
        gateway.chat.completions.create(model="local-glm-01", messages=[{"role": "user", "content": "hi"}],
                                        max_tokens=4)


def test_node_endpoint_speaks_openai(coordinator: Coordinator) -> None:
    node = Node("scripted", model=ScriptedModel(["one two three"]))
    with node:  # serving without a coordinator is fine too
        client = openai.OpenAI(base_url=node.base_url, api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list()] == ["scripted"]
        answer = client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x"}])
        assert answer.choices[0].message.content == "one two three"
        streamed = client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x"}],
                                                  stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "one two three"
        bad = httpx.post(f"{node.base_url}/chat/completions", json={"messages": [{"role": "nobody"}]})
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
        client.close()
    assert not node.running


def test_heartbeats_keep_a_node_in_the_pool_and_a_forgotten_node_registers_again(
        coordinator: Coordinator) -> None:
    url = coordinator.url
    node = Node("beating", model=ScriptedModel(["ok"]), ttl_s=0.6)
    node.register(url, api_key=coordinator.key).enable_task("text-generation").enable_task("planning")
    node.start()
    try:
        time.sleep(1.0)  # longer than the TTL: only heartbeats keep it
        row = coordinator.nodes()["beating"]
        assert row["state"] == "ready"
        assert row["capabilities"] == ["planning", "text-generation"] and row["base_url"] == node.base_url
        seen_by_viewer = httpx.get(f"{url}/v1/nodes", headers={"Authorization": f"Bearer {coordinator.viewer_key}"})
        assert [r["name"] for r in seen_by_viewer.json()["data"]] == ["beating"]
        assert "base_url" not in seen_by_viewer.json()["data"][0]  # where a node listens is for operators

        # The node serves only its coordinator: the token it was given at registration, nobody else.
        first_token = node.node_token
        assert first_token and first_token != coordinator.key
        for credential in (None, coordinator.key, "wrong"):
            headers = {"Authorization": f"Bearer {credential}"} if credential else {}
            for refused in (httpx.get(f"{node.base_url}/models", headers=headers),
                            httpx.post(f"{node.base_url}/chat/completions", headers=headers,
                                       json={"messages": [{"role": "user", "content": "hi"}]})):
                assert refused.status_code == 401
                assert refused.json()["error"]["type"] == "authentication_error"
        assert httpx.get(f"{node.base_url.removesuffix('/v1')}/healthz").status_code == 200
        with openai.OpenAI(base_url=node.base_url, api_key=first_token, max_retries=0) as direct:
            assert [m.id for m in direct.models.list()] == ["beating"]
        with coordinator.openai() as gateway:  # the coordinator calls it with that token
            answer = gateway.chat.completions.create(model="beating", messages=[{"role": "user", "content": "x"}])
            assert answer.choices[0].message.content == "ok"

        coordinator.http.delete("/v1/nodes/beating").raise_for_status()  # the coordinator forgets it
        # The next heartbeat is answered 404, so it registers again (the node counts it once the answer is back).
        wait_for(lambda: "beating" in coordinator.nodes() and node.registrations == 2)
        assert node.registrations == 2
        assert node.node_token != first_token  # forgotten, so a new token; the old one no longer opens the node
        assert httpx.get(f"{node.base_url}/models",
                         headers={"Authorization": f"Bearer {first_token}"}).status_code == 401
        with coordinator.openai() as gateway:
            answer = gateway.chat.completions.create(model="beating", messages=[{"role": "user", "content": "x"}])
            assert answer.choices[0].message.content == "ok"
    finally:
        node.stop()
    assert "beating" not in coordinator.nodes()


def test_a_silent_node_lapses_out_of_routing_and_a_heartbeat_brings_it_back(
        coordinator: Coordinator) -> None:
    node = Node("quiet", model=ScriptedModel(["from quiet"]))
    with node:
        registered = coordinator.http.post("/v1/nodes", json={"name": "quiet", "base_url": node.base_url,
                                                         "ttl_s": 0.3}).raise_for_status().json()
        assert registered["id"] == "quiet" and registered["heartbeat_s"] == pytest.approx(0.1)
        time.sleep(0.5)
        assert coordinator.nodes()["quiet"]["state"] == "lapsed"
        gateway = coordinator.openai()
        with pytest.raises(openai.APIStatusError) as caught:
            gateway.chat.completions.create(model="quiet", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.status_code == 503
        beat = coordinator.http.post("/v1/nodes/quiet/heartbeat").raise_for_status().json()
        assert beat["state"] == "ready"
        answer = gateway.chat.completions.create(model="quiet", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "from quiet"
        assert coordinator.http.post("/v1/nodes/nobody/heartbeat").status_code == 404
        gateway.close()


async def test_a_registered_node_that_refuses_is_retried_on_another(coordinator: Coordinator) -> None:
    url, pool = coordinator.url, coordinator.pool
    with Node("alive", model=ScriptedModel(["alive"])) as alive:
        alive.register(url, api_key=coordinator.key)
        # a node that registered and then died: its port refuses connections
        coordinator.http.post("/v1/nodes", json={"name": "dead", "base_url": closed_port_url()}).raise_for_status()
        answers = {(await pool.complete(ChatRequest.of("x", temperature=0.5))).text for _ in range(4)}
        assert answers == {"alive"}
        assert pool.get("dead").errors >= 1


def test_register_without_a_coordinator_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOGLM_COORDINATOR_URL", raising=False)
    node = Node("lonely", model=ScriptedModel(["x"]))
    with pytest.raises(Exception, match="AUTOGLM_COORDINATOR_URL"):
        node.register()


def test_cli_node_start_errors_are_one_line() -> None:
    done = subprocess.run([sys.executable, "-c", "from openautoglm.cli import main; main()", "node", "start",
                           "--model", "/nonexistent.gguf", "--coordinator", "http://127.0.0.1:9"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip() == "autoglm: error: model file not found: /nonexistent.gguf"
