"""`autoglm support ask`: answer a customer message, or route it to an agent, by the reply's confidence."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .common import ConfigOption, JsonFlag, make_app, run_async

support_app = typer.Typer(help="Customer service with confidence routing.", no_args_is_help=True)


@support_app.command("ask")
def ask(
    message: Annotated[str, typer.Argument(help="the customer's message, in Chinese or English")],
    conversation: Annotated[str | None, typer.Option("--conversation", help="conversation id: keeps the "
                                                     "customer's earlier messages")] = None,
    json_out: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Draft a reply from the knowledge base and the order tool, measure its confidence, and route it."""
    from ..apps.support import SupportDesk

    glm = make_app(config)
    reply = run_async(lambda: SupportDesk(glm).ask(message, conversation), glm)
    if json_out:
        typer.echo(json.dumps(reply.model_dump(), ensure_ascii=False, indent=2))
        return
    typer.echo(f"[{reply.route} · confidence {reply.confidence:.2f}]")
    typer.echo(reply.reply)
    if reply.route != "auto_reply" and reply.draft:
        typer.echo(f"draft for the agent: {reply.draft}")
    for source in reply.sources:
        where = source.get("position") or source.get("ref") or ""
        typer.echo(f"source: {source['name']} {where}".rstrip())
