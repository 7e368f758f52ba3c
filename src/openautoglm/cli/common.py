"""What every ``autoglm`` command shares: the --config and --json options, building the facade, running a
coroutine, showing a finished task, and failing with one line on stderr."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ..app import AutoGLM, RunResult, new_task_id
from .render import print_steps, progress_printer

T = TypeVar("T")
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="autoglm.yaml to read")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]
WaitForApprovalFlag = Annotated[bool, typer.Option(
    "--wait-for-approval", help="a tool with side effects files an approval request in the store and waits "
    "(approvals.timeout_s) for `autoglm approvals approve ID` in another terminal or POST /v1/approvals/ID, "
    "instead of asking at this terminal")]


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"autoglm: error: {message}", err=True)
    raise typer.Exit(code)


def make_app(config: Path | None, *, wait_for_approval: bool = False, **overrides: Any) -> AutoGLM:
    from ..config import load_settings

    settings = load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    glm = AutoGLM(settings=settings, approver=None if wait_for_approval else _interactive_approver())
    if wait_for_approval:  # decided by whoever reaches the store: `autoglm approvals`, any gateway
        glm.approver = glm.services.stored_approvals().approver
    for problem in glm.workflows.skipped:  # the command goes on without the broken file
        typer.echo(f"autoglm: warning: {problem}", err=True)
    return glm


def _interactive_approver() -> Any:
    """Ask at the terminal before a tool with side effects runs; with no terminal, nobody can approve."""
    if not sys.stdin.isatty():
        return None

    async def approve(tool: Any, args: dict[str, Any], ctx: Any) -> bool:
        prompt = f"Allow {tool.name} with {json.dumps(args, ensure_ascii=False)[:300]}?"
        return await asyncio.to_thread(typer.confirm, prompt, default=False, err=True)

    return approve


def run_async(factory: Callable[[], Coroutine[Any, Any, T]], glm: AutoGLM | None = None) -> T:
    async def main() -> T:
        try:
            return await factory()
        finally:
            if glm is not None:
                await glm.aclose()

    return asyncio.run(main())


def run_task(factory: Callable[[str], Coroutine[Any, Any, RunResult]], glm: AutoGLM) -> RunResult:
    """Run a task the CLI starts, under an id chosen here so that Ctrl-C can name it: the task is left
    ``cancelled`` (no gateway takes it up behind the person's back) and the line says how to go on."""
    task_id = new_task_id()
    try:
        return run_async(lambda: factory(task_id), glm)
    except KeyboardInterrupt:
        typer.echo(f"autoglm: interrupted: task {task_id} is cancelled; `autoglm resume {task_id}` continues it",
                   err=True)
        raise typer.Exit(130) from None


def show_result(result: RunResult, json_out: bool, steps_of: AutoGLM | None = None) -> None:
    """A finished task: as JSON, or the answer on stdout and its id, status and confidence on stderr; exit 1 if
    it failed. With ``steps_of`` (the app, whose tools word each result) the step-by-step view follows."""
    if json_out:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(result.answer)
        if steps_of is not None:
            typer.echo("")
            print_steps(result, steps_of.tools)
        confidence = f", confidence {result.confidence:.2f}" if result.confidence is not None else ""
        typer.echo(f"(task {result.task_id}: {result.status}{confidence}; `autoglm trace {result.task_id}` shows "
                   "every step)", err=True)
    if result.status == "failed":
        raise typer.Exit(1)


def execute_and_show(glm: AutoGLM, plan: Any, inputs: dict[str, Any], json_out: bool, quiet: bool) -> None:
    """Run a plan or workflow (a path, a dict or a Plan) with live progress unless asked not to, and show it."""
    on_event = None if (json_out or quiet) else progress_printer()
    show_result(run_task(lambda task_id: glm.execute(plan, inputs=inputs, on_event=on_event, task_id=task_id), glm),
                json_out)


def _json_object(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{option} is not valid JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(value, dict):
        fail(f"{option} must be a JSON object like '{{\"name\": \"value\"}}'")
    return value
