"""A sample shop on loopback: an order-status API (described by an OpenAPI document, so the order lookup is a
configured ``openapi`` tool like any real one) and the shop's policy documents for its knowledge base.

    with FakeOrderAPI() as api:
        api.spec_url            # http://127.0.0.1:PORT/openapi.json
        api.requests            # what was asked, in order
    write_shop_documents(folder)   # returns-policy.zh.md, shipping.en.md, ...

The data is ``shop.yaml`` next to this file: the customer-service tests and ``bench/support.py`` read the same one.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from .loopback import LoopbackRequest, LoopbackService, Reply, json_reply


@cache
def shop() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((files("openautoglm.testing") / "shop.yaml").read_text(encoding="utf-8"))
    return data


def write_shop_documents(folder: Path) -> list[Path]:
    """The shop's policy documents as Markdown files in ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in shop()["documents"].items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _spec(base_url: str) -> dict[str, Any]:
    order = {"type": "object", "properties": {
        "order_id": {"type": "string"}, "status": {"type": "string"}, "carrier": {"type": "string", "nullable": True},
        "tracking_no": {"type": "string", "nullable": True}, "eta": {"type": "string", "nullable": True},
        "total": {"type": "number"}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Sample shop orders", "version": "1"},
        "servers": [{"url": base_url}],
        "paths": {"/orders/{order_id}": {"get": {
            "operationId": "get_order",
            "summary": "The status of one order: shipped, processing, delivered or cancelled, with carrier and ETA",
            "parameters": [{"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "the order number, e.g. ORD-10023"}],
            "responses": {"200": {"description": "the order", "content": {"application/json": {"schema": order}}},
                          "404": {"description": "no such order"}},
        }}},
    }


class FakeOrderAPI(LoopbackService):
    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.orders = {o["order_id"]: o for o in shop()["orders"]}

    def handle(self, request: LoopbackRequest) -> Reply:
        if request.path == "/openapi.json":
            return json_reply(_spec(self.url))
        prefix = "/orders/"
        if request.method == "GET" and request.path.startswith(prefix):
            order = self.orders.get(request.path[len(prefix):].upper())
            if order is None:
                return json_reply({"error": "no such order"}, status=404)
            return json_reply(order)
        return json_reply({"error": "not found"}, status=404)

    @property
    def spec_url(self) -> str:
        return f"{self.server.url}/openapi.json"

