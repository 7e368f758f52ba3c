"""`autoglm approvals` decides, from a terminal, the requests a waiting run filed in the store: two real
`autoglm exec --wait-for-approval` processes hold at their charge (a tool with side effects) until
`autoglm approvals approve` / `deny` (separate processes on the same database) decide; the approved one charges and
succeeds, the denied one does not charge (the reason is in its trace). Who decided is `cli:<login name>` in both
traces; a second decision and an unknown id end in one line and a non-zero exit. The work service runs on loopback
in the test's process and counts every call."""

from __future__ import annotations

import getpass
import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from durable_support import AUTOGLM, autoglm, chain, env, started, wait, write_config
from openautoglm.store import Store
from openautoglm.testing.work import WorkService


@pytest.fixture()
def work() -> Iterator[WorkService]:
    with WorkService() as service:
        yield service


def _plan(root: Path, prefix: str) -> Path:
    """Three steps; the middle one charges (a side effect), so it waits for a person."""
    sid = f"{prefix}2"
    path = root / f"{prefix}.json"
    path.write_text(json.dumps(chain(prefix, 3, **{sid: {"uses": "work.charge", "with": {"body": {"step": sid}}}})))
    return path


def _exec(root: Path, plan: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([AUTOGLM, "exec", str(plan), "--wait-for-approval", "--json"], cwd=root,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(root), start_new_session=True)


def _open_requests(root: Path, count: int) -> dict[str, dict[str, Any]]:
    def found() -> dict[str, dict[str, Any]] | None:
        listed = autoglm(root, "approvals", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        return {r["step_id"]: r for r in rows} if len(rows) == count else None

    requests: dict[str, dict[str, Any]] = wait(found, timeout=120, what=f"{count} open approval requests")
    return requests


def _finished(proc: subprocess.Popen[str]) -> tuple[int, dict[str, Any], str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, json.loads(out), err


def test_a_cli_run_waits_for_a_decision_made_by_autoglm_approvals_in_another_process(
        tmp_path: Path, work: WorkService) -> None:
    db_url = f"sqlite:///{tmp_path / 'approvals.db'}"
    root = write_config(tmp_path, db_url, work, approvals={"timeout_s": 600, "poll_s": 0.2})
    me = f"cli:{getpass.getuser()}"
    approved_run, denied_run = _exec(root, _plan(root, "p")), _exec(root, _plan(root, "q"))
    try:
        asked = _open_requests(root, 2)
        assert {r["tool"] for r in asked.values()} == {"work.charge"}
        assert asked["p2"]["args"] == {"body": {"step": "p2"}} and asked["p2"]["status"] == "pending"
        assert work.calls["p2"] == work.calls["q2"] == 0  # nothing charged before a person says so
        assert approved_run.poll() is None and denied_run.poll() is None  # waiting, not denied for want of a TTY

        shown = autoglm(root, "approvals", "show", asked["p2"]["id"])
        assert shown.returncode == 0 and "work.charge" in shown.stdout and '"step": "p2"' in shown.stdout

        approve = autoglm(root, "approvals", "approve", asked["p2"]["id"], "--reason", "expected order")
        assert approve.returncode == 0, approve.stderr
        assert approve.stderr.strip() == (f"approved {asked['p2']['id']} (work.charge, task "
                                          f"{asked['p2']['task_id']} step p2) as {me}")
        deny = autoglm(root, "approvals", "deny", asked["q2"]["id"], "--reason", "not this customer")
        assert deny.returncode == 0, deny.stderr

        code, approved, _ = _finished(approved_run)
        assert code == 0 and approved["status"] == "succeeded", approved
        code, denied, _ = _finished(denied_run)
        assert code == 0 and denied["status"] == "partial", denied  # q1 done, q2 refused, q3 never ran
    finally:
        for proc in (approved_run, denied_run):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    assert work.calls == Counter({"p1": 1, "p2": 1, "p3": 1, "q1": 1})
    failed = next(s for s in denied["steps"] if s["id"] == "q2")
    assert "not approved" in failed["error"]

    # One decision wins: a second one, either way, is refused in one line (the gateway answers 409 for it).
    again = autoglm(root, "approvals", "deny", asked["p2"]["id"], "--reason", "changed my mind")
    assert again.returncode != 0 and again.stdout == ""
    assert again.stderr == f"autoglm: error: approval {asked['p2']['id']} is already approved (by {me})\n"
    unknown = autoglm(root, "approvals", "approve", "nosuchid")
    assert unknown.returncode != 0 and len(unknown.stderr.splitlines()) == 1
    assert unknown.stderr.startswith("autoglm: error: no approval request nosuchid")

    assert autoglm(root, "approvals", "list", "--json").stdout.strip() == "[]"
    history = json.loads(autoglm(root, "approvals", "list", "--all", "--json").stdout)
    assert {(r["step_id"], r["status"], r["decided_by"], r["reason"]) for r in history} == {
        ("p2", "approved", me, "expected order"), ("q2", "denied", me, "not this customer")}

    # The decision and who made it are in each task's trace, as a gateway's are.
    store = Store(db_url)
    try:
        for result, status in ((approved, "approved"), (denied, "denied")):
            decided = [e.data for e in store.events(result["task_id"])
                       if e.kind == "approval" and e.data.get("status") == status]
            assert decided and decided[0]["by"] == me, decided
            assert decided[0]["reason"] == ("expected order" if status == "approved" else "not this customer")
    finally:
        store.close()


def test_a_rerun_question_left_by_a_killed_cli_run_is_decided_with_autoglm_approvals(
        tmp_path: Path, work: WorkService) -> None:
    """`autoglm exec` killed (``kill -9``) while its approved charge is in flight; `autoglm resume` asks whether to
    charge again (a ``rerun`` request saying why) and waits; `autoglm approvals approve` says yes: charged once
    more, the task succeeds."""
    db_url = f"sqlite:///{tmp_path / 'rerun.db'}"
    root = write_config(tmp_path, db_url, work, approvals={"timeout_s": 600, "poll_s": 0.2})
    plan = chain("r", 3, r2={"uses": "work.charge", "with": {"body": {"step": "r2"}}, "idempotency_key": "charge-r2"})
    (root / "r.json").write_text(json.dumps(plan))
    work.hold("r2")
    with started(root, "exec", "r.json", "--wait-for-approval", "--json"):
        asked = _open_requests(root, 1)["r2"]
        assert autoglm(root, "approvals", "approve", asked["id"]).returncode == 0
        work.wait_for_call("r2")
    # started() killed it (kill -9) with the charge in flight: key claimed, no outcome recorded.
    work.let_go("r2")
    task_id = asked["task_id"]
    resumed = subprocess.Popen([AUTOGLM, "resume", task_id, "--json"], cwd=root, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(root),
                               start_new_session=True)
    try:
        rerun = _open_requests(root, 1)["r2"]
        assert rerun["kind"] == "rerun" and rerun["task_id"] == task_id
        shown = autoglm(root, "approvals", "show", rerun["id"])
        assert shown.returncode == 0, shown.stderr
        assert "run this call again?" in shown.stdout and "idempotency key 'charge-r2'" in shown.stdout
        assert autoglm(root, "approvals", "approve", rerun["id"], "--reason", "the bank has no such charge"
                       ).returncode == 0
        code, result, _ = _finished(resumed)
        assert code == 0 and result["status"] == "succeeded", result
    finally:
        if resumed.poll() is None:
            resumed.kill()
            resumed.communicate()
    assert work.calls == Counter({"r1": 1, "r2": 2, "r3": 1})
