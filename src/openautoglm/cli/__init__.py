"""The ``autoglm`` command: a thin shell over :class:`openautoglm.AutoGLM`.

A user's mistake ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..encodable import is_encodable
from ..errors import AutoGLMError
from ..events import Event
from .approvals import approvals_app
from .common import (
    ConfigOption,
    JsonFlag,
    WaitForApprovalFlag,
    _json_object,
    execute_and_show,
    fail,
    make_app,
    run_async,
    run_task,
    show_result,
)
from .kb import kb_app
from .keys import keys_app
from .mcp import mcp_app
from .node import node_app
from .policy import policy_app
from .render import print_plan, print_trace, progress_printer
from .report import report_app
from .secrets import secrets_app
from .serve import serve
from .sessions import sessions_app
from .support import support_app
from .workflows import workflows_app

app = typer.Typer(
    name="autoglm",
    help="Open-AutoGLM: plan a request into steps, run them in parallel on models and tools, answer with a trace.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
tools_app = typer.Typer(help="List and call tools.", invoke_without_command=True)
app.add_typer(tools_app, name="tools")

@app.command()
def run(
    request: Annotated[str, typer.Argument(help="what you want done, in Chinese or English")],
    json_out: JsonFlag = False,
    model: Annotated[str | None, typer.Option("--model", "-m", help="model provider: local, a node, a URL")] = None,
    session: Annotated[str | None, typer.Option("--session", "-s", help="session id, for follow-ups")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no live progress on stderr")] = False,
    steps: Annotated[bool, typer.Option("--steps", help="after the answer, each step's result")] = False,
    wait_for_approval: WaitForApprovalFlag = False,
    config: ConfigOption = None,
) -> None:
    """Plan REQUEST, run the plan, print the answer."""
    glm = make_app(config, wait_for_approval=wait_for_approval, model_provider=model)
    on_event = None if (json_out or quiet) else progress_printer()
    show_result(run_task(lambda task_id: glm.run(request, session_id=session, on_event=on_event, task_id=task_id),
                         glm), json_out, glm if steps else None)


@app.command()
def plan(
    request: Annotated[str, typer.Argument(help="what you want done")],
    json_out: JsonFlag = False,
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="why each tool: scores, matched words, slots")] = False,
    config: ConfigOption = None,
) -> None:
    """Print the plan for REQUEST without running it."""
    glm = make_app(config, model_provider=model)
    if explain:
        from ..planning.explain import explain_request, print_explanation

        data = run_async(lambda: explain_request(glm, request), glm)
        if json_out:
            typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        else:
            print_explanation(data)
        return
    result = run_async(lambda: glm.plan(request), glm)
    if json_out:
        typer.echo(json.dumps(result.dump(), ensure_ascii=False, indent=2))
    else:
        print_plan(result)


@app.command("exec")
def exec_(
    file: Annotated[Path, typer.Argument(help="a plan (.json) or workflow (.yaml)")],
    inputs: Annotated[str | None, typer.Option("--inputs", help="workflow inputs as a JSON object")] = None,
    json_out: JsonFlag = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    wait_for_approval: WaitForApprovalFlag = False,
    config: ConfigOption = None,
) -> None:
    """Run a plan or workflow file."""
    values = _json_object(inputs, "--inputs") if inputs else {}
    execute_and_show(make_app(config, wait_for_approval=wait_for_approval), file, values, json_out, quiet)


@app.command()
def trace(
    task_id: Annotated[str, typer.Argument(help="the id `autoglm run` printed")],
    json_out: JsonFlag = False,
    html: Annotated[Path | None, typer.Option("--html", help="write the plan graph and timeline to this HTML file",
                                              dir_okay=False)] = None,
    config: ConfigOption = None,
) -> None:
    """Print the audit trail of a task (or draw it: --html FILE)."""
    glm = make_app(config)
    try:
        events: list[Event] = glm.trace(task_id)
    finally:
        glm.store.close()
    if html is not None:
        from .trace_page import trace_page

        try:
            html.write_text(trace_page(task_id, events), encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {html}: {exc.strerror or exc}")
        typer.echo(f"wrote {html} ({len(events)} events)", err=True)
    elif json_out:
        typer.echo(json.dumps([e.to_dict() for e in events], ensure_ascii=False, indent=2, default=str))
    else:
        print_trace(task_id, events)


@app.command()
def resume(task_id: Annotated[str, typer.Argument()], json_out: JsonFlag = False,
           wait_for_approval: WaitForApprovalFlag = False, config: ConfigOption = None) -> None:
    """Continue an interrupted task: finished steps keep their results, the rest run."""
    glm = make_app(config, wait_for_approval=wait_for_approval)
    show_result(run_async(lambda: glm.resume(task_id, on_event=None if json_out else progress_printer()), glm),
                json_out)


@tools_app.callback()
def tools_list(ctx: typer.Context, json_out: JsonFlag = False, config: ConfigOption = None) -> None:
    """List every tool with its source, schema and permissions."""
    if ctx.invoked_subcommand is not None:
        return
    glm = make_app(config)
    specs = run_async(glm.load_tools, glm).specs()  # MCP servers' tools too
    if json_out:
        typer.echo(json.dumps([s.model_dump() for s in specs], ensure_ascii=False, indent=2))
        return
    for s in specs:
        flags = []
        if s.side_effects:
            flags.append("side effects: needs approval")
        if s.roles is not None:
            flags.append("roles: " + ",".join(s.roles))
        args = ", ".join(s.parameters.get("properties", {}))
        typer.echo(f"{s.name}({args})  [{s.source}]{'  ' + '; '.join(flags) if flags else ''}")
        typer.echo(f"    {s.description}")


@tools_app.command("call")
def tools_call(
    name: Annotated[str, typer.Argument(help="tool name, as `autoglm tools` lists it")],
    args: Annotated[str, typer.Option("--args", help="arguments as a JSON object")] = "{}",
    config: ConfigOption = None,
) -> None:
    """Run one tool directly and print its result as JSON."""
    values = _json_object(args, "--args")
    glm = make_app(config)
    result = run_async(lambda: glm.call_tool(name, values), glm)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))


@app.command()
def models(json_out: JsonFlag = False, config: ConfigOption = None) -> None:
    """List the configured model nodes."""
    glm = make_app(config)
    rows = glm.describe_models()
    if json_out:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    for row in rows:
        typer.echo("  ".join(f"{k}={v}" for k, v in row.items()))


# Sub-commands of the other rooms. Each lives in its own module (cli/kb.py, cli/keys.py, ...) that defines a
# typer app or command with what cli/common.py shares; register it here with one line (and its import above).
# --- sub-commands ---
app.add_typer(mcp_app, name="mcp")
app.add_typer(workflows_app, name="workflows")
app.command("serve")(serve)
app.add_typer(keys_app, name="keys")
app.add_typer(sessions_app, name="sessions")
app.add_typer(node_app, name="node")
app.add_typer(policy_app, name="policy")
app.add_typer(kb_app, name="kb")
app.add_typer(secrets_app, name="secrets")
app.add_typer(support_app, name="support")
app.add_typer(report_app, name="report")
app.add_typer(approvals_app, name="approvals")
# --- end sub-commands ---


def main() -> None:
    import os

    from ..logs import configure_logging

    configure_logging(os.environ.get("AUTOGLM_LOG_LEVEL", "WARNING"))
    # Bytes that are not UTF-8 reach us as lone surrogates (surrogateescape), which nothing can store or print.
    bad = next((i for i, arg in enumerate(sys.argv[1:], 1) if not is_encodable(arg)), None)
    if bad is not None:
        typer.echo(f"autoglm: error: argument {bad} is not valid UTF-8 text; check the terminal's encoding "
                   "(LANG/LC_ALL) or the bytes passed", err=True)
        sys.exit(2)
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("autoglm: aborted", err=True)
        sys.exit(1)
    except AutoGLMError as exc:
        typer.echo(f"autoglm: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("autoglm: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        usage = usage_error(exc)
        if usage is None:
            raise  # a bug of ours: the traceback is what a report needs
        message, code = usage
        typer.echo(message, err=True)
        sys.exit(code)


def usage_error(exc: BaseException) -> tuple[str, int] | None:
    """click's own errors (unknown option or command, missing argument, bad value) as one line and an exit code.

    Recognised by shape, not class: typer ≥ 0.22 vendors click (``typer._click``), older typer uses ``click``, and
    the two hierarchies are unrelated. ``no_args_is_help`` raises one of these too, carrying the help text."""
    format_message = getattr(exc, "format_message", None)
    code = getattr(exc, "exit_code", None)
    if not callable(format_message) or not isinstance(code, int):
        return None
    if type(exc).__name__ == "NoArgsIsHelpError":
        return str(format_message()).rstrip(), code
    ctx = getattr(exc, "ctx", None)
    where = getattr(ctx, "command_path", None) or "autoglm"
    return f"autoglm: error: {' '.join(str(format_message()).split())} (see `{where} --help`)", code


__all__ = ["ConfigOption", "JsonFlag", "app", "execute_and_show", "fail", "main", "make_app", "run_async",
           "show_result", "usage_error"]
