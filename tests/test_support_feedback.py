"""Agents' decisions in the support inbox feed the feedback loop: a draft worded by a model node is rated by what the
agent did with it (approved: thumbs up; edited, rejected or replaced: thumbs down), joined to that node and the
policy version that routed the call, and the policy loop moves traffic away from the node whose drafts agents
throw away. Two fake OpenAI-compatible nodes on loopback behind the real router, the shop's order API on loopback,
SQLite store."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from openautoglm import AutoGLM
from openautoglm.apps.support import SupportDesk
from openautoglm.config import PolicySettings, RouteConfig, RouterSettings
from openautoglm.models.base import ChatRequest
from openautoglm.models.openai_compat import OpenAICompatibleModel
from openautoglm.models.pool import Router
from openautoglm.models.pool.node import PoolNode
from openautoglm.models.pool.strategies import Strategy, strategies
from openautoglm.policies.loop import RECENT, PolicyLoop
from openautoglm.store import Store
from openautoglm.testing import FakeOpenAI
from openautoglm.testing.fake_orders import FakeOrderAPI
from support_shop import order_api, shop_kb, shop_settings

__all__ = ["order_api", "shop_kb"]  # fixtures

QUESTION = "ORD-10023 到哪了？能不能改一下收货地址？"  # an order question with a second request: suggested, not sent


PICKS = random.Random(7)  # seeded: the same picks on every run


@strategies.register("test-random")
class Uniform(Strategy):
    """A node at random, whatever their latencies: so both nodes word drafts (the default strategy follows the
    measured latency and may give every call to the node that happened to answer its first call faster)."""

    def pick(self, usable: list[PoolNode], request: ChatRequest) -> PoolNode:
        return PICKS.choice(sorted(usable, key=lambda n: n.name))


@pytest.fixture
def nodes() -> Iterator[dict[str, FakeOpenAI]]:
    fakes = {"careless": FakeOpenAI("text").start(), "careful": FakeOpenAI("text").start()}
    yield fakes
    for fake in fakes.values():
        fake.stop()


async def test_agent_decisions_rate_the_node_that_worded_the_draft_and_the_loop_acts_on_them(
        tmp_path: Path, shop_kb: Path, order_api: FakeOrderAPI, nodes: dict[str, FakeOpenAI]) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    plain = AutoGLM(settings=shop_settings(shop_kb, order_api, url, auto_reply=0.9, suggest=0.1),
                    store=Store(url))
    unworded = await SupportDesk(plain).ask(QUESTION, conversation_id="c-0")
    await plain.aclose()
    assert unworded.route == "suggest" and unworded.draft
    for fake in nodes.values():  # both nodes reword the draft faithfully (the grounding check keeps it)
        fake.text = unworded.draft

    router = Router([OpenAICompatibleModel(f.base_url, "m", name=n) for n, f in nodes.items()],
                    settings=RouterSettings(probe_interval_s=None, default=RouteConfig(strategy="test-random")))
    store = Store(url)
    glm = AutoGLM(settings=shop_settings(shop_kb, order_api, url, auto_reply=0.9, suggest=0.1,
                                         phrase_with_model=True), model=router, store=store)
    desk = SupportDesk(glm)
    try:
        # The draft the desk wrote alone names no node: deciding on it rates nobody.
        await desk.decide(str(unworded.ticket_id), "approve", "agent-1")
        assert store.feedback(f"ticket:{unworded.ticket_id}") == []

        drafted: dict[str, str] = {}
        for i in range(16):
            reply = await desk.ask(QUESTION, conversation_id=f"c-{i + 1}")
            assert reply.route == "suggest" and reply.ticket_id
            ticket = store.get_ticket(reply.ticket_id)
            assert ticket.drafter in nodes and ticket.drafter_capability == "text-generation"
            drafted[reply.ticket_id] = ticket.drafter
        assert set(drafted.values()) == set(nodes), Counter(drafted.values())  # the router used both

        actions = ["edit", "reject", "reply"]
        for n, (ticket_id, node) in enumerate(drafted.items()):
            if node == "careful":
                await desk.decide(ticket_id, "approve", "agent-1")
            else:
                action = actions[n % 3]
                await desk.decide(ticket_id, action, "agent-1", None if action == "reject" else "我们重新写了。")
        ratings = {t: [f.rating for f in store.feedback(f"ticket:{t}")] for t in drafted}
        assert all(ratings[t] == ([1] if node == "careful" else [-1]) for t, node in drafted.items()), ratings
        assert all(store.feedback(f"ticket:{t}")[0].nodes == [node] for t, node in drafted.items())

        loop = PolicyLoop(glm.policies, router, PolicySettings())
        loop.tick()  # reads the ratings into the router's signals (and may propose at once)
        careless = loop.signals.node("text-generation", "careless")
        careful = loop.signals.node("text-generation", "careful")
        assert careless.bad_rating_rate(RECENT) == 1.0 and careful.bad_rating_rate(RECENT) == 0.0
        made = loop.propose(None)
        assert made is not None
        weights = made[0].routes["text-generation"].weights
        assert weights["careless"] < weights["careful"], weights
    finally:
        await glm.aclose()
