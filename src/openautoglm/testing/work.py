"""Work on loopback for the durability tests and ``bench/recovery.py``: steps that rest (``work.nap``, a read) or
charge (``work.charge``, a side effect), as an OpenAPI service in the caller's own process, so it outlives every
process a test kills and counts each call it gets::

    with WorkService() as work:
        config["openapi"] = [work.openapi_config(folder)]     # tools work.nap and work.charge
        work.hold("a3")                # calls for step a3 wait ...
        work.wait_for_call("a3")       # ... the call is in flight: kill the process now
        work.let_go("a3")
        work.calls                     # Counter: step -> calls received
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from .loopback import LoopbackRequest, LoopbackService, Reply, json_reply


class WorkService(LoopbackService):
    """``work.nap`` (GET: sleep, then say so) and ``work.charge`` (POST: a side effect) for steps named in the
    call, as an OpenAPI service in the test's process. ``hold(step)`` makes that step's calls wait until
    ``let_go(step)``, so a test can kill a process while the call is in flight; ``calls`` counts what arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()  # step -> calls received (a call in flight at a kill counts)
        self.done: Counter[str] = Counter()  # step -> calls answered
        self.arrived = threading.Condition()
        self._gates: dict[str, threading.Event] = {}

    def stop(self) -> None:
        for gate in list(self._gates.values()):  # held calls answer now rather than wait out their gate
            gate.set()
        super().stop()

    def hold(self, *steps: str) -> None:
        for step in steps:
            self._gates[step] = threading.Event()

    def let_go(self, *steps: str) -> None:
        for step in steps:
            self._gates.pop(step, threading.Event()).set()

    def wait_for_call(self, step: str, count: int = 1, timeout: float = 90) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: self.calls[step] >= count, timeout), \
                f"{step} was called {self.calls[step]} times, not {count}"

    def handle(self, request: LoopbackRequest) -> Reply:
        if request.method == "GET" and request.path == "/nap":
            step, seconds = request.arg("step") or "", float(request.arg("seconds") or 0)
        elif request.method == "POST" and request.path == "/charge":
            step, seconds = str((request.json() or {}).get("step")), 0.0
        else:
            return json_reply({"error": "no such operation"}, 404)
        with self.arrived:
            self.calls[step] += 1
            self.arrived.notify_all()
        gate = self._gates.get(step)
        if gate is not None:
            gate.wait(120)
        time.sleep(seconds)
        self.done[step] += 1
        return json_reply({"step": step, "done": True})

    def spec(self) -> dict[str, Any]:
        ok = {"200": {"description": "done", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"step": {"type": "string"}, "done": {"type": "boolean"}}}}}}}
        return {"openapi": "3.0.3", "info": {"title": "work", "version": "1"}, "servers": [{"url": self.server.url}],
                "paths": {
                    "/nap": {"get": {"operationId": "nap", "summary": "Rest for a while (no side effects).",
                                     "parameters": [
                                         {"name": "step", "in": "query", "required": True,
                                          "schema": {"type": "string"}},
                                         {"name": "seconds", "in": "query", "schema": {"type": "number"}}],
                                     "responses": ok}},
                    "/charge": {"post": {"operationId": "charge", "summary": "Charge a card (a side effect).",
                                         "requestBody": {"required": True, "content": {"application/json": {
                                             "schema": {"type": "object", "required": ["step"],
                                                        "properties": {"step": {"type": "string"}}}}}},
                                         "responses": ok}}}}

    def openapi_config(self, folder: Path) -> dict[str, Any]:
        path = folder / "work.yaml"
        path.write_text(yaml.safe_dump(self.spec()), encoding="utf-8")
        return {"name": "work", "spec": str(path), "allow_private": True}
