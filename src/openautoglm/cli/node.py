"""`autoglm node start`: serve a GGUF model as an OpenAI-compatible endpoint and join a coordinator's pool."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import ConfigOption

node_app = typer.Typer(help="Serve a model as a node of a coordinator's pool.", no_args_is_help=True)


@node_app.command("start")
def start(
    model: Annotated[Path | None, typer.Option("--model", help="a GGUF file (default: the embedded model)")] = None,
    coordinator: Annotated[str | None, typer.Option("--coordinator",
                                                    help="the gateway's URL (default: coordinator_url)")] = None,
    name: Annotated[str | None, typer.Option("--name", help="the node's name in the pool")] = None,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="0 picks a free port")] = 0,
    advertise: Annotated[str | None, typer.Option("--advertise-url",
                                                  help="how the coordinator reaches this node")] = None,
    capability: Annotated[list[str] | None, typer.Option("--capability",
                                                         help="repeatable; default text-generation")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="AUTOGLM_NODE_API_KEY",
                                                help="this node's key at the coordinator")] = None,
    config: ConfigOption = None,
) -> None:
    """Serve MODEL on HOST:PORT, register with COORDINATOR and heartbeat until Ctrl-C."""
    import socket

    from ..config import load_settings
    from ..errors import ConfigError
    from ..node import Node

    settings = load_settings(config)
    url = coordinator or settings.coordinator_url
    if not url:
        raise ConfigError("no coordinator: pass --coordinator URL (the gateway, e.g. http://127.0.0.1:8000) "
                          "or set coordinator_url")
    if model is not None and not model.is_file():
        raise ConfigError(f"model file not found: {model}")
    node = Node(name or f"{socket.gethostname()}-{port or 'node'}", model, host=host, port=port,
                advertise_url=advertise)
    node.register(url, api_key=api_key)
    for item in capability or ["text-generation"]:
        node.enable_task(item)
    node.start()
    typer.echo(f"node '{node.name}' serving {node.base_url}, registered with {url} (Ctrl-C stops)", err=True)
    try:
        node.wait()
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()
