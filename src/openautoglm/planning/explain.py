"""Why a plan is what it is: for ``autoglm plan --explain``."""

from __future__ import annotations

import json
from typing import Any

import typer

from ..errors import ClarificationNeeded
from ..plan import render


async def explain_request(app: Any, request: str, session_id: str | None = None) -> dict[str, Any]:
    """Plan ``request`` with the app's planner and report the planner's reasons and the planning events."""
    events: list[dict[str, Any]] = []
    await app.load_tools()
    history = app.sessions.history(session_id) if session_id else []
    ctx = app.planning_context(lambda kind, **data: events.append({"kind": str(kind), **data}), history=history)
    out: dict[str, Any] = {"request": request, "planner": app.planner.name}
    try:
        plan = await app.planner.plan(request, ctx)
        out["plan"] = plan.dump()
    except ClarificationNeeded as need:
        out["question"] = need.question
        out["missing"] = need.missing
    out["explanation"] = ctx.explanation
    out["events"] = [e for e in events if e["kind"] != "intent"]
    intent = next((e for e in events if e["kind"] == "intent"), None)
    if intent:
        out["intent"] = {k: v for k, v in intent.items() if k != "kind"}
    return out


def print_explanation(data: dict[str, Any]) -> None:
    typer.echo(f"planner: {data['planner']}")
    for i, note in enumerate(data.get("explanation") or [], 1):
        if "part" not in note:
            typer.echo("  " + json.dumps(note, ensure_ascii=False, default=str))
            continue
        conn = f" (after '{note['connective']}')" if note.get("connective") else ""
        typer.echo(f"part {i}{conn}: {note['part']}")
        for cand in note.get("candidates") or []:
            mark = "→" if cand["tool"] == note.get("chosen") else " "
            words = ", ".join(cand.get("matched") or []) or "-"
            sem = f" semantic={cand['semantic']}" if "semantic" in cand else ""
            typer.echo(f"   {mark} {cand['tool']:<28} score={cand['score']:<6} lexical={cand['lexical']}{sem}"
                       f"  matched: {words}")
        for rejected in note.get("rejected") or []:
            typer.echo(f"     {rejected['tool']} not taken: could not fill {', '.join(rejected['missing'])}")
        chosen = note.get("chosen")
        if chosen:
            why = f"  ({note['why']})" if note.get("why") else ""
            typer.echo(f"   step {note.get('step')}: {chosen}{why}")
        fillers = note.get("fillers") or {}
        for arg, rule in (note.get("slots") or {}).items():
            by = f" [{fillers[arg]}]" if arg in fillers else ""
            typer.echo(f"     {arg} = {render((note.get('args') or {}).get(arg))[:120]}   ← {rule}{by}")
        if note.get("missing"):
            typer.echo(f"     missing: {', '.join(note['missing'])}")
        if note.get("then"):
            typer.echo(f"   then step {note['then']['step']}: {note['then']['uses']} ({note['then']['why']})")
    for event in data.get("events") or []:
        typer.echo(f"event {event['kind']}: " + json.dumps({k: v for k, v in event.items() if k != "kind"},
                                                          ensure_ascii=False, default=str)[:300])
    if data.get("question"):
        typer.echo(f"question for the user: {data['question']}")
    elif data.get("plan"):
        typer.echo("plan:")
        typer.echo(json.dumps(data["plan"], ensure_ascii=False, indent=2))
