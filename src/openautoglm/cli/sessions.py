"""`autoglm sessions`: the conversations `autoglm run --session ID` remembers."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from .common import ConfigOption, JsonFlag, make_app

sessions_app = typer.Typer(help="List, show, export and delete conversation sessions.", no_args_is_help=True)

SessionId = Annotated[str, typer.Argument(help="a session id, as `autoglm sessions list` shows it")]


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


@sessions_app.command("list")
def list_(
    json_out: JsonFlag = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 100,
    config: ConfigOption = None,
) -> None:
    """List sessions, most recently used first."""
    glm = make_app(config)
    try:
        infos = glm.sessions.list(limit=limit)
    finally:
        glm.store.close()
    if json_out:
        typer.echo(json.dumps([asdict(i) for i in infos], ensure_ascii=False, indent=2))
        return
    if not infos:
        typer.echo("no sessions yet (`autoglm run --session ID ...` starts one)", err=True)
    for i in infos:
        last = (i.last_request or "")[:60]
        typer.echo(f"{i.id}  {i.turns} turns  {_when(i.updated_at)}  {last}")


@sessions_app.command("show")
def show(session_id: SessionId, json_out: JsonFlag = False, config: ConfigOption = None) -> None:
    """Print a session's summary and turns."""
    glm = make_app(config)
    try:
        info = glm.sessions.get(session_id)
        turns = glm.sessions.turns(session_id)
    finally:
        glm.store.close()
    if json_out:
        typer.echo(json.dumps({"session": asdict(info), "turns": [asdict(t) for t in turns]},
                              ensure_ascii=False, indent=2))
        return
    typer.echo(f"session {info.id}: {info.turns} turns, since {_when(info.created_at)}")
    if info.summary:
        typer.echo("summary of earlier turns:")
        for line in info.summary.splitlines():
            typer.echo(f"  {line}")
    for t in turns:
        typer.echo(f"[{t.seq}] {_when(t.created_at)}  ({t.status}{', task ' + t.task_id if t.task_id else ''})")
        typer.echo(f"  > {t.request}")
        said = t.question if t.status == "needs_input" and t.question else t.answer
        for line in (said or "").splitlines() or [""]:
            typer.echo(f"  {line}")


@sessions_app.command("export")
def export(
    session_id: SessionId,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file instead of stdout")] = None,
    config: ConfigOption = None,
) -> None:
    """Export a session (summary and every turn with its plan) as JSON."""
    glm = make_app(config)
    try:
        data = glm.sessions.export(session_id)
    finally:
        glm.store.close()
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {data['session']['turns']} turns to {output}", err=True)


@sessions_app.command("delete")
def delete(session_id: SessionId, config: ConfigOption = None) -> None:
    """Forget a session and all its turns."""
    glm = make_app(config)
    try:
        gone = glm.sessions.delete(session_id)
    finally:
        glm.store.close()
    typer.echo(f"deleted session {session_id} ({gone} turns)", err=True)
