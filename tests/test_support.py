"""Customer service with confidence routing (apps/support/): drafts from the sample shop's knowledge base and its
order API on loopback, confidence measured from the evidence, routes by the configured thresholds, conversations."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway_support import bearer, gateway, new_key
from openautoglm import AutoGLM
from openautoglm.apps.support import SupportDesk
from openautoglm.apps.support.confidence import Calibration, assess
from openautoglm.apps.support.drafts import Draft
from openautoglm.apps.support.message import read_message
from openautoglm.compose.grounding import Known, ungrounded
from openautoglm.config import load_settings
from openautoglm.models.base import ChatModel, ChatRequest, ChatResponse
from openautoglm.models.scripted import ScriptedModel
from openautoglm.testing.fake_orders import FakeOrderAPI
from support_shop import order_api, shop_kb, shop_settings

__all__ = ["order_api", "shop_kb"]  # fixtures


def desk_for(tmp_path: Path, kb: Path, api: FakeOrderAPI, **support: object) -> tuple[AutoGLM, SupportDesk]:
    glm = AutoGLM(settings=shop_settings(kb, api, f"sqlite:///{tmp_path / 'app.db'}", **support),
                  model=ScriptedModel(["unused"]))
    return glm, SupportDesk(glm)


async def test_an_order_question_is_answered_from_the_configured_order_api(
        tmp_path: Path, shop_kb: Path, order_api: FakeOrderAPI) -> None:
    glm, desk = desk_for(tmp_path, shop_kb, order_api)
    reply = await desk.ask("Where is my order ORD-10023?")
    more = await desk.ask("ORD-10023 到哪了？能不能改一下收货地址？")
    await glm.aclose()
    assert any(r.path == "/orders/ORD-10023" for r in order_api.requests)
    assert reply.route == "auto_reply" and reply.confidence >= 0.9
    assert "SF1234567890" in reply.reply and "2026-12-03" in reply.reply  # the API's fields, not a model's
    assert reply.sources == [{"type": "tool", "name": "orders.get_order", "ref": "ORD-10023"}]
    # The lookup answers where the order is, not the change of address also asked for: a person sees that.
    assert "SF1234567890" in (more.draft or "") and more.features["coverage"] < 1
    assert more.route != "auto_reply"


async def test_an_unknown_order_and_an_out_of_scope_message_go_to_a_person(
        tmp_path: Path, shop_kb: Path, order_api: FakeOrderAPI) -> None:
    glm, desk = desk_for(tmp_path, shop_kb, order_api)
    unknown = await desk.ask("我的订单 ORD-99999 怎么还没到？")
    outside = await desk.ask("你们公司的股票代码是多少？")
    await glm.aclose()
    assert unknown.route == "handoff" and unknown.draft is None
    assert outside.route == "handoff"
    assert outside.reply == "已为您转接人工客服，请稍候。"  # told in their language, no guessed answer


async def test_a_policy_answer_quotes_the_document_and_names_it(
        tmp_path: Path, shop_kb: Path, order_api: FakeOrderAPI) -> None:
    glm, desk = desk_for(tmp_path, shop_kb, order_api)
    reply = await desk.ask("我买的耳机坏了，可以退货吗？")
    await glm.aclose()
    assert reply.draft is not None and "30天" in reply.draft
    assert reply.sources[0]["name"] == "returns-policy.zh.md"
    assert reply.features["relevance"] > 0.3 and reply.problems == []


async def test_an_angry_customer_is_not_answered_automatically(
        tmp_path: Path, shop_kb: Path, order_api: FakeOrderAPI) -> None:
    glm, desk = desk_for(tmp_path, shop_kb, order_api)
    calm = await desk.ask("How long does standard delivery take?")
    angry = await desk.ask("WHY does standard delivery take so long?! This is ridiculous, worst shop ever!!")
    await glm.aclose()
    assert angry.features["anger"] > 0
    assert angry.confidence < calm.confidence
    assert angry.route != "auto_reply"


async def test_a_follow_up_leans_on_the_conversations_previous_message(
        tmp_path: Path, shop_kb: Path, order_api: FakeOrderAPI) -> None:
    glm, desk = desk_for(tmp_path, shop_kb, order_api)
    await desk.ask("我买的耳机坏了，可以退货吗？", conversation_id="conv-1")
    follow = await desk.ask("那运费呢？", conversation_id="conv-1")
    alone = await desk.ask("那运费呢？", conversation_id="conv-2")
    turns = glm.sessions.turns("conv-1")
    await glm.aclose()
    # In the returns conversation, the shipping cost is the return shipping of the returns policy...
    assert follow.sources[0]["name"] == "returns-policy.zh.md" and "12元" in (follow.draft or "")
    # ...while the same words opening a conversation find the shipping policy.
    assert alone.sources and alone.sources[0]["name"] == "shipping.zh.md"
    assert [t.request for t in turns] == ["我买的耳机坏了，可以退货吗？", "那运费呢？"]
    assert turns[1].status == follow.route


async def test_thresholds_come_from_autoglm_yaml(tmp_path: Path, shop_kb: Path, order_api: FakeOrderAPI) -> None:
    config = tmp_path / "autoglm.yaml"
    config.write_text(f"database_url: sqlite:///{tmp_path / 'app.db'}\n"
                      f"knowledge: {{path: {shop_kb}}}\n"
                      f"openapi: [{{name: orders, spec: '{order_api.spec_url}', allow_private: true}}]\n"
                      "support: {auto_reply: 1.0, suggest: 0.5, order_tool: orders.get_order}\n", encoding="utf-8")
    settings = load_settings(config)
    assert (settings.support.auto_reply, settings.support.suggest) == (1.0, 0.5)
    glm = AutoGLM(settings=settings, model=ScriptedModel(["unused"]))
    reply = await SupportDesk(glm).ask("Where is my order ORD-10023?")
    await glm.aclose()
    assert 0.5 <= reply.confidence < 1.0 and reply.route == "suggest"  # was auto_reply at the default 0.9
    assert reply.reply != reply.draft  # the customer is told an agent will answer; the draft waits for one


def test_a_draft_stating_a_figure_its_source_lacks_scores_zero() -> None:
    message = read_message("退货要多久退款？", r"ORD-\d+")
    source = "退款在我们收到退货后3个工作日内原路退回。"
    good = Draft(text=source, sources=[{"name": "r.md"}], facts=[source],
                 evidence={"relevance": 0.9, "margin": 0.5, "coverage": 1.0, "same_language": 1.0})
    bad = Draft(text="退款在我们收到退货后5个工作日内原路退回。", sources=good.sources, facts=good.facts,
                evidence=good.evidence)
    calibration = Calibration.bundled()
    assert assess(message, good, calibration).confidence > 0.5
    judged = assess(message, bad, calibration)
    assert judged.confidence == 0.0 and "5" in judged.problems[0]


def test_the_gateway_answers_support_messages_with_roles_and_json_errors(
        tmp_path: Path, shop_kb: Path, order_api: FakeOrderAPI) -> None:
    settings = shop_settings(shop_kb, order_api, f"sqlite:///{tmp_path / 'gw.db'}")
    glm = AutoGLM(settings=settings, model=ScriptedModel(["unused"]))
    alice, bob, viewer = new_key(glm, "user", "alice"), new_key(glm, "user", "bob"), new_key(glm, "viewer")
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        ok = client.post("/v1/support/messages", headers=bearer(alice),
                         json={"conversation_id": "shop-1", "text": "Where is my order ORD-10027?"})
        assert ok.status_code == 200, ok.text
        body = ok.json()
        assert body["route"] == "auto_reply" and "ZT5566778899" in body["reply"]
        assert set(body) >= {"route", "confidence", "reply", "sources", "ticket_id"}
        assert client.post("/v1/support/messages", json={"text": "hi"}).status_code == 401
        assert client.post("/v1/support/messages", headers=bearer(viewer), json={"text": "hi"}).status_code == 403
        empty = client.post("/v1/support/messages", headers=bearer(alice), json={"text": ""})
        assert empty.status_code == 422 and "error" in empty.json()
        # Bob cannot write into (or read through a follow-up) Alice's conversation.
        theirs = client.post("/v1/support/messages", headers=bearer(bob),
                             json={"conversation_id": "shop-1", "text": "那运费呢？"})
        assert theirs.status_code == 404 and theirs.json()["error"]["type"]


class CountingModel(ChatModel):
    """The real model, counting the calls the support desk makes to it."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner, self.name, self.calls = inner, inner.name, 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        return await self.inner.complete(request)


async def test_the_embedded_model_may_only_reword_a_draft(
        tmp_path: Path, shop_kb: Path, order_api: FakeOrderAPI, embedded_model: ChatModel) -> None:
    model = CountingModel(embedded_model)
    glm = AutoGLM(settings=shop_settings(shop_kb, order_api, f"sqlite:///{tmp_path / 'app.db'}",
                                         phrase_with_model=True), model=model)
    reply = await SupportDesk(glm).ask("Where is my order ORD-10027?")
    store_order = order_api.orders["ORD-10027"]
    await glm.aclose()
    assert model.calls == 1
    # Whatever the 135M model wrote, what the customer reads states nothing the order API did not return: its wording
    # was kept only if grounded, else the template's sentence went out.
    assert reply.draft is not None and ungrounded(reply.draft, Known.of([store_order, "ORD-10027"])) == []
    assert reply.sources == [{"type": "tool", "name": "orders.get_order", "ref": "ORD-10027"}]
