"""An OpenAPI document of a fake shop on loopback becomes tools; a two-step plan uses them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from openautoglm import AutoGLM
from openautoglm.config import OpenAPIConfig, Settings
from openautoglm.errors import ConfigError, PlanValidationError, ToolArgumentError, UnsafeTargetError
from openautoglm.events import EventKind
from openautoglm.models.scripted import ScriptedModel
from openautoglm.testing.loopback import LoopbackRequest, LoopbackServer, json_reply
from openautoglm.tools.base import Tool
from openautoglm.tools.http import HTTPStatusError, HTTPTool
from openautoglm.tools.netguard import NetGuard
from openautoglm.tools.openapi import openapi_tools
from tools_net_support import Recorder

API_KEY = "k-123"
PRODUCTS = [
    {"id": "p1", "name": "龙井茶", "category": "tea", "price": 88.0},
    {"id": "p2", "name": "Pu'er cake", "category": "tea", "price": 120.0},
    {"id": "p3", "name": "Pour-over kettle", "category": "tools", "price": 45.5},
]


def shop_spec(server_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Shop", "version": "1.0"},
        "servers": [{"url": server_url + "/api/{version}", "variables": {"version": {"default": "v1"}}}],
        "components": {
            "schemas": {
                "Product": {"type": "object", "required": ["id", "name"], "properties": {
                    "id": {"type": "string"}, "name": {"type": "string"},
                    "price": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                    "note": {"type": "string", "nullable": True}}},
                "Order": {"type": "object", "required": ["product_id", "quantity"], "properties": {
                    "product_id": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}}},
            },
            "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 50}}},
        },
        "paths": {
            "/products": {"get": {
                "operationId": "listProducts", "summary": "List products, optionally of one category.",
                "parameters": [
                    {"name": "category", "in": "query", "schema": {"type": "string"}, "description": "e.g. tea"},
                    {"$ref": "#/components/parameters/Limit"},
                    {"name": "X-Api-Key", "in": "header", "schema": {"type": "string"}},
                    {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                    "type": "array", "items": {"$ref": "#/components/schemas/Product"}}}}}},
            }},
            "/products/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {"operationId": "getProduct", "summary": "One product by id.",
                        "responses": {"200": {"description": "ok", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Product"}}}}}},
            },
            "/orders": {"post": {
                "operationId": "createOrder", "summary": "Order a product.",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Order"}}}},
                "responses": {"201": {"description": "created"}},
            }},
            "/fail": {"get": {"operationId": "alwaysFails", "parameters": [
                {"name": "status", "in": "query", "schema": {"type": "integer"}}]}},
            "/hop": {"get": {"operationId": "hop", "parameters": [
                {"name": "to", "in": "query", "required": True, "schema": {"type": "string"}}]}},
        },
    }


class Shop:
    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []
        self.server = LoopbackServer(self.handle)

    def handle(self, request: LoopbackRequest) -> tuple[int, dict[str, str], bytes | str]:
        if request.path == "/openapi.json":
            return json_reply(shop_spec(self.server.url))
        if request.headers.get("x-api-key") != API_KEY:
            return json_reply({"error": "missing or wrong X-Api-Key"}, 401)
        path = request.path.removeprefix("/api/v1")
        if path == "/products":
            category = request.arg("category")
            items = [p for p in PRODUCTS if category in (None, p["category"])]
            return json_reply(items[: int(request.arg("limit") or 50)])
        if path.startswith("/products/"):
            pid = path.split("/", 2)[2]
            found = next((p for p in PRODUCTS if p["id"] == pid), None)
            return json_reply(found) if found else json_reply({"error": f"no product {pid}"}, 404)
        if path == "/orders" and request.method == "POST":
            order = {"order_id": f"o{len(self.orders) + 1}", **request.json()}
            self.orders.append(order)
            return json_reply(order, 201, {"location": f"/api/v1/orders/{order['order_id']}"})
        if path == "/fail":
            return json_reply({"error": "boom"}, int(request.arg("status") or 500))
        if path == "/hop":
            return 302, {"location": request.arg("to") or "/"}, ""
        return json_reply({"error": "not found"}, 404)


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    monkeypatch.setenv("SHOP_KEY", API_KEY)
    fake = Shop()
    with fake.server:
        yield fake


def shop_config(shop: Shop, **extra: Any) -> OpenAPIConfig:
    return OpenAPIConfig(name="shop", spec=f"{shop.server.url}/openapi.json", headers={"X-Api-Key": "env:SHOP_KEY"},
                         allow_private=True, **extra)


def by_name(tools: list[Tool]) -> dict[str, HTTPTool]:
    return {t.name: t for t in tools if isinstance(t, HTTPTool)}


def test_operations_become_tools_with_schemas(shop: Shop) -> None:
    tools = by_name(openapi_tools(shop_config(shop), NetGuard()))
    assert sorted(tools) == ["shop.alwaysFails", "shop.createOrder", "shop.getProduct", "shop.hop",
                             "shop.listProducts"]
    listing = tools["shop.listProducts"]
    assert listing.parameters == {
        "type": "object", "additionalProperties": False,
        "properties": {"category": {"type": "string", "description": "e.g. tea"},
                       "limit": {"type": "integer", "maximum": 50}},
    }  # the configured X-Api-Key header and the cookie are not arguments
    assert listing.description == "List products, optionally of one category. (GET /products)"
    assert listing.source == "openapi:shop" and not listing.side_effects
    assert listing.returns is not None and listing.returns["items"]["properties"]["price"] == {
        "type": "number", "exclusiveMinimum": 0}
    assert listing.returns["items"]["properties"]["note"]["type"] == ["string", "null"]
    assert tools["shop.getProduct"].parameters["required"] == ["id"]
    order = tools["shop.createOrder"]
    assert order.side_effects and order.parameters["required"] == ["body"]
    assert order.parameters["properties"]["body"]["required"] == ["product_id", "quantity"]
    assert tools["shop.createOrder"].spec().model_dump()["source"] == "openapi:shop"


def test_config_overrides_side_effects_and_file_specs(shop: Shop, tmp_path: Path) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(yaml.safe_dump(shop_spec("https://shop.invalid")), encoding="utf-8")
    config = OpenAPIConfig(name="shop", spec=str(spec), base_url=f"{shop.server.url}/api/v1", allow_private=True,
                           side_effects={"createOrder": False, "listProducts": True})
    tools = by_name(openapi_tools(config, NetGuard()))
    assert not tools["shop.createOrder"].side_effects and tools["shop.listProducts"].side_effects
    assert tools["shop.getProduct"].base_url == f"{shop.server.url}/api/v1"


def test_bad_documents_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "swagger.json").write_text(json.dumps({"swagger": "2.0", "paths": {}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="not an OpenAPI 3 document"):
        openapi_tools(OpenAPIConfig(name="x", spec=str(tmp_path / "swagger.json")), NetGuard())
    with pytest.raises(ConfigError, match="no OpenAPI document"):
        openapi_tools(OpenAPIConfig(name="x", spec=str(tmp_path / "missing.yaml")), NetGuard())
    (tmp_path / "noserver.json").write_text(json.dumps({"openapi": "3.1.0", "paths": {}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="set base_url"):
        openapi_tools(OpenAPIConfig(name="x", spec=str(tmp_path / "noserver.json")), NetGuard())


async def test_two_step_plan_uses_the_api(shop: Shop) -> None:
    settings = Settings(openapi=[shop_config(shop)])
    app = AutoGLM(settings=settings, model=ScriptedModel(["unused"]))
    assert "shop.listProducts" in app.tools and "shop.getProduct" in app.tools
    result = await app.execute({"steps": [
        {"id": "teas", "uses": "shop.listProducts", "with": {"category": "tea", "limit": 1}},
        {"id": "detail", "uses": "shop.getProduct", "with": {"id": "${teas.output.0.id}"}},
    ]})
    assert result.status == "succeeded", result.answer
    assert result.steps[1].output == PRODUCTS[0]
    assert "龙井茶" in result.answer
    calls = [(r.method, r.path, r.query) for r in shop.server.requests if r.path != "/openapi.json"]
    assert calls == [("GET", "/api/v1/products", {"category": ["tea"], "limit": ["1"]}),
                     ("GET", "/api/v1/products/p1", {})]
    assert all(r.headers["x-api-key"] == API_KEY for r in shop.server.requests if r.path != "/openapi.json")
    events = app.trace(result.task_id)
    tool_calls = [e.data for e in events if e.kind == EventKind.TOOL_CALL]
    assert [c["url"] for c in tool_calls] == [f"{shop.server.url}/api/v1/products",
                                              f"{shop.server.url}/api/v1/products/p1"]
    assert all(API_KEY not in json.dumps(e.data, ensure_ascii=False) for e in events)  # no secret in the trace
    await app.aclose()


async def test_credentials_never_come_from_the_model(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    app = AutoGLM(settings=Settings(openapi=[shop_config(shop)]), model=ScriptedModel(["unused"]))
    with pytest.raises(PlanValidationError, match="X-Api-Key"):
        await app.execute({"steps": [{"id": "a", "uses": "shop.listProducts",
                                      "with": {"X-Api-Key": "attacker-key"}}]})
    monkeypatch.delenv("SHOP_KEY")
    result = await app.execute({"steps": [{"id": "a", "uses": "shop.listProducts"}]})
    assert result.status == "failed" and "environment variable SHOP_KEY" in (result.steps[0].error or "")
    await app.aclose()


@pytest.mark.parametrize("evil", ["../../openapi.json", "p1/../../admin", "p1?admin=1", "p1#x", "@evil.com",
                                  "//evil.com/x", "%2e%2e%2fadmin", "p1\r\nX-Injected: 1", "..\\..\\x"])
async def test_path_parameters_cannot_change_the_url(shop: Shop, evil: str) -> None:
    tool = by_name(openapi_tools(shop_config(shop), NetGuard()))["shop.getProduct"]
    with pytest.raises(HTTPStatusError, match="HTTP 404"):
        await tool({"id": evil}, Recorder().ctx)
    last = shop.server.requests[-1]
    assert last.path.startswith("/api/v1/products/") and last.path.count("/") == 4
    assert last.query == {} and "x-injected" not in last.headers


@pytest.mark.parametrize("dots", [".", ".."])
async def test_dot_segments_are_refused(shop: Shop, dots: str) -> None:
    tool = by_name(openapi_tools(shop_config(shop), NetGuard()))["shop.getProduct"]
    with pytest.raises(ToolArgumentError, match="would change the path"):
        await tool({"id": dots}, Recorder().ctx)


async def test_side_effects_need_approval(shop: Shop) -> None:
    plan = {"steps": [{"id": "buy", "uses": "shop.createOrder",
                       "with": {"body": {"product_id": "p2", "quantity": 2}}}]}
    denied = AutoGLM(settings=Settings(openapi=[shop_config(shop)]), model=ScriptedModel(["unused"]))
    result = await denied.execute(plan)
    assert result.status == "failed" and "not approved" in (result.steps[0].error or "")
    assert shop.orders == []
    approvals = [e.data for e in denied.trace(result.task_id) if e.kind == EventKind.APPROVAL]
    assert approvals == [{"tool": "shop.createOrder", "approved": False, "approver": "none"}]

    async def yes(tool: Tool, args: dict[str, Any], ctx: Any) -> bool:
        return tool.name == "shop.createOrder" and args["body"]["quantity"] == 2

    approved = AutoGLM(settings=Settings(openapi=[shop_config(shop)]), model=ScriptedModel(["unused"]),
                       approver=yes)
    result = await approved.execute(plan)
    assert result.status == "succeeded"
    assert result.steps[0].output == {"order_id": "o1", "product_id": "p2", "quantity": 2}
    assert shop.orders == [{"order_id": "o1", "product_id": "p2", "quantity": 2}]
    await denied.aclose()
    await approved.aclose()


async def test_error_statuses(shop: Shop) -> None:
    tool = by_name(openapi_tools(shop_config(shop), NetGuard()))["shop.alwaysFails"]
    with pytest.raises(HTTPStatusError) as server_error:
        await tool({"status": 503}, Recorder().ctx)
    assert server_error.value.retryable and "HTTP 503" in str(server_error.value)
    with pytest.raises(HTTPStatusError) as client_error:
        await tool({"status": 400}, Recorder().ctx)
    assert not client_error.value.retryable


async def test_allow_private_covers_the_api_host_only(shop: Shop) -> None:
    tool = by_name(openapi_tools(shop_config(shop), NetGuard()))["shop.hop"]
    for target in ("http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]:1/",
                   "http://127.0.0.2:1/"):
        with pytest.raises(UnsafeTargetError):
            await tool({"to": target}, Recorder().ctx)
    same_host = await tool({"to": "/api/v1/products/p3"}, Recorder().ctx)
    assert same_host["name"] == "Pour-over kettle"


async def test_tools_listing_shows_source_and_permissions(shop: Shop) -> None:
    app = AutoGLM(settings=Settings(openapi=[shop_config(shop)]), model=ScriptedModel(["unused"]))
    specs = {s.name: s for s in app.tools.specs()}
    assert specs["shop.createOrder"].side_effects and specs["shop.createOrder"].source == "openapi:shop"
    assert specs["weather.forecast"].source == "builtin" and not specs["web.fetch"].side_effects
    await app.aclose()
