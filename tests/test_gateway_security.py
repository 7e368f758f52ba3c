"""The attacks of the security pass (issue 12), each performed against a real gateway on loopback, and refused:
plans that wait for themselves, text UTF-8 cannot carry, revoked keys used at once, resumed tasks' roles."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, insert

from gateway_support import bearer, database, gateway, make_glm, new_key, wait_for_status
from openautoglm.models.scripted import ScriptedModel
from openautoglm.server.keys import KeyRing, hash_key
from openautoglm.store import schema
from openautoglm.store.migrations import upgrade
from openautoglm.tools.base import tool

AUTOGLM = [sys.executable, "-c", "from openautoglm.cli import main; main()"]


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def one_error_line(result: subprocess.CompletedProcess[Any]) -> str:
    stderr = result.stderr.decode() if isinstance(result.stderr, bytes) else result.stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def cli(*args: str | bytes, home: Path, db_url: str | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "AUTOGLM_HOME": str(home)}
    if db_url:
        env["AUTOGLM_DATABASE_URL"] = db_url
    return subprocess.run([*AUTOGLM, *args], capture_output=True, env=env, stdin=subprocess.DEVNULL, timeout=120)


# -- 1. plans that can never end -----------------------------------------------------------------------------------

SELF_LOOPS = {
    "depends_on itself": {"id": "a", "uses": "llm.generate", "with": {"prompt": "hi"}, "depends_on": ["a"]},
    "reads its own output": {"id": "a", "uses": "llm.generate", "with": {"prompt": "${a.output}"}},
    "runs when it has run": {"id": "a", "uses": "llm.generate", "with": {"prompt": "hi"}, "when": "${a.output}"},
}


def test_plans_that_wait_for_themselves_are_refused_and_tasks_keep_running(db_url: str) -> None:
    glm = make_glm(db_url, max_running_tasks=2)
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        headers = bearer(new_key(glm, "user"))
        # More self-loops than there are runner slots: before the fix, two of them held every slot for good.
        for name, step in SELF_LOOPS.items():
            for _ in range(2):
                refused = http.post("/v1/tasks", json={"plan": {"steps": [step]}}, headers=headers)
                assert refused.status_code == 400, name
                error = refused.json()["error"]
                assert error["type"] == "invalid_plan" and "step 'a' depends on itself" in error["message"], name
        assert http.get("/v1/tasks", headers=headers).json()["data"] == []  # nothing was stored
        ok = http.post("/v1/tasks", json={"plan": {"steps": [{"id": "a", "uses": "llm.generate",
                                                                "with": {"prompt": "hi"}}]}}, headers=headers)
        assert ok.status_code == 202
        assert wait_for_status(http, ok.json()["id"], headers)["status"] == "succeeded"


@pytest.mark.process
def test_a_self_loop_plan_is_one_line_on_the_cli(tmp_path: Path) -> None:
    plan = tmp_path / "loop.json"
    plan.write_text('{"steps": [{"id": "a", "uses": "llm.generate", "with": {"prompt": "hi"}, '
                    '"depends_on": ["a"]}]}', encoding="utf-8")
    line = one_error_line(cli("exec", str(plan), home=tmp_path / "home"))
    assert "step 'a' depends on itself" in line


def test_a_task_past_its_time_limit_fails_and_frees_its_slot(db_url: str) -> None:
    @tool
    async def hold(seconds: float) -> str:
        """Wait, then answer."""
        await asyncio.sleep(seconds)
        return "held"

    glm = make_glm(db_url, tools=[hold], options={"task_timeout_s": 1.0}, max_running_tasks=1)
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        headers = bearer(new_key(glm, "user"))
        slow = {"steps": [{"id": "h", "uses": "hold", "with": {"seconds": 60}, "timeout_s": 120}]}
        started = time.monotonic()
        task_id = http.post("/v1/tasks", json={"plan": slow}, headers=headers).json()["id"]
        task = wait_for_status(http, task_id, headers, timeout=15)
        assert task["status"] == "failed" and "time limit of 1s" in task["error"]
        assert time.monotonic() - started < 10
        quick = {"steps": [{"id": "h", "uses": "hold", "with": {"seconds": 0}}]}
        next_id = http.post("/v1/tasks", json={"plan": quick}, headers=headers).json()["id"]
        assert wait_for_status(http, next_id, headers)["status"] == "succeeded"  # the slot was freed
        kinds = [e["kind"] for e in http.get(f"/v1/tasks/{task_id}/trace", headers=headers).json()["events"]]
        assert kinds[-1] == "task.failed"


# -- 2. text UTF-8 cannot carry ------------------------------------------------------------------------------------

LONE = b"\\ud800"  # as a JSON escape: what the attack sends


def test_lone_surrogates_are_refused_at_the_boundary_and_the_task_list_keeps_answering(db_url: str) -> None:
    glm = make_glm(db_url, ScriptedModel(["fine"], name="plain-node"))
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        user = {**bearer(new_key(glm, "user")), "Content-Type": "application/json"}
        operator = bearer(new_key(glm, "operator"))
        attacks = {
            "plan.steps.0.with.prompt":
                b'{"plan": {"steps": [{"id": "a", "uses": "llm.generate", "with": {"prompt": "x' + LONE + b'"}}]}}',
            "inputs.city": b'{"plan": {"steps": [{"id": "a", "uses": "llm.generate", "with": {"prompt": "x"}}]},'
                           b' "inputs": {"city": "' + LONE + b'"}}',
            "request": b'{"request": "' + LONE + b'"}',
        }
        for field, body in attacks.items():
            refused = http.post("/v1/tasks", content=body, headers=user)
            assert refused.status_code == 422, field
            error = refused.json()["error"]
            assert error["type"] == "invalid_request_error"
            assert f"{field}: text is not valid Unicode" in error["message"], field
        for model in ("autoglm", "plain-node"):  # the orchestration, and a plain completion on a node
            message = b'{"role": "user", "content": "hi ' + LONE + b'"}'
            body = b'{"model": "' + model.encode() + b'", "messages": [' + message + b"]}"
            chat = http.post("/v1/chat/completions", content=body, headers=user)
            assert chat.status_code == 422, (model, chat.text)  # not a 500, and not a 502 blaming the node
            assert chat.json()["error"]["param"] == "messages.0.content"
        raw = http.post("/v1/tasks", content='{"request": "hi \udcff"}'.encode("utf-8", "surrogatepass"),
                        headers=user)
        assert raw.status_code == 400 and "not valid UTF-8" in raw.json()["error"]["message"]
        # Nothing was stored, and the list answers everyone.
        for headers in (user, operator):
            listed = http.get("/v1/tasks", headers=headers)
            assert listed.status_code == 200 and listed.json()["data"] == []
        # A surrogate pair escaped in JSON is a real character, welcome.
        emoji = http.post("/v1/tasks", content=b'{"request": "smile \\ud83d\\ude00"}', headers=user)
        assert emoji.status_code == 202
        task = wait_for_status(http, emoji.json()["id"], user)
        assert task["request"] == "smile \U0001F600"
        assert http.get("/v1/tasks", headers=operator).status_code == 200


@pytest.mark.process
def test_the_cli_refuses_text_utf8_cannot_carry_on_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # An argument holding bytes that are not UTF-8 (Python sees them as lone surrogates).
    line = one_error_line(cli("run", b"hello \xed\xa0\x80", home=home))
    assert "argument 2 is not valid UTF-8" in line
    plan = tmp_path / "plan.json"
    plan.write_text('{"steps": [{"id": "a", "uses": "llm.generate", "with": {"prompt": "x\\ud800"}}]}',
                    encoding="utf-8")
    assert "steps.0.with.prompt: text is not valid Unicode" in one_error_line(cli("exec", str(plan), home=home))
    args = one_error_line(cli("tools", "call", "math.calculate", "--args", '{"expression": "1\\udfff"}',
                              home=home))
    assert "with.expression: text is not valid Unicode" in args


# -- 4. revocation applies at once; a resumed task keeps its caller's role ----------------------------------------

@pytest.mark.process
def test_a_key_revoked_by_another_process_is_refused_on_the_next_request(db_url: str, tmp_path: Path) -> None:
    glm = make_glm(db_url)
    with gateway(glm) as server, httpx.Client(base_url=server.url) as http:
        key = new_key(glm, "user")
        assert http.get("/v1/tasks", headers=bearer(key)).status_code == 200  # verified (and, before, cached)
        revoked = cli("keys", "revoke", key.split("_")[1], home=tmp_path / "home", db_url=db_url)
        assert revoked.returncode == 0, revoked.stderr
        response = http.get("/v1/tasks", headers=bearer(key))
        assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_a_resumed_task_runs_with_its_callers_role_not_admin(db_url: str) -> None:
    purged: list[str] = []

    @tool(roles=["admin"])
    def purge_cache() -> str:
        """Drop every cached answer (admins only)."""
        purged.append("purged")
        return "purged"

    glm = make_glm(db_url, tools=[purge_cache])
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        headers = bearer(new_key(glm, "user"))
        plan = {"steps": [{"id": "purge", "uses": "purge_cache"}]}
        task_id = http.post("/v1/tasks", json={"plan": plan}, headers=headers).json()["id"]
        assert wait_for_status(http, task_id, headers)["status"] == "failed"
        assert glm.store.get_task(task_id).role == "user"
        # Whoever resumes it (a replica taking over its lapsed lease, an operator), it is still the user's task.
        # A finished task is not resumed (it would answer twice): this one is left as a drained gateway leaves one.
        glm.store.update_task(task_id, status="interrupted")
        resumed = asyncio.run(glm.resume(task_id))
        assert resumed.status == "failed" and purged == []
        assert "role 'user' may not call purge_cache" in (resumed.steps[0].error or "")


def test_after_the_upgrade_a_key_reads_its_old_tasks_and_no_token_does(db_url: str) -> None:
    # A database as the previous version left it: a default-owner key ("key-<id>"), a named one, their tasks.
    engine = create_engine(db_url)
    upgrade(engine, "0003_sessions", create_unmigrated=False)
    keys = {"abcdef012345": "key-abcdef012345", "0123456789ab": "alice"}
    secrets = {key_id: f"agk_{key_id}_{'s' * 32}" for key_id in keys}
    with engine.begin() as conn:
        for key_id, owner in keys.items():
            conn.execute(insert(schema.api_keys).values(id=key_id, key_hash=hash_key(secrets[key_id]), role="user",
                                                        owner=owner, created_at=time.time()))
            conn.execute(insert(schema.tasks).values(
                id=f"t-{key_id}", request="old", status="succeeded", owner=owner, created_at=1.0, updated_at=1.0))
    engine.dispose()
    glm = make_glm(db_url, jwt_algorithms=["HS256"], jwt_key="s" * 64)  # opening the store migrates
    with gateway(glm) as server, httpx.Client(base_url=server.url) as http:
        import jwt as pyjwt

        records = {r.id: r for r in KeyRing(glm.store).list()}
        assert records["abcdef012345"].owner == "abcdef012345" and records["0123456789ab"].owner == "alice"
        for key_id in keys:
            mine = http.get("/v1/tasks", headers=bearer(secrets[key_id])).json()["data"]
            assert [t["id"] for t in mine] == [f"t-{key_id}"]
        assert mine[0]["owner"] == "key:alice"
        now = int(time.time())
        for sub in ("key-abcdef012345", "abcdef012345", "alice", "key:alice"):
            token = pyjwt.encode({"sub": sub, "iss": "openautoglm", "aud": "openautoglm-gateway", "exp": now + 60,
                                  "jti": f"j-{sub}"}, "s" * 64, algorithm="HS256")
            assert http.get("/v1/tasks", headers=bearer(token)).json()["data"] == [], sub

