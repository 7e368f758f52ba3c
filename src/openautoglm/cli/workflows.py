"""`autoglm workflows`: the YAML workflows in the workflows folder (each is also the tool `workflow.<name>`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .common import ConfigOption, JsonFlag, _json_object, execute_and_show, make_app

workflows_app = typer.Typer(help="List and run YAML workflows.", no_args_is_help=True)


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


@workflows_app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="a name `autoglm workflows list` shows")],
    inputs: Annotated[str | None, typer.Option("--inputs", help="the workflow's inputs as a JSON object")] = None,
    json_out: JsonFlag = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    config: ConfigOption = None,
) -> None:
    """Run a workflow by name."""
    values = _json_object(inputs, "--inputs") if inputs else {}
    glm = make_app(config)
    execute_and_show(glm, glm.workflows.get(name).plan, values, json_out, quiet)
