"""The gateway through a real uvicorn server on loopback, with the official openai client, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from gateway_support import bearer, database, gateway, make_glm, new_key, wait_for_status
from openautoglm.models.scripted import ScriptedModel
from openautoglm.tools.base import tool


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def test_openai_client_gets_a_completion_and_a_stream_from_autoglm(db_url: str) -> None:
    glm = make_glm(db_url, ScriptedModel(["Hello Alice, have a bright day full of cheer."]))
    with gateway(glm) as server:
        key = new_key(glm, "user", owner="alice")
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)

        completion = client.chat.completions.create(
            model="autoglm", messages=[{"role": "user", "content": "write a one-line greeting for my colleague Alice"}])
        answer = completion.choices[0].message.content or ""
        assert "have a bright day" in answer
        ext = (completion.model_extra or {})["autoglm"]
        assert ext["status"] == "succeeded"
        assert ext["plan"]["steps"] and ext["steps"][0]["status"] == "succeeded"
        assert completion.usage is not None and completion.usage.completion_tokens > 0

        with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
            task = http.get(f"/v1/tasks/{ext['task_id']}").json()
            assert task["status"] == "succeeded" and task["owner"] == "key:alice"
            # Model writing, checked: the confidence the composer gave it, the same in the chat and the task.
            assert ext["confidence"] == task["confidence"] == 0.45
            trace = http.get(f"/v1/tasks/{ext['task_id']}/trace").json()
            kinds = [e["kind"] for e in trace["events"]]
            assert next(e for e in trace["events"] if e["kind"] == "answer")["data"]["confidence"] == 0.45
            assert kinds[0] == "task.started" and "plan.made" in kinds and kinds[-1] == "task.finished"

        stream = client.chat.completions.create(
            model="autoglm", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "write a one-line greeting for my colleague Alice"}])
        text, progress, final, usage = "", [], None, None
        for chunk in stream:
            extra = (chunk.model_extra or {}).get("autoglm") or {}
            if extra.get("event"):
                progress.append(extra["event"])
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                if choice.finish_reason == "stop":
                    final = extra
        assert text == answer
        assert "plan.made" in progress and "step.started" in progress and "step.finished" in progress
        assert final is not None and final["status"] == "succeeded" and final["task_id"] != ext["task_id"]
        assert usage is not None and usage.total_tokens > 0


def test_other_model_names_are_plain_completions_on_that_node(db_url: str) -> None:
    model = ScriptedModel(["plain reply from the node"], name="node-a")
    glm = make_glm(db_url, model)
    with gateway(glm) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=new_key(glm, "user"), max_retries=0)
        ids = [m.id for m in client.models.list()]
        assert ids == ["autoglm", "node-a"]
        reply = client.chat.completions.create(model="node-a", max_tokens=5, temperature=0.5,
                                               messages=[{"role": "system", "content": "be brief"},
                                                         {"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "plain reply from the node"
        sent = model.requests[-1]
        assert [m.role for m in sent.messages] == ["system", "user"] and sent.max_tokens == 5
        assert sent.temperature == 0.5
        pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="node-a", stream=True, messages=[{"role": "user", "content": "hi"}]) if c.choices]
        assert "".join(pieces) == "plain reply from the node"
        with pytest.raises(openai.NotFoundError) as missing:
            client.chat.completions.create(model="no-such-node", messages=[{"role": "user", "content": "hi"}])
        assert missing.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_tasks_run_in_the_background_with_live_events_and_a_trace(db_url: str) -> None:
    glm = make_glm(db_url, ScriptedModel(["first", "second"], delay_s=0.2))
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        headers = bearer(new_key(glm, "user", owner="bob"))
        created = http.post("/v1/tasks", json={"request": "write a short greeting"}, headers=headers)
        assert created.status_code == 202
        task_id = created.json()["id"]
        events = []
        with http.stream("GET", f"/v1/tasks/{task_id}/events", headers=headers) as sse:
            assert sse.headers["content-type"].startswith("text/event-stream")
            for line in sse.iter_lines():
                if line.startswith("data: {") and '"seq"' in line:
                    events.append(json.loads(line[6:]))
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(set(seqs)) and seqs[0] == 1
        assert events[-1]["kind"] == "task.finished"
        assert wait_for_status(http, task_id, headers)["status"] == "succeeded"
        trace = http.get(f"/v1/tasks/{task_id}/trace", headers=headers).json()
        assert [e["seq"] for e in trace["events"]] == seqs

        # Resuming the stream after an event id replays only what came after it.
        with http.stream("GET", f"/v1/tasks/{task_id}/events",
                         headers={**headers, "Last-Event-ID": str(seqs[-2])}) as sse:
            rest = [json.loads(line[6:]) for line in sse.iter_lines() if line.startswith("data: {\"task_id")]
        assert [e["seq"] for e in rest] == [seqs[-1]]

        plan = {"steps": [{"id": "hello", "uses": "llm.generate", "with": {"prompt": "say hello"}}]}
        created = http.post("/v1/tasks", json={"plan": plan}, headers=headers)
        assert created.status_code == 202
        done = wait_for_status(http, created.json()["id"], headers)
        assert done["status"] == "succeeded" and done["plan"]["steps"][0]["id"] == "hello"

        bad = http.post("/v1/tasks", json={"plan": {"steps": [{"id": "x", "uses": "no.such.tool"}]}},
                        headers=headers)
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_plan"
        both = http.post("/v1/tasks", json={"request": "a", "plan": plan}, headers=headers)
        assert both.status_code == 422 and "exactly one" in both.json()["error"]["message"]

        feedback = http.post("/v1/feedback", json={"task_id": task_id, "rating": 1, "comment": "good"},
                             headers=headers)
        assert feedback.status_code == 201 and feedback.json()["rating"] == 1
        kept = glm.store.feedback(task_id)
        assert [(f.rating, f.comment, f.owner) for f in kept] == [(1, "good", "key:bob")]


def test_each_user_sees_only_their_own_tasks(db_url: str) -> None:
    glm = make_glm(db_url)
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        alice, mallory = bearer(new_key(glm, "user", "alice")), bearer(new_key(glm, "user", "mallory"))
        operator = bearer(new_key(glm, "operator", "ops"))
        task_id = http.post("/v1/tasks", json={"request": "alice's private question"}, headers=alice).json()["id"]
        assert wait_for_status(http, task_id, alice)["status"] == "succeeded"
        for path in (f"/v1/tasks/{task_id}", f"/v1/tasks/{task_id}/trace", f"/v1/tasks/{task_id}/events"):
            response = http.get(path, headers=mallory)
            assert response.status_code == 404, path
            assert response.json()["error"]["type"] == "not_found"
            assert "alice" not in response.text
        assert http.post("/v1/feedback", json={"task_id": task_id, "rating": -1}, headers=mallory).status_code == 404
        assert [t["id"] for t in http.get("/v1/tasks", headers=mallory).json()["data"]] == []
        assert [t["id"] for t in http.get("/v1/tasks", headers=alice).json()["data"]] == [task_id]
        assert http.get(f"/v1/tasks/{task_id}", headers=operator).json()["owner"] == "key:alice"
        assert http.get(f"/v1/tasks/{task_id}", headers={**mallory, "X-Role": "admin"}).status_code == 404


def test_roles_are_checked_per_route_and_client_role_claims_are_ignored(db_url: str) -> None:
    glm = make_glm(db_url)
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        viewer = bearer(new_key(glm, "viewer"))
        admin = bearer(new_key(glm, "admin"))
        assert http.get("/v1/models", headers=viewer).status_code == 200
        for headers in (viewer, {**viewer, "X-Role": "admin", "X-User-Role": "admin"}):
            denied = http.post("/v1/keys", json={"role": "admin"}, headers=headers)
            assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_denied"
        chat = http.post("/v1/chat/completions", headers=viewer,
                         json={"model": "autoglm", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 403 and chat.json()["error"]["code"] == "permission_denied"
        assert http.get("/metrics", headers=viewer).status_code == 403
        assert http.post("/v1/nodes", json={"name": "n1", "base_url": "http://127.0.0.1:9/v1"},
                         headers=viewer).status_code == 403

        made = http.post("/v1/keys", json={"role": "user", "owner": "carol"}, headers=admin)
        assert made.status_code == 201
        key = made.json()["key"]
        assert key.startswith("agk_") and made.json()["owner"] == "carol"
        listed = http.get("/v1/keys", headers=admin).text
        assert made.json()["id"] in listed and key not in listed
        assert http.get("/v1/tasks", headers=bearer(key)).status_code == 200
        assert http.delete(f"/v1/keys/{made.json()['id']}", headers=admin).status_code == 200
        revoked = http.get("/v1/tasks", headers=bearer(key))
        assert revoked.status_code == 401 and revoked.json()["error"]["type"] == "authentication_error"


def test_credentials_are_required_by_default(db_url: str) -> None:
    glm = make_glm(db_url)
    assert glm.settings.auth == "required"
    with gateway(glm) as server, httpx.Client(base_url=server.url) as http:
        for headers in ({}, bearer("agk_000000000000_guess"), {"Authorization": "Basic YWRtaW46YWRtaW4="},
                        bearer("not-a-key")):
            response = http.get("/v1/tasks", headers=headers)
            assert response.status_code == 401
            assert set(response.json()["error"]) == {"type", "message"}
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz").json()
        assert ready["status"] == "ready" and ready["components"]["database"]["status"] == "ok"


def test_errors_are_json_without_stack_traces(db_url: str) -> None:
    def explode(_: object) -> str:
        raise RuntimeError("secret internal detail")

    glm = make_glm(db_url, ScriptedModel([explode], name="broken"))
    with gateway(glm) as server, httpx.Client(base_url=server.url) as http:
        headers = bearer(new_key(glm, "user"))
        invalid = http.post("/v1/chat/completions", headers=headers, json={"model": "autoglm", "messages": []})
        assert invalid.status_code == 422
        assert invalid.json()["error"]["type"] == "invalid_request_error"
        assert invalid.json()["error"]["param"] == "messages"
        not_json = http.post("/v1/tasks", headers={**headers, "Content-Type": "application/json"},
                             content=b"{not json")
        assert not_json.status_code == 422 and "error" in not_json.json()
        crash = http.post("/v1/chat/completions", headers=headers,
                          json={"model": "broken", "messages": [{"role": "user", "content": "hi"}]})
        assert crash.status_code == 500
        assert crash.json()["error"]["type"] == "internal_error"
        assert "secret internal detail" not in crash.text and "Traceback" not in crash.text
        assert crash.headers["x-trace-id"] in crash.json()["error"]["message"]
        unknown = http.get("/v1/nothing-here", headers=headers)
        assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found"


def test_tools_see_the_callers_role_not_admin(db_url: str) -> None:
    @tool(roles=["admin"])
    def purge_cache() -> str:
        """Drop every cached answer (admins only)."""
        return "purged"

    glm = make_glm(db_url, tools=[purge_cache])
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        plan = {"steps": [{"id": "purge", "uses": "purge_cache"}]}
        outcomes = {}
        for role in ("user", "admin"):
            headers = bearer(new_key(glm, role))
            task_id = http.post("/v1/tasks", json={"plan": plan}, headers=headers).json()["id"]
            outcomes[role] = wait_for_status(http, task_id, headers)
        assert outcomes["user"]["status"] == "failed"
        assert outcomes["admin"]["status"] == "succeeded" and "purged" in outcomes["admin"]["answer"]


def test_readiness_reports_each_component_and_a_dead_limit_store_fails_closed(db_url: str) -> None:
    glm = make_glm(db_url, redis_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        ready = http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
        components = ready.json()["components"]
        assert components["database"]["status"] == "ok" and components["models"]["status"] == "ok"
        assert components["rate_limit_store"]["status"] == "down"
        refused = http.get("/v1/models", headers=bearer(new_key(glm, "viewer")))
        assert refused.status_code == 503
        assert refused.json()["error"]["type"] == "rate_limit_store_unavailable"
