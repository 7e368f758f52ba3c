"""`autoglm keys` and `autoglm serve`, and approvals decided over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from gateway_support import bearer, database, gateway, make_glm, new_key, wait_for_status
from openautoglm.cli import app
from openautoglm.server.keys import KeyRing
from openautoglm.store import Store
from openautoglm.tools.approval import ApprovalBroker
from openautoglm.tools.base import tool


def test_keys_are_created_once_listed_without_secrets_and_revoked(isolated_home: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["keys", "create", "--role", "operator", "--owner", "ops", "--json"])
    assert made.exit_code == 0, made.output
    record = json.loads(made.stdout)
    assert record["key"].startswith("agk_") and record["role"] == "operator"
    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert record["key"] not in listed.stdout and json.loads(listed.stdout)[0]["id"] == record["id"]
    store = Store(f"sqlite:///{isolated_home / 'autoglm.db'}")
    try:
        assert KeyRing(store).verify(record["key"]) is not None
        assert runner.invoke(app, ["keys", "revoke", record["id"]]).exit_code == 0
        assert KeyRing(store).verify(record["key"]) is None
    finally:
        store.close()
    bad = subprocess.run([sys.executable, "-c", "from openautoglm.cli import main; main()", "keys", "create",
                          "--role", "root"],
                         capture_output=True, text=True, env={**os.environ, "AUTOGLM_HOME": str(isolated_home)})
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "unknown role 'root'" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_serve_starts_the_gateway_and_says_how_to_make_the_first_admin_key(isolated_home: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from openautoglm.cli import main; main()", "serve",
                             "--port", str(port)], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "AUTOGLM_HOME": str(isolated_home)})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "the gateway did not start"
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 401  # auth on by default
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "autoglm keys create --role admin" in err


def test_side_effect_tools_wait_for_an_operators_approval(tmp_path: Path) -> None:
    @tool(side_effects=True)
    def send_mail(to: str) -> str:
        """Send a mail to someone."""
        return f"sent to {to}"

    broker = ApprovalBroker(timeout_s=30)
    with database("sqlite", tmp_path) as url:
        glm = make_glm(url, tools=[send_mail])
        glm.approver = broker.approver
        with gateway(glm, approvals=broker) as server, httpx.Client(base_url=server.url, timeout=20) as http:
            user, operator = bearer(new_key(glm, "user", "ann")), bearer(new_key(glm, "operator"))
            plan = {"steps": [{"id": "mail", "uses": "send_mail", "with": {"to": "bo@example.com"}}]}
            task_id = http.post("/v1/tasks", json={"plan": plan}, headers=user).json()["id"]
            pending: list[dict[str, object]] = []
            for _ in range(100):
                pending = http.get("/v1/approvals", headers=operator).json()["data"]
                if pending:
                    break
                time.sleep(0.05)
            assert pending and pending[0]["tool"] == "send_mail" and pending[0]["task_id"] == task_id
            assert http.get("/v1/approvals", headers=user).status_code == 403
            decided = http.post(f"/v1/approvals/{pending[0]['id']}", json={"approved": True}, headers=operator)
            assert decided.status_code == 200 and decided.json()["status"] == "approved"
            done = wait_for_status(http, task_id, user)
            assert done["status"] == "succeeded" and "sent to bo@example.com" in done["answer"]
            again = http.post(f"/v1/approvals/{pending[0]['id']}", json={"approved": False}, headers=operator)
            assert again.status_code == 409 and again.json()["error"]["type"] == "approval_conflict"
