"""Tools from MCP servers: each tool of a server named in ``mcp_servers`` becomes a Tool ``<server>.<tool>``.

A server is a command spoken to over stdio, or a streamable HTTP ``url``. Connections open on first need (the
first run, plan or tool listing that awaits :meth:`MCPToolset.load`), stay open for the app's lifetime and close
in ``AutoGLM.aclose()``.

The SDK's client lives in anyio task groups that must be entered and left by the same task, while steps call tools
from tasks of their own and the app closes from yet another; so each connection is owned by one background task
that opens it, waits to be told to stop, and closes it. Other tasks only send requests over its session.

Annotations are hints from the server: a tool counts as free of side effects only when it says ``readOnlyHint``
(and not ``destructiveHint``), unless the config overrides that for the whole server. Safe by default.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import jsonschema

from ..config import MCPServerConfig
from ..errors import ConfigError, ToolError
from ..events import EventKind
from .base import TOOL_NAME_PATTERN, Tool, ToolContext, _strip_titles

if TYPE_CHECKING:
    import mcp_types
    from mcp import Client

INSTALL_HINT = "MCP support needs the `mcp` package: pip install 'openautoglm[mcp]'"
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_\-.]")
_STDERR_TAIL = 600


def _import_mcp() -> Any:
    try:
        import mcp
    except ImportError as exc:  # optional backend
        raise ConfigError(INSTALL_HINT) from exc
    return mcp


class MCPConnection:
    """One server: started on :meth:`open`, kept until :meth:`aclose`."""

    def __init__(self, config: MCPServerConfig) -> None:
        self.config = config
        self.name = config.name
        self.tools: list[mcp_types.Tool] = []
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._error: BaseException | None = None
        self._errlog: IO[str] | None = None
        self._http_client: Any = None
        self._last_words = ""

    @property
    def target(self) -> str:
        """What the server is, in words, for error messages."""
        if self.config.url:
            return f"url {self.config.url}"
        return "command " + " ".join([self.config.command or "", *self.config.args]).strip()

    def _transport(self) -> Any:
        mcp = _import_mcp()
        if self.config.url:
            from mcp.client.streamable_http import streamable_http_client

            if self.config.headers:
                from mcp.shared._httpx_utils import create_mcp_http_client

                # A client we pass in is ours to close (in _own).
                self._http_client = create_mcp_http_client(headers=self.config.headers)
            return streamable_http_client(self.config.url, http_client=self._http_client)
        from mcp.client.stdio import stdio_client

        command = self.config.command or ""
        if not Path(command).is_file() and shutil.which(command) is None:
            raise ConfigError(
                f"MCP server '{self.name}' cannot start: command '{command}' not found "
                "(fix mcp_servers in autoglm.yaml)"
            )
        params = mcp.StdioServerParameters(command=command, args=list(self.config.args), env=dict(self.config.env),
                                           cwd=self.config.cwd)
        # The server's stderr is kept aside, so that a crash can be explained with its last words.
        self._errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 - aclose()
        return stdio_client(params, errlog=self._errlog)

    async def open(self) -> list[mcp_types.Tool]:
        if self._task is None:
            transport = self._transport()
            self._task = asyncio.create_task(self._own(transport), name=f"mcp:{self.name}")
        waiter = asyncio.create_task(self._ready.wait())
        try:
            done, _ = await asyncio.wait({waiter, self._task}, timeout=self.config.connect_timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not done:
            await self.aclose()
            raise ConfigError(f"MCP server '{self.name}' ({self.target}) did not answer within "
                              f"{self.config.connect_timeout_s:g}s{self._stderr_tail()}")
        if self._error is not None or self._client is None:
            raise ConfigError(f"MCP server '{self.name}' ({self.target}) could not start: "
                              f"{_describe(self._error)}{self._stderr_tail()}")
        return self.tools

    async def _own(self, transport: Any) -> None:
        mcp = _import_mcp()
        try:
            async with mcp.Client(transport, read_timeout_seconds=self.config.timeout_s) as client:
                tools: list[mcp_types.Tool] = []
                cursor: str | None = None
                for _ in range(100):  # a server that pages forever cannot hang the start
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
                self.tools = tools
                self._client = client
                self._ready.set()
                await self._stop.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # kept, and reported by open() or call()
            self._error = exc
        finally:
            self._client = None
            # The process is gone: keep its last words, let go of the file.
            self._last_words = self._stderr_tail()
            if self._errlog is not None:
                self._errlog.close()
                self._errlog = None
            if self._http_client is not None:
                await self._http_client.aclose()
                self._http_client = None

    async def call(self, tool: str, args: dict[str, Any]) -> mcp_types.CallToolResult:
        client = self._client
        if client is None:
            raise ToolError(f"MCP server '{self.name}' ({self.target}) is not connected"
                            f"{': ' + _describe(self._error) if self._error else ''}{self._stderr_tail()}")
        try:
            return await client.call_tool(tool, args)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self._task is not None and self._task.done():
                raise ToolError(f"MCP server '{self.name}' ({self.target}) went away while {tool} ran"
                                f"{self._stderr_tail()}") from exc
            raise ToolError(f"{self.name}.{tool}: {_describe(exc)}") from exc

    def _stderr_tail(self) -> str:
        if self._errlog is None:
            return self._last_words
        try:
            self._errlog.flush()
            fd = self._errlog.fileno()
            size = os.fstat(fd).st_size
            # The server writes; only its last words matter, however long it has been talking.
            raw = os.pread(fd, _STDERR_TAIL * 4, max(0, size - _STDERR_TAIL * 4))
        except (OSError, ValueError):
            return ""
        text = " ".join(raw.decode("utf-8", errors="replace").split())
        return f"; its stderr ends: {text[-_STDERR_TAIL:]}" if text else ""

    async def aclose(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            if not self._ready.is_set():
                task.cancel()  # still in the handshake: there is no session to close politely
            # The SDK's own shutdown is bounded (stdin closed, then SIGTERM, then SIGKILL).
            _, pending = await asyncio.wait({task}, timeout=10)
            if pending:
                task.cancel()
                await asyncio.wait({task}, timeout=5)
        if self._errlog is not None:
            self._errlog.close()
            self._errlog = None


class MCPTool(Tool):
    """One tool of an MCP server. Its result is the structured content when the server sends one, else the text."""

    portable = False  # it holds this process's MCP connection: it runs where the task runs

    def __init__(self, connection: MCPConnection, remote: mcp_types.Tool) -> None:
        config = connection.config
        self.connection = connection
        self.remote_name = remote.name
        self.name = f"{config.name}.{_safe_name(remote.name)}"
        if not TOOL_NAME_PATTERN.match(self.name):
            raise ConfigError(f"MCP server '{config.name}' offers a tool whose name cannot be used: {remote.name!r}")
        self.source = f"mcp:{config.name}"
        hints = remote.annotations
        read_only = bool(hints and hints.read_only_hint is True and hints.destructive_hint is not True)
        self.destructive = bool(hints and hints.destructive_hint is True)
        self.side_effects = config.side_effects if config.side_effects is not None else not read_only
        self.description = (remote.description or (hints.title if hints else None) or remote.name).strip()
        self.parameters = _strip_titles(dict(remote.input_schema or {"type": "object", "properties": {}}))
        self.parameters.setdefault("type", "object")
        try:
            jsonschema.Draft202012Validator.check_schema(self.parameters)
        except jsonschema.SchemaError as exc:
            raise ConfigError(f"MCP server '{config.name}': tool {remote.name!r} has an input schema that is not "
                              f"valid JSON Schema ({exc.message})") from exc
        self._unwrap = _is_result_wrapper(remote.output_schema)
        returns = _strip_titles(remote.output_schema) if remote.output_schema else None
        self.returns = returns["properties"]["result"] if returns and self._unwrap else returns
        self.timeout_s = config.timeout_s
        self.roles = frozenset(config.roles) if config.roles is not None else None

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        ctx.emit(EventKind.TOOL_CALL, tool=self.name, server=self.connection.name, remote_tool=self.remote_name)
        result = await self.connection.call(self.remote_name, args)
        import mcp_types

        text = "\n".join(block.text for block in result.content if isinstance(block, mcp_types.TextContent))
        if result.is_error:
            raise ToolError(f"MCP server '{self.connection.name}' answered with an error: "
                            f"{text or '(no message)'}")
        others = [block.type for block in result.content if not isinstance(block, mcp_types.TextContent)]
        if others:
            # Images, audio and resources cannot go into a prompt as text; say they were there.
            ctx.emit(EventKind.TOOL_RESULT, tool=self.name, dropped_content=others)
        if result.structured_content is not None:
            value = result.structured_content
            if self._unwrap and isinstance(value, dict) and set(value) == {"result"}:
                return value["result"]
            return value
        return text


class MCPToolset:
    """Every configured server's tools. ``await load()`` connects (once); ``aclose()`` disconnects."""

    def __init__(self, servers: Iterable[MCPServerConfig]) -> None:
        self.connections = [MCPConnection(config) for config in servers]
        names = [c.name for c in self.connections]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ConfigError(f"mcp_servers: the name {twice[0]!r} is used twice; each server needs its own")
        self._tools: list[Tool] | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def usable(self) -> bool:
        """False once the event loop the connections live in is not the running one (a second asyncio.run)."""
        return self._loop is None or self._loop is asyncio.get_running_loop()

    async def load(self) -> list[Tool]:
        if self._lock is None:
            self._lock = asyncio.Lock()
            self._loop = asyncio.get_running_loop()
        async with self._lock:
            if self._tools is None:
                tools: list[Tool] = []
                try:
                    # Servers start side by side; the first that cannot start is the error.
                    opened = await asyncio.gather(*(c.open() for c in self.connections), return_exceptions=True)
                    if errors := [e for e in opened if isinstance(e, BaseException)]:
                        raise errors[0]
                    for connection in self.connections:
                        for remote in connection.tools:
                            tool = MCPTool(connection, remote)
                            if any(t.name == tool.name for t in tools):
                                raise ConfigError(f"MCP server '{connection.name}' offers two tools named "
                                                  f"{tool.name!r} once made safe for a tool name")
                            tools.append(tool)
                except BaseException:
                    await self.aclose()
                    raise
                self._tools = tools
            return list(self._tools)

    async def aclose(self) -> None:
        if not self.usable():
            return  # their loop has ended, and ending it closed them
        for connection in self.connections:
            await connection.aclose()


def _safe_name(name: str) -> str:
    return _UNSAFE_CHARS.sub("_", name).strip(".") or "tool"


def _is_result_wrapper(schema: dict[str, Any] | None) -> bool:
    """The SDK's servers wrap a non-object return value as ``{"result": value}`` and say so in the schema."""
    if not schema:
        return False
    properties = schema.get("properties") or {}
    return set(properties) == {"result"} and list(schema.get("required") or []) == ["result"]


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "the connection closed during the handshake"
    # anyio task groups wrap what went wrong; the first leaf is the cause.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    if isinstance(exc, json.JSONDecodeError):
        return f"it wrote something other than MCP on stdout ({text})"
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"
