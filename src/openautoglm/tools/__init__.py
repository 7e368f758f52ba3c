"""Tools: the interface, ``@tool``, the registry, built-ins and adapters (HTTP/OpenAPI, SQL, MCP)."""

from .base import FunctionTool, Tool, ToolContext, ToolRegistry, ToolSpec, tool

__all__ = ["FunctionTool", "Tool", "ToolContext", "ToolRegistry", "ToolSpec", "tool"]
