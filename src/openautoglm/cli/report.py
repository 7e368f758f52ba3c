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


@report_app.command("schedule")
def schedule(
    name: Annotated[str, typer.Argument(help="a name `autoglm report list` shows")],
    cron: Annotated[str, typer.Option("--cron", help="when, as cron: '0 1 * * *' is every day at 01:00")],
    email: Annotated[list[str] | None, typer.Option("--email", help="mail the report here (repeatable)")] = None,
    webhook: Annotated[str | None, typer.Option("--webhook", help="POST the result (JSON) here")] = None,
    period: Annotated[str | None, typer.Option("--period", help="default: the report's own")] = None,
    json_out: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Run a report on a schedule (the gateway runs it; each slot once across replicas) and deliver it."""
    glm = make_app(config)
    try:
        record = glm.schedule_report(name, cron, list(email or []), webhook, period)
    finally:
        glm.store.close()
    if json_out:
        typer.echo(json.dumps(record.public(), ensure_ascii=False))
        return
    to = ", ".join(record.emails + ([webhook] if webhook else []))
    typer.echo(f"scheduled {record.id}: {name} at '{cron}' to {to}")


@report_app.command("schedules")
def schedules(json_out: JsonFlag = False, config: ConfigOption = None) -> None:
    """List report schedules."""
    glm = make_app(config)
    try:
        rows = [s.public() for s in glm.store.schedules(kind="report")]
    finally:
        glm.store.close()
    if json_out:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("no report schedules (add one with `autoglm report schedule NAME --cron ... --email ...`)", err=True)
    for row in rows:
        to = ", ".join(row["emails"] + ([row["webhook"]] if row["webhook"] else []))
        typer.echo(f"{row['id']}  {row['name']}  '{row['cron']}'  → {to}")


@report_app.command("unschedule")
def unschedule(schedule_id: Annotated[str, typer.Argument(help="an id `autoglm report schedules` shows")],
               config: ConfigOption = None) -> None:
    """Remove a report schedule."""
    glm = make_app(config)
    try:
        glm.store.remove_schedule(schedule_id)
    finally:
        glm.store.close()
    typer.echo(f"removed {schedule_id}")


@report_app.command("runs")
def runs(limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20, json_out: JsonFlag = False,
         config: ConfigOption = None) -> None:
    """The latest scheduled runs: slot, status, files or error."""
    glm = make_app(config)
    try:
        rows = [r.public() for r in glm.store.report_runs(limit)]
    finally:
        glm.store.close()
    if json_out:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    import time

    for row in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row["slot"]))
        what = (row["result"] or {}).get("pdf") or row["error"] or ""
        typer.echo(f"{when}  {row['schedule_id']}  {row['status']:<9}  task {row['task_id']}  {what}")
