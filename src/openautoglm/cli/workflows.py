"""`autoglm workflows`: the YAML workflows in the workflows folder (each is also the tool `workflow.<name>`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import ConfigOption, JsonFlag, _json_object, execute_and_show, fail, make_app, run_async

workflows_app = typer.Typer(help="List, check and run YAML workflows.", no_args_is_help=True)


@workflows_app.command("list")
def list_(json_out: JsonFlag = False, config: ConfigOption = None) -> None:
    """List the workflows with their inputs and files."""
    glm = make_app(config)
    rows = [w.summary() for w in glm.workflows]
    if json_out:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        from ..tools.workflows import default_dirs

        folders = " or ".join(str(d) for d in default_dirs(glm.settings))
        typer.echo(f"no workflows (put YAML workflows in {folders})", err=True)
        return
    for row in rows:
        inputs = ", ".join(f"{k}: {v.get('type', 'string')}" for k, v in row["inputs"].items())
        typer.echo(f"{row['tool']}({inputs})  [{row['path']}]")
        typer.echo(f"    {row['description']}")


@workflows_app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="a workflow file (.yaml)")],
    json_out: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Check a workflow file against the configured tools: every problem, one per line; exit 1 if any."""
    from ..tools.workflow_check import workflow_file_problems

    glm = make_app(config)
    tools = run_async(glm.load_tools, glm)
    problems = workflow_file_problems(file, tools)
    if json_out:
        typer.echo(json.dumps({"file": str(file), "problems": problems}, ensure_ascii=False, indent=2))
    elif problems:
        for problem in problems:
            typer.echo(f"{file}: {' '.join(problem.split())}")
    else:
        typer.echo(f"{file}: ok")
    if problems:
        raise typer.Exit(1)


@workflows_app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="a name `autoglm workflows list` shows, or a workflow file")],
    inputs: Annotated[str | None, typer.Option("--inputs", help="the workflow's inputs as a JSON object")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="call no tool with side effects: simulate each from "
                                          "its output schema (or a recorded output) and show its arguments")]
    = False,
    json_out: JsonFlag = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    config: ConfigOption = None,
) -> None:
    """Run a workflow by name or file (--dry-run: without side effects)."""
    values = _json_object(inputs, "--inputs") if inputs else {}
    glm = make_app(config)
    path = Path(name)
    plan: Any = path if path.suffix.lower() in (".yaml", ".yml", ".json") else glm.workflows.get(name).plan
    if not dry_run:
        execute_and_show(glm, plan, values, json_out, quiet)
        return
    from ..errors import AutoGLMError

    try:
        results, events = run_async(lambda: glm.dry_run(plan, values), glm)
    except AutoGLMError as exc:
        fail(" ".join(str(exc).split()))
    _show_dry_run(results, events, json_out)


def _show_dry_run(results: dict[str, Any], events: list[Any], json_out: bool) -> None:
    from ..engine import preview
    from ..events import EventKind

    shown = {EventKind.STEP_STARTED, EventKind.STEP_SIMULATED, EventKind.STEP_FINISHED, EventKind.STEP_FAILED,
             EventKind.STEP_SKIPPED, EventKind.COMPENSATION, EventKind.IDEMPOTENCY}
    failed = [r.id for r in results.values() if str(r.status) == "failed"]
    if json_out:
        typer.echo(json.dumps({"dry_run": True, "failed": failed,
                               "events": [e.to_dict() for e in events if e.kind in shown]},
                              ensure_ascii=False, indent=2, default=str))
    else:
        for e in events:
            d = e.data
            if e.kind == EventKind.STEP_SIMULATED:
                typer.echo(f"{e.step_id}: would call {d['uses']}({_args(d['args'])}) [simulated from "
                           f"{d['source']}: {preview(d['output'], 200)}]")
            elif e.kind == EventKind.STEP_FINISHED and not _simulated(events, e.step_id):
                typer.echo(f"{e.step_id}: ran {d['uses']} (no side effects) -> {preview(d['output'], 200)}")
            elif e.kind == EventKind.STEP_SKIPPED:
                typer.echo(f"{e.step_id}: skipped ({d['reason']})")
            elif e.kind == EventKind.STEP_FAILED:
                typer.echo(f"{e.step_id}: failed: {d['error']}")
            elif e.kind == EventKind.COMPENSATION and d["status"] == "started":
                typer.echo(f"{e.step_id}: would be undone by {d['uses']}({_args(d['args'])})")
        typer.echo("(dry run: nothing with side effects was called, nothing recorded)", err=True)
    if failed:
        raise typer.Exit(1)


def _simulated(events: list[Any], step_id: str | None) -> bool:
    return any(e.kind == "step.simulated" and e.step_id == step_id for e in events)


def _args(args: Any) -> str:
    if isinstance(args, dict):
        return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
    return json.dumps(args, ensure_ascii=False)


@workflows_app.command("forget-key")
def forget_key(
    key: Annotated[str, typer.Argument(help="an idempotency key a step recorded")],
    config: ConfigOption = None,
) -> None:
    """Drop a recorded idempotency key (after checking the target system), so the step may run again."""
    glm = make_app(config)
    if not glm.store.forget_key(key):
        fail(f"no idempotency key {key!r} is recorded")
    typer.echo(f"forgot {key}")


@workflows_app.command("schedule")
def schedule(
    name: Annotated[str, typer.Argument(help="a name `autoglm workflows list` shows, or a workflow file (every "
                                        "gateway replica must be able to read it)")],
    cron: Annotated[str, typer.Option("--cron", help="when, as cron: '0 1 * * *' is every day at 01:00")],
    inputs: Annotated[str | None, typer.Option("--inputs", help="the workflow's inputs as a JSON object (the "
                                               "slot's time is the input scheduled_at, if the workflow has it)")]
    = None,
    json_out: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Start a workflow on a schedule (the gateway starts it; each slot once across replicas)."""
    values = _json_object(inputs, "--inputs") if inputs else {}
    glm = make_app(config)
    record = run_async(lambda: glm.schedule_workflow(name, cron, values), glm)
    if json_out:
        typer.echo(json.dumps(record.public(), ensure_ascii=False))
        return
    typer.echo(f"scheduled {record.id}: workflow {record.name} at '{cron}'")


@workflows_app.command("schedules")
def schedules(json_out: JsonFlag = False, config: ConfigOption = None) -> None:
    """List workflow schedules."""
    glm = make_app(config)
    try:
        rows = [s.public() for s in glm.store.schedules(kind="workflow")]
    finally:
        glm.store.close()
    if json_out:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("no workflow schedules (add one with `autoglm workflows schedule NAME --cron ...`)", err=True)
    for row in rows:
        typer.echo(f"{row['id']}  {row['name']}  '{row['cron']}'  inputs {json.dumps(row['inputs'] or {})}")


@workflows_app.command("unschedule")
def unschedule(schedule_id: Annotated[str, typer.Argument(help="an id `autoglm workflows schedules` shows")],
               config: ConfigOption = None) -> None:
    """Remove a workflow schedule."""
    glm = make_app(config)
    try:
        glm.store.remove_schedule(schedule_id, kind="workflow")
    finally:
        glm.store.close()
    typer.echo(f"removed {schedule_id}")
