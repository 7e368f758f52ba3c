"""The console's Inbox tab in a real headless Chromium against a real gateway on loopback: a customer's message is
suggested to an agent, an operator edits the suggested reply and sends it, and the edit reaches the customer's
conversation (and the decision is recorded as an edit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from console_support import browser, browser_problems, by_id, css, open_tab, sign_out, visible_text, wait_for
from gateway_support import bearer, gateway, new_key
from openautoglm import AutoGLM
from openautoglm.config import SupportSettings
from openautoglm.models.scripted import ScriptedModel
from openautoglm.store import Store
from openautoglm.testing.fake_orders import FakeOrderAPI
from support_shop import order_api, shop_kb, shop_settings

__all__ = ["browser", "order_api", "shop_kb"]  # fixtures


def test_an_operator_edits_and_sends_a_suggested_reply_from_the_inbox(
        browser: Any, tmp_path: Path, shop_kb: Path, order_api: FakeOrderAPI) -> None:
    db_url = f"sqlite:///{tmp_path / 'console.db'}"
    settings = shop_settings(shop_kb, order_api, db_url)
    settings.support = SupportSettings(order_tool="orders.get_order", auto_reply=0.9, suggest=0.01)
    glm = AutoGLM(settings=settings, model=ScriptedModel(["unused"]), store=Store(db_url))
    customer, agent = new_key(glm, "user", "cu"), new_key(glm, "operator", "ag")
    hostile = '<img src=x onerror="window.__pwned=1">'
    with gateway(glm, access_log=False) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        asked = client.post("/v1/support/messages", headers=bearer(customer), json={
            "conversation_id": "web-1", "text": f"ORD-10023 到哪了？能不能改一下收货地址？{hostile}"}).json()
        assert asked["route"] == "suggest", asked

        driver = browser
        open_tab(driver, server.url, agent, "inbox")
        wait_for(driver, lambda d: css(d, f'#inbox li[data-id="{asked["ticket_id"]}"]'), "the ticket in the inbox")
        item = css(driver, f'#inbox li[data-id="{asked["ticket_id"]}"]')[0]
        assert hostile in item.find_element("css selector", ".t-message").text  # shown as text, not markup
        assert "orders.get_order ORD-10023" in item.find_element("css selector", ".t-sources").text
        box = item.find_element("css selector", ".t-text")
        assert "SF1234567890" in box.get_attribute("value")
        box.send_keys(" 修改地址请在发货前联系我们。")
        item.find_element("css selector", ".t-send").click()
        wait_for(driver, lambda d: by_id(d, "inbox-empty").is_displayed(), "the inbox empties after sending")
        assert driver.execute_script("return window.__pwned === undefined")
        assert browser_problems(driver) == []

        # A customer's key opens no inbox: the tab says why instead of the bare 403.
        sign_out(driver)
        open_tab(driver, server.url, customer, "inbox")
        wait_for(driver, lambda d: "for operators" in visible_text(d, "inbox-error"), "the inbox refused")

        said = client.get("/v1/support/conversations/web-1", headers=bearer(customer)).json()["messages"]
        answered = client.get("/v1/support/inbox?status=answered", headers=bearer(agent)).json()["data"]
    assert said[-1]["from"] == "agent" and said[-1]["text"].endswith("修改地址请在发货前联系我们。")
    assert "SF1234567890" in said[-1]["text"]
    assert [t["id"] for t in answered] == [asked["ticket_id"]]
    store = Store(db_url)
    try:
        assert store.support_counts().decisions == {"edit": 1}
    finally:
        store.close()
