"""The agents' inbox over the gateway (SQLite and PostgreSQL): suggested and handed-over messages become tickets,
operators approve, edit, reject or reply, each decision is recorded and counted in /metrics, and a reply that goes
out reaches the customer's conversation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway_support import bearer, database, gateway, new_key
from openautoglm import AutoGLM
from openautoglm.config import SupportSettings
from openautoglm.errors import TicketConflict
from openautoglm.models.scripted import ScriptedModel
from openautoglm.store import Store
from openautoglm.testing.fake_orders import FakeOrderAPI
from support_shop import order_api, shop_kb, shop_settings

__all__ = ["order_api", "shop_kb"]  # fixtures


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def test_a_suggestion_an_agent_edits_reaches_the_customer_and_is_counted(
        db_url: str, shop_kb: Path, order_api: FakeOrderAPI) -> None:
    # suggest from 0.1: the order question with a second request (change the address) is suggested, not sent.
    settings = shop_settings(shop_kb, order_api, db_url)
    settings.support = SupportSettings(order_tool="orders.get_order", auto_reply=0.9, suggest=0.1)
    glm = AutoGLM(settings=settings, model=ScriptedModel(["unused"]), store=Store(db_url))
    customer, other, agent = new_key(glm, "user", "cu"), new_key(glm, "user", "x"), new_key(glm, "operator", "ag")
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        def say(text: str) -> dict[str, object]:
            r = client.post("/v1/support/messages", headers=bearer(customer),
                            json={"conversation_id": "c-42", "text": text})
            assert r.status_code == 200, r.text
            return dict(r.json())

        sent = say("Where is my order ORD-10027?")
        asked = say("ORD-10023 到哪了？能不能改一下收货地址？")
        outside = say("ORD-99999 怎么还没到？")  # no such order: nothing to draft from
        assert sent["route"] == "auto_reply" and sent["ticket_id"] is None
        assert asked["route"] == "suggest" and asked["ticket_id"], asked
        assert outside["route"] == "handoff" and outside["ticket_id"]

        assert client.get("/v1/support/inbox", headers=bearer(customer)).status_code == 403
        inbox = client.get("/v1/support/inbox", headers=bearer(agent)).json()["data"]
        assert [t["id"] for t in inbox] == [asked["ticket_id"], outside["ticket_id"]]
        assert "SF1234567890" in inbox[0]["draft"] and inbox[0]["sources"][0]["ref"] == "ORD-10023"

        edited = inbox[0]["draft"] + " 修改地址请在发货前联系我们。"
        done = client.post(f"/v1/support/inbox/{asked['ticket_id']}", headers=bearer(agent),
                           json={"action": "edit", "text": edited})
        assert done.status_code == 200 and done.json()["status"] == "answered" and done.json()["reply"] == edited
        again = client.post(f"/v1/support/inbox/{asked['ticket_id']}", headers=bearer(agent),
                            json={"action": "approve"})
        assert again.status_code == 409 and again.json()["error"]["type"] == "ticket_conflict"
        no_text = client.post(f"/v1/support/inbox/{outside['ticket_id']}", headers=bearer(agent),
                              json={"action": "reply"})
        assert no_text.status_code == 422
        nothing = client.post(f"/v1/support/inbox/{outside['ticket_id']}", headers=bearer(agent),
                              json={"action": "approve"})
        assert nothing.status_code == 409  # a hand-off has no draft to approve
        replied = client.post(f"/v1/support/inbox/{outside['ticket_id']}", headers=bearer(agent),
                              json={"action": "reply", "text": "这个问题我们转给投资者关系部门。"})
        assert replied.status_code == 200
        assert client.post("/v1/support/inbox/nope", headers=bearer(agent),
                           json={"action": "approve"}).status_code == 404

        conversation = client.get("/v1/support/conversations/c-42", headers=bearer(customer)).json()["messages"]
        assert {"from": "agent", "text": edited} in conversation
        assert conversation[0] == {"from": "customer", "text": "Where is my order ORD-10027?"}
        assert client.get("/v1/support/conversations/c-42", headers=bearer(other)).status_code == 404

        metrics = client.get("/metrics", headers=bearer(agent)).text
    assert 'autoglm_support_messages_total{route="suggest"} 1.0' in metrics
    assert 'autoglm_support_decisions_total{action="edit"} 1.0' in metrics
    assert 'autoglm_support_rate{kind="auto_reply"} 0.333' in metrics
    assert 'autoglm_support_rate{kind="agent_edit"} 1.0' in metrics  # one suggestion sent, and it was edited
    assert client is not None and open_tickets(db_url) == 0


def open_tickets(db_url: str) -> int:
    store = Store(db_url)
    try:
        return len(store.list_tickets("open"))
    finally:
        store.close()


def test_rejecting_a_draft_keeps_the_ticket_open_for_a_reply_and_every_decision_is_a_row(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'tickets.db'}")
    try:
        ticket = store.add_ticket(route="suggest", message="能开发票吗？", draft="电子发票在确认收货后24小时内发送。",
                                  reply="收到", confidence=0.8, sources=[{"name": "payment-invoice.zh.md"}],
                                  conversation_id=None, owner="cu")
        rejected = store.decide_ticket(ticket.id, "reject", by="ag")
        assert (rejected.status, rejected.draft) == ("open", None)
        with pytest.raises(TicketConflict, match="no draft to approve"):
            store.decide_ticket(ticket.id, "approve", by="ag")
        answered = store.decide_ticket(ticket.id, "reply", by="ag2", text="可以，确认收货后会发到您的邮箱。")
        assert answered.status == "answered" and answered.reply == "可以，确认收货后会发到您的邮箱。"
        counts = store.support_counts()
        assert counts.messages == {"suggest": 1} and counts.decisions == {"reject": 1, "reply": 1}
    finally:
        store.close()
