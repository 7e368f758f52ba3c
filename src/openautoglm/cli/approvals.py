"""``autoglm approvals``: list, show, approve and deny the approval requests in the store, the same ones a
gateway's ``/v1/approvals`` serves. A run waiting on one (``autoglm run --wait-for-approval``, a resumed task's
``rerun`` question, a gateway's task) reads the decision from the store and goes on.

The decision is :meth:`ApprovalBroker.decide`, as over HTTP: one conditional update, so a second decision (from
here or a gateway) is refused the same way. It is recorded as made by ``cli:<login name>``, in the gateway's
principal name space (``key:<owner>``, ``jwt:<iss>:<sub>``). Whoever can open the database may decide, escalated
requests too: like an admin of the gateway.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, get_args

import typer

from .common import ConfigOption, JsonFlag, fail

if TYPE_CHECKING:
    from ..tools.approval import ApprovalBroker, ApprovalRequest

approvals_app = typer.Typer(help="List and decide approval requests: tools with side effects waiting for a person.",
                            no_args_is_help=True)
RequestId = Annotated[str, typer.Argument(help="a request id, as `autoglm approvals list` shows it")]
MAX_REASON_CHARS = 1000  # as POST /v1/approvals/{id} allows


def local_principal() -> str:
    """Who decides from this terminal: ``cli:`` and the login name."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment and no password entry (a container's bare uid)
        user = f"uid{os.getuid()}"
    return f"cli:{user}"


@contextmanager
def _broker(config: Path | None) -> Iterator[ApprovalBroker]:
    """A broker over the configured store (no tools, no models: deciding needs neither)."""
    from ..config import load_settings
    from ..services import open_store, stored_broker

    settings = load_settings(config)
    store = open_store(settings)
    try:
        yield stored_broker(settings, store)
    finally:
        store.close()


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts is not None else "-"


@approvals_app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="decided, expired and cancelled ones too")] = False,
    task: Annotated[str | None, typer.Option("--task", help="only this task's requests")] = None,
    json_out: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """List the open approval requests (pending or escalated), oldest first."""
    from ..tools.approval import OPEN, Status

    with _broker(config) as broker:
        requests = broker.pending(task, statuses=get_args(Status) if all_ else OPEN)
    if json_out:
        typer.echo(json.dumps([r.model_dump() for r in requests], ensure_ascii=False, indent=2))
        return
    if not requests:
        typer.echo("no open approval requests" if not all_ else "no approval requests", err=True)
    for r in requests:
        decided = f"  by {r.decided_by}" if r.decided_by else ""
        typer.echo(f"{r.id}  {r.status:<9}  {r.kind:<5}  {_when(r.created_at)}  {r.tool}  "
                   f"task {r.task_id} step {r.step_id}{decided}")


@approvals_app.command("show")
def show(request_id: RequestId, json_out: JsonFlag = False, config: ConfigOption = None) -> None:
    """Print one request: the call's arguments, why it asks, and its decision if any."""
    with _broker(config) as broker:
        request = broker.get(request_id)
    if json_out:
        typer.echo(json.dumps(request.model_dump(), ensure_ascii=False, indent=2))
        return
    asks = "run this call again? (its outcome is unknown)" if request.kind == "rerun" else "run this call?"
    lines = [f"approval {request.id}: {request.status}  ({asks})",
             f"  tool     {request.tool}",
             f"  task     {request.task_id}  step {request.step_id}  role {request.role}",
             f"  asked    {_when(request.created_at)}  expires "
             + (_when(request.expires_at) if request.expires_at is not None else "never (waits until decided)")]
    if request.why:
        lines.append(f"  why      {request.why}")
    if request.escalate_to:
        lines.append(f"  escalated to {request.escalate_to} at {_when(request.escalated_at)}")
    if request.decided_by:
        reason = f": {request.reason}" if request.reason else ""
        lines.append(f"  decided  {_when(request.decided_at)} by {request.decided_by}{reason}")
    lines.append("  args")
    lines += [f"    {line}" for line in json.dumps(request.args, ensure_ascii=False, indent=2).splitlines()]
    typer.echo("\n".join(lines))


@approvals_app.command("approve")
def approve(
    request_id: RequestId,
    reason: Annotated[str | None, typer.Option("--reason", help="why, for the trace")] = None,
    config: ConfigOption = None,
) -> None:
    """Approve an open request: the waiting step runs the call (again, for a `rerun` request)."""
    _decide(config, request_id, approved=True, reason=reason)


@approvals_app.command("deny")
def deny(
    request_id: RequestId,
    reason: Annotated[str, typer.Option("--reason", help="why, for the trace (and the step's error, for a rerun)")],
    config: ConfigOption = None,
) -> None:
    """Deny an open request: the waiting step fails (the call is not made, or not made again)."""
    _decide(config, request_id, approved=False, reason=reason)


def _decide(config: Path | None, request_id: str, approved: bool, reason: str | None) -> None:
    if reason is not None and not reason.strip():
        fail("--reason is empty: say why, or leave it out when approving")
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        fail(f"--reason is {len(reason)} characters; at most {MAX_REASON_CHARS}")
    by = local_principal()
    with _broker(config) as broker:
        decided: ApprovalRequest = broker.decide(request_id, approved, by=by, reason=reason)
    typer.echo(f"{decided.status} {decided.id} ({decided.tool}, task {decided.task_id} step {decided.step_id}) "
               f"as {by}", err=True)
