"""The gateway's event loop stays free: /healthz answers while a chat's task waits for the database.

A chat's task writes its row (status, answer) when it finishes. When another connection holds SQLite's write lock
(another process, a long transaction, a checkpoint), that write waits for it, up to the driver's 30 s timeout. Done
on the event loop, the wait froze every request of the process, /healthz included; in a worker thread, only that
task waits.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from gateway_support import gateway, make_glm
from openautoglm.models.base import ChatRequest, ChatResponse
from openautoglm.models.scripted import ScriptedModel

HOLD_S = 3.0  # how long the other process keeps the write lock
HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


class SignallingModel(ScriptedModel):
    """A scripted model that says when a task reached it, then takes half a second to answer."""

    def __init__(self) -> None:
        super().__init__(["scripted answer"])
        self.called = threading.Event()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.called.set()
        await asyncio.sleep(0.5)
        return await super().complete(request)


def test_healthz_answers_while_a_task_waits_for_the_database_lock(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    model = SignallingModel()
    glm = make_glm(f"sqlite:///{path}", model=model, auth="disabled")
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.get("/healthz").status_code == 200
        chat: dict[str, httpx.Response] = {}

        def ask() -> None:
            body = {"model": "autoglm", "messages": [{"role": "user", "content": "write a haiku about tea"}]}
            chat["response"] = http.post("/v1/chat/completions", json=body)

        asker = threading.Thread(target=ask)
        asker.start()
        assert model.called.wait(10), "the chat never reached the model"
        # The task is running (its row written): another process takes the write lock, and the task's next
        # write (when the model has answered) has to wait for it.
        other = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), str(HOLD_S)], stdout=subprocess.PIPE,
                                 text=True)
        assert other.stdout is not None and other.stdout.readline().strip() == "locked"
        held_until = time.monotonic() + HOLD_S
        latencies: list[float] = []
        with httpx.Client(base_url=server.url, timeout=60) as probe:
            while time.monotonic() < held_until:
                start = time.perf_counter()
                assert probe.get("/healthz").status_code == 200
                latencies.append(time.perf_counter() - start)
                time.sleep(0.05)
        other.wait(30)
        other.stdout.close()
        asker.join(30)
        response = chat["response"]
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"]
    # Blocking the loop, the write froze /healthz for the rest of the hold (2.5 s); bounded generously for a
    # shared 2-core machine.
    assert len(latencies) > 10 and max(latencies) < 1.0, f"slowest /healthz {max(latencies):.2f}s"
