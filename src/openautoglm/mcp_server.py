"""Open-AutoGLM as an MCP server: other agents run tasks, list and run workflows and search the knowledge base.

Tools served: ``run_task(request, session_id?)``, ``list_workflows()``, ``run_workflow(name, inputs)``,
``search_knowledge(query, k)``, and (unless turned off) every tool of the app under its own name. Every call goes
through the app, so it is a task with a trace like any other, and tools with side effects still need approval:
over stdio nobody can approve, so they are refused.

Transports: stdio (:func:`serve_stdio`) and streamable HTTP (:func:`serve_http`, needs the ``server`` extra).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import jsonschema

from .errors import AutoGLMError, ConfigError
from .plan import render
from .tools.base import ToolSpec

if TYPE_CHECKING:
    import mcp_types
    from mcp.server import Server

    from .app import AutoGLM

KNOWLEDGE_TOOL = "knowledge.search"
TASK_TOOLS = frozenset({"run_task", "run_workflow"})
INSTRUCTIONS = (
    "Open-AutoGLM plans a request into steps, runs them on models and tools, and answers with an audit trail. "
    "Use run_task for a request in Chinese or English, run_workflow for a named workflow (list_workflows shows "
    "them and their inputs), search_knowledge to look something up in the knowledge base."
)

Handler = Callable[["AutoGLM", dict[str, Any]], Awaitable[Any]]


def _spec(name: str, description: str, properties: dict[str, Any], required: list[str]) -> ToolSpec:
    return ToolSpec(name=name, description=description, source="openautoglm",
                    parameters={"type": "object", "properties": properties, "required": required,
                                "additionalProperties": False})


async def _run_task(app: AutoGLM, args: dict[str, Any]) -> Any:
    result = await app.run(args["request"], session_id=args.get("session_id"))
    return result.to_dict()


async def _list_workflows(app: AutoGLM, args: dict[str, Any]) -> Any:
    return {"workflows": [w.summary() for w in app.workflows]}


async def _run_workflow(app: AutoGLM, args: dict[str, Any]) -> Any:
    workflow = app.workflows.get(args["name"])
    result = await app.execute(workflow.plan, inputs=args.get("inputs") or {})
    return result.to_dict()


async def _search_knowledge(app: AutoGLM, args: dict[str, Any]) -> Any:
    registry = await app.load_tools()
    if KNOWLEDGE_TOOL not in registry:
        raise ConfigError(f"the knowledge base is not available here: no {KNOWLEDGE_TOOL} tool is registered "
                          "(enable the knowledge tools in autoglm.yaml and add documents with `autoglm kb add`)")
    properties = registry.get(KNOWLEDGE_TOOL).parameters.get("properties", {})
    # Ask in the knowledge tool's own words: its count argument may be called k, top_k or limit.
    call: dict[str, Any] = {"query": args["query"]}
    count = next((n for n in ("k", "top_k", "limit") if n in properties), None)
    if count is not None and "k" in args:
        call[count] = args["k"]
    output = await app.call_tool(KNOWLEDGE_TOOL, call)
    return output if isinstance(output, dict) else {"results": output}


OWN_TOOLS: dict[str, tuple[ToolSpec, Handler]] = {
    "run_task": (_spec("run_task", "Plan and run a request (Chinese or English); returns the answer, the plan, "
                       "each step's status and the task id of the audit trail.",
                       {"request": {"type": "string", "description": "what you want done"},
                        "session_id": {"type": "string", "description": "session id, for follow-ups"}},
                       ["request"]), _run_task),
    "list_workflows": (_spec("list_workflows", "The named workflows this server can run, with their inputs.",
                             {}, []), _list_workflows),
    "run_workflow": (_spec("run_workflow", "Run a named workflow with its inputs; returns the result and trace id.",
                           {"name": {"type": "string", "description": "a name list_workflows shows"},
                            "inputs": {"type": "object", "description": "the workflow's inputs"}},
                           ["name"]), _run_workflow),
    "search_knowledge": (_spec("search_knowledge", "Search the knowledge base; returns passages with their source.",
                               {"query": {"type": "string"},
                                "k": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5}},
                               ["query"]), _search_knowledge),
}


def build_server(app: AutoGLM, expose_tools: bool = True) -> Server[Any]:
    """An MCP server (the SDK's low-level ``Server``) over ``app``; run it with :func:`serve_stdio` or over HTTP."""
    try:
        import mcp_types as types
        from mcp.server import Server
    except ImportError as exc:  # optional backend
        raise ConfigError("serving MCP needs the `mcp` package: pip install 'openautoglm[mcp]'") from exc

    from . import __version__

    async def specs() -> list[ToolSpec]:
        own = [spec for spec, _ in OWN_TOOLS.values()]
        if not expose_tools:
            return own
        registry = await app.load_tools()
        return own + [t.spec() for t in registry if t.name not in OWN_TOOLS]

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[_mcp_tool(types, spec) for spec in await specs()])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        args = dict(params.arguments or {})
        try:
            if params.name in OWN_TOOLS:
                spec, handler = OWN_TOOLS[params.name]
                _check(spec, args)
                output = await handler(app, args)
                if params.name in TASK_TOOLS:  # a task's answer is what a person reads; the rest is structured
                    return _result(types, output, is_error=output.get("status") == "failed", text=output["answer"])
                return _result(types, output)
            if not expose_tools:
                raise ConfigError(f"no tool named '{params.name}' here")
            return _result(types, await app.call_tool(params.name, args))
        except AutoGLMError as exc:
            return _error(types, str(exc))
        except Exception as exc:  # a bug must not take the server down; the client hears what happened
            return _error(types, f"{type(exc).__name__}: {exc}")

    return Server("openautoglm", version=__version__, instructions=INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=call_tool)


def _mcp_tool(types: Any, spec: ToolSpec) -> mcp_types.Tool:
    annotations = types.ToolAnnotations(read_only_hint=not spec.side_effects)
    return types.Tool(name=spec.name, description=spec.description, input_schema=spec.parameters,
                      annotations=annotations)


def _check(spec: ToolSpec, args: dict[str, Any]) -> None:
    errors = list(jsonschema.Draft202012Validator(spec.parameters).iter_errors(args))
    if errors:
        from .errors import ToolArgumentError

        raise ToolArgumentError(f"{spec.name}: " + "; ".join(e.message for e in errors[:5]))


def _jsonable(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _result(types: Any, output: Any, is_error: bool = False, text: str | None = None) -> mcp_types.CallToolResult:
    value = _jsonable(output)
    text = render(value) if text is None else text
    structured = value if isinstance(value, dict) else None
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                structured_content=structured, is_error=is_error)


def _error(types: Any, message: str) -> mcp_types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


async def serve_stdio(app: AutoGLM, expose_tools: bool = True) -> None:
    """Serve ``app`` over stdin/stdout until the client closes them; the app is closed afterwards."""
    from mcp.server.stdio import stdio_server

    server = build_server(app, expose_tools)
    try:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
    finally:
        await app.aclose()


async def serve_http(app: AutoGLM, host: str = "127.0.0.1", port: int = 8765, expose_tools: bool = True) -> None:
    """Serve ``app`` over streamable HTTP at ``http://HOST:PORT/mcp``."""
    try:
        import uvicorn
    except ImportError as exc:
        raise ConfigError("serving MCP over HTTP needs uvicorn: pip install 'openautoglm[server]'") from exc
    server = build_server(app, expose_tools)
    asgi = server.streamable_http_app(host=host)
    try:
        await uvicorn.Server(uvicorn.Config(asgi, host=host, port=port, log_level="warning")).serve()
    finally:
        await app.aclose()
