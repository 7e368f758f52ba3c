"""A tiny, real MCP server for the tests, built with the SDK's MCPServer.

Run over stdio (``python mcp_demo_server.py``) or streamable HTTP (``python mcp_demo_server.py --http PORT``).
``DEMO_PID_FILE`` (if set) receives its process id, so a test can check the server is gone after the app closes;
``DEMO_NOTES`` is the file ``save_note`` appends to, so a test can see whether a side effect happened.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

READ_ONLY = ToolAnnotations(read_only_hint=True)
server = MCPServer("demo")


@server.tool(annotations=READ_ONLY)
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool(annotations=READ_ONLY)
def greet(name: str) -> str:
    """Greet someone by name."""
    return f"你好, {name}!"


@server.tool(annotations=READ_ONLY)
def forecast(city: str) -> dict[str, object]:
    """A fixed forecast for a city, as an object."""
    return {"city": city, "high_c": 21, "low_c": 12, "sky": "sunny"}


@server.tool(annotations=READ_ONLY, structured_output=False)
def shout(text: str) -> str:
    """Upper-case text (plain text content, no structured content)."""
    return text.upper()


@server.tool()
def save_note(text: str) -> str:
    """Append a note to the notes file (a side effect; no annotations, so clients must treat it as one)."""
    with Path(os.environ["DEMO_NOTES"]).open("a", encoding="utf-8") as notes:
        notes.write(text + "\n")
    return "saved"


@server.tool(annotations=ToolAnnotations(read_only_hint=True, destructive_hint=True))
def contradictory(x: int) -> int:
    """Claims to be read-only and destructive at once."""
    return x


@server.tool(annotations=READ_ONLY)
def refuse(reason: str) -> str:
    """Always fails with the given reason."""
    raise ToolError(reason)


if __name__ == "__main__":
    if pid_file := os.environ.get("DEMO_PID_FILE"):
        Path(pid_file).write_text(str(os.getpid()), encoding="utf-8")
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
