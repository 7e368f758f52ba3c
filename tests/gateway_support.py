"""Shared by the gateway tests: a real uvicorn server on loopback, databases (SQLite and PostgreSQL), keys."""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from sqlalchemy import create_engine, text

from openautoglm.app import AutoGLM
from openautoglm.config import GatewaySettings, Settings
from openautoglm.models.scripted import ScriptedModel
from openautoglm.planning import DirectPlanner
from openautoglm.server.app import create_app
from openautoglm.server.keys import KeyRing
from openautoglm.store import Store
from service_urls import pg_url

PG_ROOT = pg_url()


@contextmanager
def database(kind: str, tmp_path: Any) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    schema = f"gw_{secrets.token_hex(6)}"
    admin = create_engine(PG_ROOT, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_ROOT}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread, on a free port."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", loop="asyncio",
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"gateway:{self.port}", daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def make_glm(db_url: str, model: Any = None, auth: str = "required", redis_url: str | None = None,
             tools: list[Any] | None = None, options: dict[str, Any] | None = None, **gateway: Any) -> AutoGLM:
    """``options`` are more top-level settings; the other keywords are gateway settings."""
    settings = Settings(auth=auth, database_url=db_url, redis_url=redis_url, gateway=GatewaySettings(**gateway),
                        **(options or {}))
    # The direct planner (one llm step): these tests are about the gateway, not about planning, and the rule
    # planner's embedder takes seconds to load per app.
    return AutoGLM(settings=settings, model=model or ScriptedModel(["scripted answer"]), store=Store(db_url),
                   planner=DirectPlanner(), tools=tools)


@contextmanager
def gateway(glm: AutoGLM, **kwargs: Any) -> Iterator[LiveServer]:
    app = create_app(glm, **kwargs)
    try:
        with LiveServer(app) as server:
            yield server
    finally:
        glm.store.close()


def new_key(glm: AutoGLM, role: str, owner: str | None = None) -> str:
    key, _ = KeyRing(glm.store).create(role, owner)
    return key


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def wait_for_status(client: httpx.Client, task_id: str, headers: dict[str, str], timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/v1/tasks/{task_id}", headers=headers).json()
        if body.get("status") not in ("queued", "running") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)
