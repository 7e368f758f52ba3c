"""Secrets at rest: what the gateway stores sealed (AES-256-GCM), checked by reading the database file's bytes,
and `autoglm secrets rotate` re-encrypting everything under a new key while every value stays readable."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from gateway_support import LiveServer, bearer
from openautoglm import AutoGLM, ScriptedModel, Settings
from openautoglm.cli import app as cli
from openautoglm.config import NodeConfig, RouterSettings
from openautoglm.planning import DirectPlanner
from openautoglm.server.app import create_app
from openautoglm.server.keys import KeyRing
from openautoglm.services import open_store
from openautoglm.store import NodeRecord
from openautoglm.store.sealing import PREFIX, key_file_keys, key_id
from openautoglm.testing import FakeOpenAI

NODE_SECRET = "sk-node-secret-7f3a9c1e5b"
PROMPT = "What did Zanzibar-Quokka-4411 order?"
ANSWER = "Zanzibar-Quokka-4411 ordered nine teapots"


def database_bytes(home: Path) -> bytes:
    """Everything SQLite keeps of the database: the file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in sorted(home.glob("autoglm.db*")) if p.is_file())


@pytest.fixture
def home(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("AUTOGLM_SECRET_KEY", raising=False)
    return isolated_home


def make_glm(home: Path, **options: Any) -> AutoGLM:
    settings = Settings(home=home, **options)
    return AutoGLM(settings=settings, model=ScriptedModel([ANSWER]), store=open_store(settings),
                   planner=DirectPlanner())


@pytest.fixture
def served(home: Path) -> Iterator[tuple[AutoGLM, httpx.Client]]:
    glm = make_glm(home)
    operator, _ = KeyRing(glm.store).create("operator", "ops")
    with LiveServer(create_app(glm, access_log=False, close_glm=True)) as server, \
            httpx.Client(base_url=server.url, headers=bearer(operator), timeout=30) as http:
        yield glm, http


def test_node_credentials_are_sealed_in_the_database_file_and_survive_rotation(
        home: Path, served: tuple[AutoGLM, httpx.Client]) -> None:
    glm, http = served
    given = http.post("/v1/nodes", json={"name": "remote", "base_url": "http://10.0.0.7:8080/v1",
                                         "api_key": NODE_SECRET}).raise_for_status().json()
    drawn = http.post("/v1/nodes", json={"name": "local", "base_url": "http://127.0.0.1:9/v1"}
                      ).raise_for_status().json()
    token = drawn["node_token"]
    assert given["node_token"] == NODE_SECRET and len(token) >= 40
    glm.store.flush()

    key_file = home / "secret.key"  # made on first use, readable by its owner only
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first_key = key_file_keys(key_file)[0]
    raw = database_bytes(home)
    for secret in (NODE_SECRET, token):
        assert secret.encode() not in raw
    assert f"{PREFIX}{key_id(first_key)}:".encode() in raw
    assert base64.b64encode(first_key) not in raw  # the key is not beside what it seals
    assert {n.name: n.api_key for n in glm.store.nodes()} == {"remote": NODE_SECRET, "local": token}

    # Registering again from the same address keeps the token (a node the coordinator forgot rejoins with it).
    again = http.post("/v1/nodes", json={"name": "local", "base_url": "http://127.0.0.1:9/v1"}).json()
    assert again["node_token"] == token

    rotated = CliRunner().invoke(cli, ["secrets", "rotate", "--json"])
    assert rotated.exit_code == 0, rotated.output
    done = json.loads(rotated.stdout)
    assert done["resealed"] == 2 and done["retired"] == [key_id(first_key)] and done["key_id"] != key_id(first_key)
    assert key_file_keys(key_file) != [first_key] and len(key_file_keys(key_file)) == 1  # the old key is gone
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    raw = database_bytes(home)
    assert f"{PREFIX}{done['key_id']}:".encode() in raw
    # The running gateway reads values sealed under the new key, and seals new ones with it (it notices the file).
    assert {n.name: n.api_key for n in glm.store.nodes()} == {"remote": NODE_SECRET, "local": token}
    later = http.post("/v1/nodes", json={"name": "later", "base_url": "http://127.0.0.1:10/v1"}).json()["node_token"]
    glm.store.flush()
    raw = database_bytes(home)
    assert later.encode() not in raw
    assert f"{PREFIX}{key_id(first_key)}:".encode() not in raw  # nothing sealed under the old key is left, anywhere
    assert {n.name: n.api_key for n in glm.store.nodes()}["later"] == later
    http.delete("/v1/nodes/remote").raise_for_status()
    assert [n.name for n in glm.store.nodes()] == ["later", "local"]


def test_a_wrong_key_cannot_open_what_was_sealed_and_says_which_key_it_needs(
        home: Path, served: tuple[AutoGLM, httpx.Client], monkeypatch: pytest.MonkeyPatch) -> None:
    _, http = served
    http.post("/v1/nodes", json={"name": "remote", "base_url": "http://10.0.0.7:8080/v1",
                                 "api_key": NODE_SECRET}).raise_for_status()
    sealed_with = key_id(key_file_keys(home / "secret.key")[0])
    monkeypatch.setenv("AUTOGLM_SECRET_KEY", base64.b64encode(b"k" * 32).decode())
    stranger = open_store(Settings(home=home))
    try:
        with pytest.raises(Exception, match=f"sealed with key {sealed_with}"):
            stranger.nodes()
    finally:
        stranger.close()


def test_with_encrypt_content_prompts_and_answers_are_sealed_too(home: Path) -> None:
    glm = make_glm(home, encrypt_content=True)
    user, _ = KeyRing(glm.store).create("user", "alice")
    with LiveServer(create_app(glm, access_log=False, close_glm=True)) as server, \
            httpx.Client(base_url=server.url, headers=bearer(user), timeout=30) as http:
        reply = http.post("/v1/chat/completions", json={
            "model": "autoglm", "session_id": "s-1", "messages": [{"role": "user", "content": PROMPT}]})
        assert reply.status_code == 200, reply.text
        answer = reply.json()["choices"][0]["message"]["content"]
        assert ANSWER in answer
        task_id = reply.json()["autoglm"]["task_id"]
        task = http.get(f"/v1/tasks/{task_id}").raise_for_status().json()
        assert task["request"] == PROMPT and task["answer"] == answer  # the owner reads them as they were
        glm.store.flush()
        raw = database_bytes(home)
        for text in (PROMPT, ANSWER, "Zanzibar"):
            assert text.encode() not in raw
        turns = glm.sessions.turns("s-1")
        assert [(t.request, t.answer) for t in turns] == [(PROMPT, answer)]
    done = CliRunner().invoke(cli, ["secrets", "rotate", "--json"], env={"AUTOGLM_ENCRYPT_CONTENT": "true"})
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["resealed"] >= 4  # the task's request and answer, the turn's request and answer
    reopened = make_glm(home, encrypt_content=True)
    try:
        record = reopened.store.get_task(task_id)
        assert (record.request, record.answer) == (PROMPT, answer)
        assert b"Zanzibar" not in database_bytes(home)
    finally:
        reopened.store.close()


async def test_with_encrypt_content_the_response_cache_keeps_answers_sealed(home: Path) -> None:
    fake = FakeOpenAI("echo").start()
    try:
        settings = Settings(home=home, encrypt_content=True, router=RouterSettings(probe_interval_s=None),
                            nodes=[NodeConfig(name="n", base_url=fake.base_url, model="m")])
        async with AutoGLM(settings=settings) as glm:
            for _ in range(2):
                result = await glm.execute({"steps": [{"id": "w", "uses": "llm.generate", "with": {"prompt": PROMPT}}]})
                assert result.steps[0].output == PROMPT
            assert fake.requests == 1  # the second answer came from the cache, opened
        cache = b"".join(p.read_bytes() for p in home.glob("cache.db*") if p.is_file())
        assert cache and b"Zanzibar" not in cache and PREFIX.encode() in cache
    finally:
        fake.stop()


def test_rotating_keys_from_the_environment_seals_under_the_first_and_retires_the_rest(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = b"o" * 32, b"n" * 32
    monkeypatch.setenv("AUTOGLM_SECRET_KEY", base64.b64encode(old).decode())
    store = open_store(Settings(home=home))
    store.save_node(NodeRecord("remote", "http://10.0.0.7:8080/v1", None, ["text-generation"], 1.0, NODE_SECRET, 0.0))
    store.close()
    assert f"{PREFIX}{key_id(old)}:".encode() in database_bytes(home)

    both = f"{base64.b64encode(new).decode()},{base64.b64encode(old).decode()}"
    rotated = CliRunner().invoke(cli, ["secrets", "rotate", "--json"], env={"AUTOGLM_SECRET_KEY": both})
    assert rotated.exit_code == 0, rotated.output
    done = json.loads(rotated.stdout)
    assert done == {"key_id": key_id(new), "retired": [key_id(old)], "resealed": 1, "source": "AUTOGLM_SECRET_KEY"}
    raw = database_bytes(home)
    assert f"{PREFIX}{key_id(old)}:".encode() not in raw and NODE_SECRET.encode() not in raw
    assert not (home / "secret.key").exists()  # keys from the environment: no file is made

    monkeypatch.setenv("AUTOGLM_SECRET_KEY", base64.b64encode(new).decode())  # the old key is dropped
    store = open_store(Settings(home=home))
    try:
        record = store.node("remote")
        assert record is not None and record.api_key == NODE_SECRET
    finally:
        store.close()
