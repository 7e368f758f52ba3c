"""Fake CRM, ERP and logistics systems on one loopback server, each with its OpenAPI document: the systems of the
order-to-shipment workflow, for tests and the README's demo (``python -m openautoglm.testing.business DIR``
writes the three documents and a config into DIR and serves until interrupted).

    with BusinessFakes() as fakes:
        fakes.write_specs(folder)        # crm.yaml, erp.yaml, logistics.yaml, servers pointing at fakes.url
        fakes.orders, fakes.shipments    # what the ERP and the carrier were asked to do
        fakes.fail_shipments = True      # the carrier answers 503
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from .loopback import LoopbackRequest, LoopbackService, Reply, json_reply

CUSTOMERS: dict[str, dict[str, Any]] = {
    "C-100": {"id": "C-100", "name": "Acme Trading", "email": "buyer@acme.example", "tier": "gold",
              "credit_ok": True, "address": "1 Harbour Road, Shanghai"},
    "C-200": {"id": "C-200", "name": "Blocked Ltd", "email": "ap@blocked.example", "tier": "basic",
              "credit_ok": False, "address": "9 Side Street, Hangzhou"},
}
PRICES = {"SKU-TEA": 88.0, "SKU-KETTLE": 45.5}


def _doc(title: str, server: str, paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": title, "version": "1.0"}, "servers": [{"url": server}],
            "paths": paths, "components": {"schemas": schemas}}


def _json(schema_ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}


def specs(base_url: str) -> dict[str, dict[str, Any]]:
    """The three OpenAPI documents, their servers at ``base_url``."""
    crm = _doc("CRM", base_url + "/crm", {
        "/customers/{customer_id}": {"get": {
            "operationId": "getCustomer", "summary": "A customer by id: name, email, tier, credit standing.",
            "parameters": [{"name": "customer_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the customer", "content": _json("Customer")}}}},
    }, {"Customer": {"type": "object", "required": ["id", "name"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "email": {"type": "string"},
        "tier": {"type": "string", "enum": ["basic", "gold"]}, "credit_ok": {"type": "boolean"},
        "address": {"type": "string"}}}})
    erp = _doc("ERP", base_url + "/erp", {
        "/orders": {"post": {
            "operationId": "createOrder", "summary": "Reserve stock and open a sales order.",
            "requestBody": {"required": True, "content": _json("NewOrder")},
            "responses": {"201": {"description": "the order", "content": _json("Order")}}}},
        "/orders/{order_id}/cancel": {"post": {
            "operationId": "cancelOrder", "summary": "Cancel a sales order and release its stock.",
            "parameters": [{"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the order", "content": _json("Order")}}}},
    }, {"NewOrder": {"type": "object", "required": ["customer_id", "sku", "quantity"], "properties": {
        "customer_id": {"type": "string"}, "sku": {"type": "string"},
        "quantity": {"type": "integer", "minimum": 1}}},
        "Order": {"type": "object", "required": ["order_id", "status"], "properties": {
            "order_id": {"type": "string"}, "status": {"type": "string", "enum": ["open", "cancelled"]},
            "customer_id": {"type": "string"}, "sku": {"type": "string"}, "quantity": {"type": "integer"},
            "total": {"type": "number"}}}})
    logistics = _doc("Logistics", base_url + "/logistics", {
        "/shipments": {"post": {
            "operationId": "createShipment", "summary": "Book a shipment of an order to an address.",
            "requestBody": {"required": True, "content": _json("NewShipment")},
            "responses": {"201": {"description": "the shipment", "content": _json("Shipment")}}}},
    }, {"NewShipment": {"type": "object", "required": ["order_id", "address"], "properties": {
        "order_id": {"type": "string"}, "address": {"type": "string"}}},
        "Shipment": {"type": "object", "required": ["shipment_id", "order_id"], "properties": {
            "shipment_id": {"type": "string"}, "order_id": {"type": "string"},
            "status": {"type": "string", "enum": ["booked"]}}}})
    return {"crm": crm, "erp": erp, "logistics": logistics}


class BusinessFakes(LoopbackService):
    """The three systems; what they were asked is kept in ``orders``, ``cancelled`` and ``shipments``."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.cancelled: list[str] = []
        self.shipments: list[dict[str, Any]] = []
        self.fail_shipments = False
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        super().__init__()

    def write_specs(self, folder: Path) -> dict[str, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        written = {}
        for name, doc in specs(self.url).items():
            path = folder / f"{name}.yaml"
            path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
            written[name] = path
        return written

    def openapi_config(self, folder: Path) -> list[dict[str, Any]]:
        """``openapi:`` entries of autoglm.yaml for the three systems (their host is loopback on purpose)."""
        return [{"name": name, "spec": str(path), "allow_private": True}
                for name, path in self.write_specs(folder).items()]

    def handle(self, request: LoopbackRequest) -> Reply:
        with self._lock:
            return self._route(request)

    def _route(self, request: LoopbackRequest) -> Reply:
        path, method = request.path, request.method
        if method == "GET" and (m := re.fullmatch(r"/crm/customers/([^/]+)", path)):
            customer = CUSTOMERS.get(m.group(1))
            return json_reply(customer) if customer else json_reply({"error": "no such customer"}, 404)
        if method == "POST" and path == "/erp/orders":
            body = request.json() or {}
            if body.get("sku") not in PRICES or not isinstance(body.get("quantity"), int):
                return json_reply({"error": "unknown sku or bad quantity"}, 422)
            order_id = f"SO-{next(self._ids):04d}"
            order = {"order_id": order_id, "status": "open", "customer_id": body.get("customer_id"),
                     "sku": body["sku"], "quantity": body["quantity"],
                     "total": PRICES[body["sku"]] * body["quantity"]}
            self.orders[order_id] = order
            return json_reply(order, 201)
        if method == "POST" and (m := re.fullmatch(r"/erp/orders/([^/]+)/cancel", path)):
            found = self.orders.get(m.group(1))
            if found is None:
                return json_reply({"error": "no such order"}, 404)
            found["status"] = "cancelled"
            self.cancelled.append(m.group(1))
            return json_reply(found)
        if method == "POST" and path == "/logistics/shipments":
            if self.fail_shipments:
                return json_reply({"error": "carrier unavailable"}, 503)
            body = request.json() or {}
            if body.get("order_id") not in self.orders:
                return json_reply({"error": "no such order"}, 422)
            shipment = {"shipment_id": f"SH-{next(self._ids):04d}", "order_id": body["order_id"],
                        "status": "booked", "address": body.get("address")}
            self.shipments.append(shipment)
            return json_reply(shipment, 201)
        return json_reply({"error": f"no route {method} {path}"}, 404)


def main(argv: list[str]) -> None:  # pragma: no cover - the README's demo
    folder = Path(argv[0] if argv else "business-demo")
    with BusinessFakes() as fakes:
        config = {"openapi": fakes.openapi_config(folder)}
        (folder / "autoglm.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        print(json.dumps({"url": fakes.url, "config": str(folder / "autoglm.yaml")}), flush=True)
        fakes.serve_until_interrupted()


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
