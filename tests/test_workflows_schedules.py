"""Schedules start workflows too, through the one schedule mechanism (store rows, slot claims, the scheduler loop):
two replicas on one database (SQLite and PostgreSQL) queue the workflow once per cron slot with the slot's time as
its input, a replica taking over a dead one's slot does not queue it twice, a replica without the workflow job
leaves the slot to one with it; `autoglm workflows schedule|schedules|unschedule` check what they are given and
answer a mistake in one line. The clock is driven; the queue is the gateway's real task runner over the store."""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from opentelemetry import trace
from typer.testing import CliRunner

from openautoglm import AutoGLM
from openautoglm.cli import app as cli
from openautoglm.config import Settings
from openautoglm.errors import AutoGLMError
from openautoglm.schedules import Scheduler, SlotJob, WorkflowJob
from openautoglm.server.metrics import Metrics
from openautoglm.server.runner import TaskRunner
from openautoglm.server.triggers import schedule_starter
from openautoglm.store import Store
from test_reports_schedules import database_url  # noqa: F401  (the fixture: SQLite and PostgreSQL)

TALLY = {
    "name": "tally",
    "description": "Add up a sum at a scheduled time.",
    "inputs": {"expression": {"type": "string"}, "scheduled_at": {"type": "string"}},
    "steps": [{"id": "sum", "uses": "math.calculate", "with": {"expression": "${inputs.expression}"}}],
}


def write_flow(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "tally.yaml"
    path.write_text(yaml.safe_dump(TALLY, sort_keys=False), encoding="utf-8")
    return path


def replica(settings: Settings, name: str, clock: Any, with_workflows: bool = True) -> tuple[AutoGLM, Scheduler]:
    glm = AutoGLM(settings=settings, store=Store(settings.db_url))
    runner = TaskRunner(glm, Metrics(), trace.get_tracer("test"), 1)  # queues only: nothing claims in this test
    jobs: dict[str, SlotJob] = {}
    if with_workflows:
        jobs["workflow"] = WorkflowJob(glm.workflows, glm.store, schedule_starter(SimpleNamespace(runner=runner)))
    return glm, Scheduler(settings, glm.store, jobs, clock=clock, holder=name)


async def test_two_replicas_queue_the_workflow_once_per_slot_with_its_time(
        tmp_path: Path, database_url: str) -> None:  # noqa: F811
    write_flow(tmp_path / "flows")
    settings = Settings(home=tmp_path, database_url=database_url, workflows_dir=tmp_path / "flows")
    maker = AutoGLM(settings=settings, store=Store(database_url))
    record = await maker.schedule_workflow("tally", "* * * * *", {"expression": "6*7"})
    maker.store.close()

    now = [math.ceil(time.time() / 60) * 60 + 1.0]
    # A replica without the workflow job (say, one started before this kind existed) must not take the slots.
    bystander = replica(settings, "old", lambda: now[0], with_workflows=False)
    replicas = [replica(settings, name, lambda: now[0]) for name in ("gw-a", "gw-b")]
    try:
        ran = 0
        for _ in range(5):  # 0, 30, 60, 90, 120 s: the slots of three whole minutes
            assert await bystander[1].tick() == 0
            ran += sum(await asyncio.gather(*(s.tick() for _, s in replicas)))
            now[0] += 30
        assert ran == 3
        store = replicas[0][0].store
        runs = sorted(store.report_runs(schedule_id=record.id), key=lambda r: r.slot)
        assert len(runs) == 3 and len({r.slot for r in runs}) == 3 and {r.holder for r in runs} <= {"gw-a", "gw-b"}
        for run in runs:
            assert run.status == "started" and run.task_id
            task = store.get_task(run.task_id)
            assert task.status == "queued" and task.owner == f"schedule:{record.id}" and task.role == "user"
            assert task.spec is not None and task.spec["kind"] == "plan"
            assert task.spec["plan"]["name"] == "tally"
            inputs = task.spec["inputs"]
            assert inputs["expression"] == "6*7"
            assert datetime.fromisoformat(inputs["scheduled_at"]).timestamp() == run.slot

        # A replica died holding a slot after queueing its run: the next one takes the slot over when the claim's
        # lease runs out, and finds the run already queued (the slot names its task) instead of queueing another.
        slot = runs[-1].slot + 60
        assert store.claim_slot(record.id, slot, "dead", 0.01)
        scheduler_a = replicas[0][1]
        job = scheduler_a.jobs["workflow"]
        schedule = next(s for s in store.schedules("workflow") if s.id == record.id)
        first = await job.run(schedule, slot, datetime.fromtimestamp(slot).astimezone())
        await asyncio.sleep(0.05)
        assert store.claim_slot(record.id, slot, "gw-a", 60)
        await scheduler_a.run_slot(job, schedule, slot)
        [taken] = [r for r in store.report_runs(schedule_id=record.id) if r.slot == slot]
        assert taken.holder == "gw-a" and taken.task_id == first.task_id
        assert len(store.list_tasks(owner=f"schedule:{record.id}", limit=100)) == 4
    finally:
        for glm, _ in [bystander, *replicas]:
            glm.store.close()


def autoglm(cwd: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, [args[0], args[1], "--config", str(cwd / "autoglm.yaml"), *args[2:]])


def said(result: Any) -> str:
    """What the command printed; a user's mistake raised as an AutoGLMError is printed by `main` as one line."""
    if isinstance(result.exception, AutoGLMError):
        return f"autoglm: error: {result.exception}"
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return str(result.output)


def test_the_cli_schedules_lists_and_removes_workflow_schedules_and_refuses_mistakes(tmp_path: Path) -> None:
    flow = write_flow(tmp_path / "flows")
    (tmp_path / "autoglm.yaml").write_text(yaml.safe_dump({
        "home": str(tmp_path / "home"), "workflows_dir": str(tmp_path / "flows")}), encoding="utf-8")

    made = autoglm(tmp_path, "workflows", "schedule", "tally", "--cron", "0 1 * * *", "--inputs",
                   '{"expression": "1+1"}', "--json")
    assert made.exit_code == 0, made.output
    by_name = json.loads(made.stdout)
    assert (by_name["kind"], by_name["name"], by_name["inputs"]) == ("workflow", "tally", {"expression": "1+1"})
    from_file = autoglm(tmp_path, "workflows", "schedule", str(flow), "--cron", "*/5 * * * *", "--inputs",
                        '{"expression": "2+2"}')
    assert from_file.exit_code == 0 and f"workflow {flow}" in from_file.stdout, from_file.output

    mistakes = {
        "unknown workflow": (["talley"], "no workflow named 'talley'"),
        "bad cron": (["tally", "--cron", "every day", "--inputs", '{"expression": "1"}'], "not a cron expression"),
        "unknown input": (["tally", "--inputs", '{"expression": "1", "colour": "red"}'], "no input 'colour'"),
        "missing input": (["tally"], "expression"),
        "wrong type": (["tally", "--inputs", '{"expression": 7}'], "input 'expression'"),
        "not JSON": (["tally", "--inputs", "{oops"], "--inputs"),
    }
    for what, (args, expected) in mistakes.items():
        if "--cron" not in args:
            args = [*args, "--cron", "0 1 * * *"]
        result = autoglm(tmp_path, "workflows", "schedule", *args)
        assert result.exit_code != 0, what
        printed = said(result)
        assert expected in printed and len(printed.strip().splitlines()) == 1, (what, printed)

    listed = autoglm(tmp_path, "workflows", "schedules", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["cron"]) for r in rows] == [("tally", "0 1 * * *"), (str(flow), "*/5 * * * *")]
    assert json.loads(autoglm(tmp_path, "report", "schedules", "--json").stdout) == []  # not a report's

    wrong_kind = autoglm(tmp_path, "report", "unschedule", rows[0]["id"])
    assert wrong_kind.exit_code != 0 and "no report schedule" in said(wrong_kind)
    removed = autoglm(tmp_path, "workflows", "unschedule", rows[0]["id"])
    assert removed.exit_code == 0, removed.output
    again = autoglm(tmp_path, "workflows", "unschedule", rows[0]["id"])
    assert again.exit_code != 0 and "no workflow schedule" in said(again)
    assert [r["name"] for r in json.loads(autoglm(tmp_path, "workflows", "schedules", "--json").stdout)] == [
        str(flow)]
