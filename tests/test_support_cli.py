"""`autoglm support ask` as a user runs it: a separate process reading autoglm.yaml in its working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from openautoglm.testing.fake_orders import FakeOrderAPI
from support_shop import order_api, shop_kb

__all__ = ["order_api", "shop_kb"]  # fixtures
AUTOGLM = str(Path(sys.executable).with_name("autoglm"))


def autoglm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AUTOGLM, *args], capture_output=True, text=True, timeout=180, cwd=cwd,
                          env=os.environ.copy(), stdin=subprocess.DEVNULL)


def test_support_ask_routes_an_order_question_and_refuses_an_empty_message(
        tmp_path: Path, shop_kb: Path, order_api: FakeOrderAPI) -> None:
    (tmp_path / "autoglm.yaml").write_text(
        f"knowledge: {{path: {shop_kb}}}\n"
        f"openapi: [{{name: orders, spec: '{order_api.spec_url}', allow_private: true}}]\n"
        "support: {order_tool: orders.get_order}\n", encoding="utf-8")
    done = autoglm("support", "ask", "订单 ORD-10024 发货了吗？", "--conversation", "c-9", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["route"] == "auto_reply" and "正在备货" in body["reply"] and "2026-12-05" in body["reply"]
    assert body["conversation_id"] == "c-9" and body["sources"][0]["ref"] == "ORD-10024"
    empty = autoglm("support", "ask", "  ", cwd=tmp_path)
    lines = [line for line in empty.stderr.splitlines() if line.strip()]
    assert empty.returncode != 0 and len(lines) == 1 and "message is empty" in lines[0]
