"""``/v1/policies`` over real gateways on loopback: two replicas on one PostgreSQL store apply each other's changes
(a rollback through one reaches the other within its poll), roles, bad input, node heartbeats' load, and
feedback joined to the policy version that routed the answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_support import bearer, database, gateway, make_glm, new_key, wait_for_status
from openautoglm.models.scripted import ScriptedModel

POLL_S = 0.2


def _applied(http: httpx.Client, headers: dict[str, str]) -> Any:
    return http.get("/v1/policies", headers=headers).json()["applied"]


def _wait_applied(http: httpx.Client, headers: dict[str, str], version: int | None, timeout: float = 5) -> float:
    """Seconds until the gateway behind ``http`` routes by ``version``."""
    start = time.monotonic()
    while _applied(http, headers) != version:
        if time.monotonic() - start > timeout:
            raise AssertionError(f"version {version} not applied within {timeout}s")
        time.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    with database("postgresql", tmp_path) as url:
        yield url


@pytest.mark.postgres
def test_two_replicas_on_one_store_apply_a_rollback_promptly(pg_url: str) -> None:
    glms = [make_glm(pg_url, ScriptedModel(["ok"]), options={"policy": {"poll_s": POLL_S}}) for _ in range(2)]
    for glm in glms:
        assert glm.router is not None  # each replica's pool exists, so there is something to apply to
    with ExitStack() as stack:
        servers = [stack.enter_context(gateway(glm)) for glm in glms]
        a, b = (stack.enter_context(httpx.Client(base_url=s.url, timeout=20)) for s in servers)
        ops = bearer(new_key(glms[0], "operator"))
        viewer = bearer(new_key(glms[0], "viewer"))

        made = a.post("/v1/policies", json={"policy": {"routes": {"text-generation": {"weights": {"scripted": 2}}}},
                                           "reason": "first", "activate": True}, headers=ops)
        assert made.status_code == 201 and made.json()["state"]["active"] == 1
        assert _applied(a, viewer) == 1  # at once where it was made
        _wait_applied(b, viewer, 1)
        second = b.post("/v1/policies", json={"policy": {"routes": {"text-generation": {"retries": 0}}},
                                             "activate": True}, headers=ops).json()
        assert second["version"] == 2 and second["parent"] == 1
        _wait_applied(a, viewer, 2)

        rolled = b.post("/v1/policies/rollback", json={"reason": "worse"}, headers=ops)
        assert rolled.status_code == 200 and rolled.json()["state"]["active"] == 1
        assert _applied(b, viewer) == 1
        assert _wait_applied(a, viewer, 1) < 5 * POLL_S  # the other replica, within a few polls

        history = a.get("/v1/policies/history", headers=viewer).json()["data"]
        assert (history[0]["kind"], history[0]["version"], history[0]["reason"]) == ("policy.rolled_back", 2, "worse")
        assert a.get("/v1/policies/2/diff?against=1", headers=viewer).json()["changes"] == [
            "+ routes.text-generation.retries: 0", "- routes.text-generation.weights: {'scripted': 2.0}"]

        # Roles and bad input: viewers read, only operators change; a bad document is a 400, never a 500.
        assert a.post("/v1/policies/rollback", headers=viewer).status_code == 403
        bad = a.post("/v1/policies", json={"policy": {"routes": {"x": {"limits": {"n": 0}}}}}, headers=ops)
        assert bad.status_code == 400 and "within 1..1024" in bad.json()["error"]["message"]
        assert a.post("/v1/policies/9/activate", headers=ops).status_code == 404
        assert a.post("/v1/policies/pin", json={"version": 2}, headers=ops).json()["state"]["pinned"] is True
        _wait_applied(b, viewer, 2)
        conflict = b.post("/v1/policies/rollback", headers=ops)
        assert conflict.status_code == 409 and "pinned" in conflict.json()["error"]["message"]


def test_feedback_is_joined_to_the_policy_that_routed_the_answer_and_heartbeats_carry_load(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as url:
        glm = make_glm(url, ScriptedModel(["an answer"]))
        router = glm.router
        with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
            ops, user = bearer(new_key(glm, "operator")), bearer(new_key(glm, "user", owner="ann"))
            version = http.post("/v1/policies", json={"policy": {"routes": {"text-generation": {"retries": 2}}},
                                                      "activate": True}, headers=ops).json()["version"]
            plan = {"steps": [{"id": "hello", "uses": "llm.generate", "with": {"prompt": "say hello"}}]}
            task_id = http.post("/v1/tasks", json={"plan": plan}, headers=user).json()["id"]
            assert wait_for_status(http, task_id, user)["status"] == "succeeded"
            attempts = [e for e in glm.store.events(task_id) if e.kind == "model.attempt"]
            assert attempts and attempts[-1].data["policy"] == version  # the version is in the task's events
            assert http.post("/v1/feedback", json={"task_id": task_id, "rating": -1}, headers=user).status_code == 201
            (kept,) = glm.store.feedback(task_id)
            assert (kept.rating, kept.nodes, kept.policy_version) == (-1, ["scripted"], version)

            node = router.get("scripted")
            node.ttl_s, node.expires_at = 30.0, time.monotonic() + 30  # as if registered, so it can beat
            beat = http.post("/v1/nodes/scripted/heartbeat", headers=ops,
                             json={"cpu_percent": 93.0, "memory_free_percent": 12.5, "queue_depth": 7})
            assert beat.status_code == 200 and beat.json()["state"] == "drained"
            assert beat.json()["load"] == {"cpu_percent": 93.0, "memory_free_percent": 12.5, "queue_depth": 7}
            bad = http.post("/v1/nodes/scripted/heartbeat", headers=ops, json={"cpu_percent": 130})
            assert bad.status_code == 422
            assert http.post("/v1/nodes/scripted/heartbeat", headers=ops).status_code == 200  # no body: fine too
