"""How the CLI shows plans, live progress and traces to a person."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import typer

from ..engine import StepStatus, preview
from ..events import Event, EventKind
from ..orchestrator import RunResult
from ..plan import Plan, render, step_dependencies
from ..tools.base import ToolRegistry

MARKS = {
    EventKind.STEP_STARTED: "▶",
    EventKind.STEP_FINISHED: "✓",
    EventKind.STEP_FAILED: "✗",
    EventKind.STEP_RETRY: "↻",
    EventKind.STEP_SKIPPED: "⤼",
    EventKind.FALLBACK: "⇢",
    EventKind.PLAN_MADE: "◆",
    EventKind.PLAN_REPAIRED: "✎",
    EventKind.PLAN_FALLBACK: "⇢",
    EventKind.CLARIFICATION: "?",
    EventKind.APPROVAL: "⚖",
    EventKind.TOOL_DENIED: "⛔",
}


def print_plan(plan: Plan) -> None:
    for step in plan.steps:
        deps = sorted(step_dependencies(step))
        after = f"  after {', '.join(deps)}" if deps else ""
        typer.echo(f"{step.id}: {step.uses}{after}")
        for key, value in step.with_.items():
            typer.echo(f"    {key} = {preview(value, 200)}")
    for part in plan.unsupported:
        typer.echo(f"unsupported: {part.text}")
        typer.echo(f"    reason = {part.reason}")
        if part.needs:
            typer.echo(f"    needs = {part.needs}")


def print_steps(result: RunResult, tools: ToolRegistry) -> None:
    """The step-by-step view (``run --steps``): each step's result as its tool words it, or why it has none."""
    if result.plan is None:
        return
    by_id = {r.id: r for r in result.steps}
    for step in result.plan.steps:
        r = by_id.get(step.id)
        if r is None:
            continue
        if r.status == StepStatus.SUCCEEDED:
            text = tools.get(step.uses).summarize(r.output) if step.uses in tools else render(r.output)
            label = f"[{step.id}] {step.description.strip()} → " if step.description else f"[{step.id}] "
            typer.echo(f"{label}{text.strip()}")
        else:
            typer.echo(f"[{step.id}] {step.uses} {r.status}: {r.error}")
    for part in result.plan.unsupported:
        typer.echo(f"[unsupported] {part.text}: {part.reason}")


def progress_printer(stream: Any = None) -> Callable[[Event], None]:
    """A live view of steps starting and finishing, one line each, on stderr."""
    out = stream or sys.stderr
    start = time.monotonic()

    def show(event: Event) -> None:
        mark = MARKS.get(EventKind(event.kind)) if event.kind in EventKind._value2member_map_ else None
        if mark is None:
            return
        elapsed = time.monotonic() - start
        print(f"{elapsed:7.2f}s {mark} {describe_event(event)}", file=out, flush=True)

    return show


def describe_event(event: Event) -> str:
    d = event.data
    step = f"{event.step_id} " if event.step_id else ""
    kind = event.kind
    if kind == EventKind.STEP_STARTED:
        return f"{step}{d.get('uses', '')} started"
    if kind == EventKind.STEP_FINISHED:
        return f"{step}{d.get('uses', '')} done in {d.get('duration_s', 0):.2f}s" + (
            f" on {d['node']}" if d.get("node") else "") + f": {preview(d.get('output'), 120)}"
    if kind == EventKind.STEP_FAILED:
        return f"{step}failed after {d.get('attempts', 0)} attempt(s): {d.get('error')}"
    if kind == EventKind.STEP_RETRY:
        return f"{step}retry {d.get('attempt')} in {d.get('delay_s', 0):.2f}s after: {d.get('error')}"
    if kind == EventKind.STEP_SKIPPED:
        return f"{step}skipped: {d.get('reason')}"
    if kind == EventKind.PLAN_MADE:
        steps = d.get("plan", {}).get("steps", [])
        return f"plan by {d.get('planner', '?')}: " + ", ".join(f"{s['id']}={s['uses']}" for s in steps)
    if kind == EventKind.MODEL_COMPLETION:
        return (f"{step}{d.get('model')} on {d.get('node')}: {d.get('prompt_tokens')} → "
                f"{d.get('completion_tokens')} tokens")
    if kind == EventKind.MODEL_PROMPT:
        messages = d.get("messages") or [{}]
        return f"{step}prompt to {d.get('model')}: {preview(messages[-1].get('content', ''), 160)}"
    if kind == EventKind.TOOL_CALL:
        return f"{step}call {d.get('tool')} {preview(d.get('args'), 160)}"
    if kind == EventKind.TOOL_RESULT:
        return f"{step}result {preview(d.get('result'), 160)}"
    if kind == EventKind.APPROVAL and d.get("status") in ("pending", "escalated") and d.get("request_id"):
        return (f"{step}{d.get('tool')} waits for approval {d['request_id']} ({d['status']}): "
                f"`autoglm approvals approve {d['request_id']}` or `... deny {d['request_id']} --reason TEXT`")
    if kind == EventKind.ANSWER:
        return f"answer ({d.get('status')}): {preview(d.get('answer'), 300)}"
    fields = ", ".join(f"{k}={preview(v, 120)}" for k, v in d.items())
    return f"{step}{kind} {fields}"


def print_trace(task_id: str, events: list[Event]) -> None:
    """The trail as a tree: task-level events, then each step with the events inside it."""
    if not events:
        typer.echo(f"task {task_id}: no events")
        return
    started = datetime.fromtimestamp(events[0].ts).isoformat(timespec="seconds")
    typer.echo(f"task {task_id}  (started {started})")
    t0 = events[0].ts
    by_step: dict[str, list[Event]] = {}
    order: list[str] = []
    for e in events:
        if e.step_id is None:
            typer.echo(f"├─ +{e.ts - t0:7.3f}s {e.kind}: {describe_event(e)}")
            continue
        if e.step_id not in by_step:
            by_step[e.step_id] = []
            order.append(e.step_id)
        by_step[e.step_id].append(e)
    for i, sid in enumerate(order):
        last = i == len(order) - 1
        typer.echo(f"{'└' if last else '├'}─ step {sid}")
        for e in by_step[sid]:
            typer.echo(f"{' ' if last else '│'}    +{e.ts - t0:7.3f}s {e.kind}: {describe_event(e)}")
