"""A real MCP server whose one tool sleeps, for the durability tests: a plan of its steps takes long enough to kill
the gateway in the middle, or waits for a file the test creates when it is done looking. ``NAP_CALLS`` is the file
each finished call appends its step's name to, so a test can count how often each step really ran; ``NAP_PIDS`` the
file each server appends its process id to (the MCP client starts it in a session of its own, so a test that kills
the gateway's process group kills it by id too, as a crash of the machine would)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

server = MCPServer("slow")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def nap(step: str, seconds: float, gate: str = "") -> str:
    """Sleep (first until the file ``gate`` exists, if one is named), then note that ``step`` ran."""
    deadline = time.monotonic() + 120
    while gate and not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(seconds)
    with Path(os.environ["NAP_CALLS"]).open("a", encoding="utf-8") as calls:
        calls.write(step + "\n")
    return f"{step} rested {seconds:g}s"


if __name__ == "__main__":
    with Path(os.environ["NAP_PIDS"]).open("a", encoding="utf-8") as pids:
        pids.write(f"{os.getpid()}\n")
    server.run()
