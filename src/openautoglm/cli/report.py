"""`autoglm report`: run report definitions to HTML and PDF, list them, and schedule them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .common import ConfigOption, JsonFlag, make_app, run_async

report_app = typer.Typer(help="Run, list and schedule reports (reports/NAME.yaml).", no_args_is_help=True)


@report_app.command("list")
def list_(json_out: JsonFlag = False, config: ConfigOption = None) -> None:
    """List the report definitions (yours, then the bundled ones)."""
    glm = make_app(config)
    rows = [d.summary() for d in glm.reports.library.all()]
    if json_out:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['name']}  [{row['path']}]  period {row['period']}, {len(row['charts'])} charts")
        typer.echo(f"    {row['title']}: {row['description']}")


@report_app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="a name `autoglm report list` shows")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="folder for report.html and report.pdf "
                                             "(default: a new one under the data dir)", file_okay=False)] = None,
    period: Annotated[str | None, typer.Option("--period", "-p", help="last_month, last_week, 2026-10, "
                                               "2026-10-01..2026-10-31, 上个月 ... (default: the report's)")] = None,
    json_out: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Run a report: write report.html and report.pdf, print where and the key figures."""
    glm = make_app(config)
    output = run_async(lambda: glm.reports.run(name, period, out), glm)
    if json_out:
        typer.echo(json.dumps(output.to_dict(), ensure_ascii=False, indent=2))
        return
    typer.echo(f"{output.title} ({output.period.describe()})")
    for item in output.key_figures:
        typer.echo(f"  {item['label']}: {item['text']}")
    typer.echo(f"html: {output.html_path}")
    typer.echo(f"pdf:  {output.pdf_path}")
    for note in output.notes:
        typer.echo(f"autoglm: warning: {note}", err=True)
    typer.echo(f"({output.charts} charts in {output.seconds:.1f}s)", err=True)
