"""`autoglm mcp serve`: Open-AutoGLM as an MCP server, over stdio (default) or streamable HTTP."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from .common import ConfigOption, make_app

mcp_app = typer.Typer(help="Serve Open-AutoGLM to MCP clients.", no_args_is_help=True)


@mcp_app.command("serve")
def serve(
    http: Annotated[bool, typer.Option("--http", help="streamable HTTP at http://HOST:PORT/mcp, not stdio")] = False,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8765,
    no_tools: Annotated[bool, typer.Option("--no-tools", help="serve only run_task, the workflows and search, "
                                           "not every tool of the app")] = False,
    config: ConfigOption = None,
) -> None:
    """Serve run_task, list_workflows, run_workflow, search_knowledge (and the app's tools) over MCP."""
    from ..mcp_server import serve_http, serve_stdio

    glm = make_app(config)
    if http:
        if host not in ("127.0.0.1", "localhost", "::1"):
            typer.echo(f"autoglm: warning: MCP over HTTP has no authentication; anyone who reaches {host}:{port} "
                       "can run tasks (use `autoglm serve` for the authenticated gateway)", err=True)
        # Run from a terminal, the person at it approves tools with side effects; otherwise nobody can.
        asyncio.run(serve_http(glm, host=host, port=port, expose_tools=not no_tools))
    else:
        # stdin is the MCP client's pipe, never a person: tools with side effects are refused.
        glm.approver = None
        asyncio.run(serve_stdio(glm, expose_tools=not no_tools))
