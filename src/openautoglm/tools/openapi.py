"""Tools from an OpenAPI 3 document: each operation becomes ``<api>.<operationId>``.

The document (a file, or an http(s) URL fetched through the network guard) gives each operation's parameters and
JSON request body; they become the tool's JSON schema (OpenAPI 3.0's ``nullable`` and boolean
``exclusiveMinimum`` translated to JSON Schema). Configuration, not the document and not the model, decides the
base URL, the credentials (``headers``), whether the API's own host may be private (``allow_private``) and which
operations count as side effects (default: everything but GET/HEAD/OPTIONS).

    openapi:
      - name: shop
        spec: ./shop-openapi.yaml
        headers: {Authorization: "env:SHOP_TOKEN"}
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from ..config import OpenAPIConfig
from ..errors import AutoGLMError, ConfigError
from .base import TOOL_NAME_PATTERN, Tool
from .http import FORBIDDEN_HEADERS, HeaderValues, HTTPTool, Operation, Param
from .netguard import NetGuard

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_SCHEMA_DEPTH = 12
_T = TypeVar("_T")


def load_document(source: str, guard: NetGuard | None = None, base_dir: Path | None = None) -> dict[str, Any]:
    """Read an OpenAPI document from a path or an http(s) URL (through ``guard``) and check it is version 3."""
    if re.match(r"^https?://", source, re.IGNORECASE):
        fetch_guard = guard or NetGuard()
        try:
            response = run_sync(fetch_guard.get(source, max_bytes=fetch_guard.max_bytes))
        except AutoGLMError as exc:
            raise ConfigError(f"cannot load the OpenAPI document {source}: {exc}") from exc
        if response.status_code != 200:
            raise ConfigError(f"cannot load the OpenAPI document {source}: HTTP {response.status_code}")
        text = response.text
    else:
        path = Path(source).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ConfigError(f"no OpenAPI document at {path}")
        text = path.read_text(encoding="utf-8")
    try:
        doc = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        raise ConfigError(f"the OpenAPI document {source} is neither JSON nor YAML: {exc}") from exc
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3."):
        raise ConfigError(f"{source} is not an OpenAPI 3 document (no `openapi: 3.x` field)")
    if not isinstance(doc.get("paths"), dict):
        raise ConfigError(f"{source} has no `paths`")
    return doc


def run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion from sync code, even when called inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class _Refs:
    """Resolves local ``$ref``s (``#/components/...``); remote references are refused."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc

    def get(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ConfigError(f"$ref {ref!r}: only references inside the document are supported")
        node: Any = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(f"$ref {ref!r} points at nothing")
            node = node[part]
        return node

    def deref(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, Mapping) and "$ref" in node:
            node = self.get(str(node["$ref"]))
            seen += 1
            if seen > 20:
                raise ConfigError("$ref chain too long (a cycle?)")
        return node

    def schema(self, node: Any, depth: int = 0) -> Any:
        """A JSON Schema (2020-12) from an OpenAPI schema object, references inlined."""
        if depth > MAX_SCHEMA_DEPTH:
            return {}  # a recursive schema: accept anything below this depth
        node = self.deref(node)
        if isinstance(node, list):
            return [self.schema(n, depth + 1) for n in node]
        if not isinstance(node, Mapping):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("example", "examples", "xml", "externalDocs", "discriminator", "nullable"):
                continue
            if key in ("properties", "patternProperties", "$defs", "definitions"):
                out[key] = {k: self.schema(v, depth + 1) for k, v in value.items()}
            elif key in ("items", "additionalProperties", "not", "contains", "propertyNames"):
                out[key] = self.schema(value, depth + 1) if isinstance(value, Mapping) else value
            elif key in ("allOf", "anyOf", "oneOf", "prefixItems"):
                out[key] = [self.schema(v, depth + 1) for v in value]
            elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                if value and bound in node:
                    out[key] = node[bound]
            else:
                out[key] = value
        for key in ("exclusiveMinimum", "exclusiveMaximum"):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if node.get(key) is True:
                out.pop(bound, None)
        if node.get("nullable") is True:
            kind = out.get("type")
            if isinstance(kind, str):
                out["type"] = [kind, "null"]
            elif isinstance(kind, list) and "null" not in kind:
                out["type"] = [*kind, "null"]
        return out


def tool_suffix(operation_id: str | None, method: str, path: str) -> str:
    raw = operation_id or f"{method}_{path}"
    name = re.sub(r"[^A-Za-z0-9_\-]+", "_", raw).strip("_-") or method
    return name if re.match(r"^[A-Za-z_]", name) else f"op_{name}"


def base_url_of(doc: Mapping[str, Any], config: OpenAPIConfig) -> str:
    if config.base_url:
        return config.base_url.rstrip("/")
    servers = doc.get("servers") or []
    if not servers or not isinstance(servers[0], Mapping) or not servers[0].get("url"):
        raise ConfigError(f"openapi '{config.name}': the document names no server; set base_url")
    server = servers[0]
    url = str(server["url"])
    for var, spec in (server.get("variables") or {}).items():
        url = url.replace("{" + var + "}", str((spec or {}).get("default", "")))
    if not re.match(r"^https?://", url, re.IGNORECASE):
        if not re.match(r"^https?://", config.spec, re.IGNORECASE):
            raise ConfigError(f"openapi '{config.name}': server URL {url!r} is relative; set base_url")
        url = str(httpx.URL(config.spec).join(url))
    return url.rstrip("/")


def operation_tools(
    doc: Mapping[str, Any],
    config: OpenAPIConfig,
    guard: NetGuard,
) -> list[Tool]:
    """One :class:`HTTPTool` per operation in ``doc``."""
    refs = _Refs(doc)
    base_url = base_url_of(doc, config)
    if config.allow_private:
        # The user points this API at their own service on purpose: its host only, not where it redirects.
        guard = guard.with_allowed(httpx.URL(base_url).host)
    headers = HeaderValues(dict(config.headers), owner=f"openapi '{config.name}'")
    configured = headers.names()
    tools: list[Tool] = []
    taken: set[str] = set()
    for path, item in doc["paths"].items():
        item = refs.deref(item)
        if not isinstance(item, Mapping):
            continue
        shared = list(item.get("parameters") or [])
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, Mapping):
                continue
            suffix = tool_suffix(op.get("operationId"), method, str(path))
            name = f"{config.name}.{suffix}"
            n = 2
            while name in taken:
                name = f"{config.name}.{suffix}_{n}"
                n += 1
            taken.add(name)
            if not TOOL_NAME_PATTERN.match(name):
                raise ConfigError(f"openapi '{config.name}': cannot make a tool name of operation {suffix!r}")
            schema, operation = _operation_schema(refs, method.upper(), str(path), shared, op, configured)
            summary = " ".join(str(op.get("summary") or op.get("description") or "").split())
            description = (summary[:400] + " " if summary else "") + f"({method.upper()} {path})"
            override = config.side_effects.get(str(op.get("operationId") or suffix))
            if override is None:
                override = config.side_effects.get(suffix)
            tools.append(HTTPTool(
                name=name, description=description, parameters=schema, operation=operation, base_url=base_url,
                guard=guard, headers=headers, side_effects=override, roles=config.roles, timeout_s=config.timeout_s,
                returns=_response_schema(refs, op), source=f"openapi:{config.name}",
            ))
    return tools


def _operation_schema(
    refs: _Refs, method: str, path: str, shared: list[Any], op: Mapping[str, Any], configured: set[str]
) -> tuple[dict[str, Any], Operation]:
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*shared, *(op.get("parameters") or [])]:  # operation-level parameters win
        p = refs.deref(raw)
        if isinstance(p, Mapping) and p.get("name") and p.get("in"):
            merged[(str(p["in"]), str(p["name"]))] = p
    properties: dict[str, Any] = {}
    required: list[str] = []
    params: list[Param] = []
    names_used = [name for (_loc, name) in merged]
    for (location, pname), p in merged.items():
        if location == "cookie":
            continue  # cookies carry sessions; they come from configuration or not at all
        if location == "header" and (pname.lower() in FORBIDDEN_HEADERS or pname.lower() in configured):
            continue
        if location not in ("path", "query", "header"):
            continue
        arg = pname if names_used.count(pname) == 1 else f"{location}_{pname}"
        arg = re.sub(r"[^A-Za-z0-9_\-.]", "_", arg)
        prop = refs.schema(p.get("schema") or {})
        if not isinstance(prop, dict):
            prop = {}
        if p.get("description"):
            prop = {**prop, "description": " ".join(str(p["description"]).split())}
        properties[arg] = prop
        is_required = bool(p.get("required")) or location == "path"
        if is_required:
            required.append(arg)
        params.append(Param(arg, pname, location, is_required))  # type: ignore[arg-type]
    body_arg = None
    media_type = "application/json"
    body = refs.deref(op.get("requestBody")) if op.get("requestBody") else None
    if isinstance(body, Mapping):
        content = body.get("content") or {}
        chosen = next((m for m in content if "json" in m), None) or next(iter(content), None)
        if chosen is not None:
            media_type = chosen
            body_arg = "body" if "body" not in properties else "request_body"
            body_schema = refs.schema((content.get(chosen) or {}).get("schema") or {})
            if "json" not in chosen and not body_schema:
                body_schema = {"type": "string"}
            prop = dict(body_schema) if isinstance(body_schema, dict) else {}
            if body.get("description"):
                prop["description"] = " ".join(str(body["description"]).split())
            properties[body_arg] = prop
            if body.get("required"):
                required.append(body_arg)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema, Operation(method, path, tuple(params), body_arg, media_type, str(op.get("operationId") or ""))


def _response_schema(refs: _Refs, op: Mapping[str, Any]) -> dict[str, Any] | None:
    responses = op.get("responses") or {}
    for code in ("200", "201", "2XX", "default"):
        resp = refs.deref(responses.get(code)) if responses.get(code) else None
        if isinstance(resp, Mapping):
            for media, content in (resp.get("content") or {}).items():
                if "json" in media and isinstance(content, Mapping) and content.get("schema"):
                    schema = refs.schema(content["schema"])
                    return schema if isinstance(schema, dict) else None
    return None


def openapi_tools(config: OpenAPIConfig, guard: NetGuard, base_dir: Path | None = None) -> list[Tool]:
    """Load ``config.spec`` and make its tools. A document that cannot be read is a :class:`ConfigError`."""
    spec_guard = guard
    if config.allow_private and re.match(r"^https?://", config.spec, re.IGNORECASE):
        spec_guard = guard.with_allowed(httpx.URL(config.spec).host)
    doc = load_document(config.spec, spec_guard, base_dir)
    try:
        return operation_tools(doc, config, guard)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"openapi '{config.name}': the document is malformed ({type(exc).__name__}: {exc})") \
            from exc

