"""One HTTP operation as a tool: arguments in, a guarded request out, JSON (or text) back.

:mod:`openapi` builds these from an OpenAPI document. Credentials come from configuration (literal values or
``env:VAR``), never from the model: the model only fills the operation's parameters, and those are encoded into
their place (path segments percent-encoded whole, so a value cannot add path segments, a query or a host).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from ..errors import ConfigError, ToolArgumentError, ToolError
from ..events import EventKind
from .base import Tool, ToolContext
from .netguard import NetGuard

ParamLocation = Literal["path", "query", "header"]
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Headers a model may never set, whatever an API document says: transport, identity and credentials.
FORBIDDEN_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "host", "content-length", "transfer-encoding",
    "connection", "upgrade", "te", "trailer", "forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip",
})


class HTTPStatusError(ToolError):
    """The API answered with an error status; 429 and 5xx may be retried."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = status == 429 or status >= 500


@dataclass(frozen=True)
class Param:
    """One operation parameter: the argument name the tool exposes, and where its value goes."""

    arg: str
    name: str
    location: ParamLocation
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    params: tuple[Param, ...] = ()
    body_arg: str | None = None
    body_media_type: str = "application/json"
    operation_id: str = ""


@dataclass(frozen=True)
class HeaderValues:
    """Configured headers; ``env:NAME`` values are read from the environment when a call is made."""

    values: Mapping[str, str] = field(default_factory=dict)
    owner: str = "api"

    def resolve(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in self.values.items():
            if value.startswith("env:"):
                var = value[4:]
                if var not in os.environ:
                    raise ConfigError(f"{self.owner}: header {name} needs the environment variable {var}; set it")
                out[name] = os.environ[var]
            else:
                out[name] = value
        return out

    def names(self) -> set[str]:
        return {n.lower() for n in self.values}


class HTTPTool(Tool):
    """Calls one HTTP operation through a :class:`NetGuard`."""

    def __init__(
        self,
        name: str,
        description: str,
        parameters: dict[str, Any],
        operation: Operation,
        base_url: str,
        guard: NetGuard,
        headers: HeaderValues | None = None,
        side_effects: bool | None = None,
        roles: Iterable[str] | None = None,
        timeout_s: float | None = None,
        returns: dict[str, Any] | None = None,
        source: str = "http",
    ) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters
        self.operation = operation
        self.base_url = base_url.rstrip("/")
        self.guard = guard
        self.headers = headers or HeaderValues()
        self.side_effects = operation.method not in READ_ONLY_METHODS if side_effects is None else side_effects
        self.roles = frozenset(roles) if roles is not None else None
        self.timeout_s = timeout_s
        self.returns = returns
        self.source = source

    def build(self, args: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, str], Any]:
        """The URL, query, headers and body for ``args`` (already validated against the schema)."""
        path = self.operation.path
        query: dict[str, Any] = {}
        headers: dict[str, str] = {}
        configured = self.headers.names()
        for p in self.operation.params:
            if p.arg not in args or args[p.arg] is None:
                if p.required:
                    raise ToolArgumentError(f"{self.name}: missing required argument '{p.arg}'")
                continue
            value = args[p.arg]
            if p.location == "path":
                text = _scalar(value)
                if text in ("", ".", ".."):
                    raise ToolArgumentError(f"{self.name}: '{p.arg}' cannot be {text!r} (it would change the path)")
                path = path.replace("{" + p.name + "}", quote(text, safe=""))
            elif p.location == "query":
                query[p.name] = [_scalar(v) for v in value] if isinstance(value, list) else _scalar(value)
            else:
                if p.name.lower() in FORBIDDEN_HEADERS or p.name.lower() in configured:
                    raise ToolArgumentError(f"{self.name}: header {p.name} is set by configuration, not by arguments")
                text = _scalar(value)
                if any(c in text for c in "\r\n\0"):
                    raise ToolArgumentError(f"{self.name}: header {p.name} may not contain line breaks")
                headers[p.name] = text
        body = args.get(self.operation.body_arg) if self.operation.body_arg else None
        return self.base_url + path, query, headers, body

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        url, query, arg_headers, body = self.build(args)
        secrets = self.headers.resolve()
        headers = {**arg_headers, **secrets, "accept": "application/json, text/plain;q=0.9, */*;q=0.5"}
        json_body = content = None
        if body is not None:
            if self.operation.body_media_type == "application/json":
                json_body = body
            else:
                content = body if isinstance(body, str | bytes) else str(body)
                headers["content-type"] = self.operation.body_media_type
        ctx.emit(EventKind.TOOL_CALL, tool=self.name, method=self.operation.method, url=url, query=query)
        response = await self.guard.request(
            self.operation.method, url, ctx=ctx, tool=self.name, params=query, headers=headers, json=json_body,
            content=content, secret_headers=secrets.keys(), timeout_s=self.timeout_s,
        )
        ctx.emit(EventKind.TOOL_RESULT, tool=self.name, status=response.status_code, bytes=len(response.content),
                 redirects=response.redirects)
        if response.status_code >= 400:
            snippet = " ".join(response.text.split())[:300]
            raise HTTPStatusError(f"{self.name}: HTTP {response.status_code} from {self.operation.method} "
                                  f"{self.operation.path}: {snippet or '(empty body)'}", response.status_code)
        if not response.content:
            return {"status": response.status_code}
        if "json" in response.content_type:
            try:
                return response.json()
            except ValueError as exc:
                raise ToolError(f"{self.name}: the API said JSON but sent something else ({exc})") from exc
        return response.text


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, ensure_ascii=False)
    return str(value)
