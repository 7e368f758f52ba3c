"""The feedback loop over a real router and fake nodes on loopback: thumbs-down ratings of one node's answers lead
to a proposal, a canary and a promotion that move traffic away from it; a pin stops the loop; a bad policy an
operator activates is rolled back within a bounded number of calls; the statistical tests give textbook figures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openautoglm.config import PolicySettings, RouterSettings
from openautoglm.events import EventKind
from openautoglm.models.base import ChatRequest, reporting_model_events
from openautoglm.models.openai_compat import OpenAICompatibleModel
from openautoglm.models.pool import Router
from openautoglm.policies.book import PolicyBook
from openautoglm.policies.loop import MIN_POLICY_WEIGHT, PolicyLoop
from openautoglm.policies.stats import mann_whitney_greater, two_proportions_greater
from openautoglm.store import Store
from openautoglm.testing import FakeOpenAI

SETTINGS = PolicySettings(canary_share=0.5, window=40, min_calls=15, alpha=0.01)


def test_the_tests_give_textbook_figures() -> None:
    # U = 17 for x over y; scipy.stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic") gives 0.0557.
    mwu = mann_whitney_greater([19, 22, 16, 29, 24], [20, 11, 17, 12])
    assert mwu["u"] == 17 and mwu["p"] == pytest.approx(0.0557, abs=1e-3)
    assert mann_whitney_greater([1, 2, 3], [])["p"] == 1.0
    props = two_proportions_greater(30, 100, 10, 100)
    assert props["z"] == pytest.approx(3.5355, abs=1e-3) and props["p"] == pytest.approx(2.03e-4, rel=0.01)
    assert two_proportions_greater(10, 100, 30, 100)["p"] > 0.99  # better, not worse
    assert two_proportions_greater(0, 50, 0, 50)["p"] == 1.0


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Router, PolicyBook, dict[str, FakeOpenAI]]]:
    fakes = {"good": FakeOpenAI("echo").start(), "liar": FakeOpenAI("text", text="wrong").start()}
    router = Router([OpenAICompatibleModel(f.base_url, "m", name=n) for n, f in fakes.items()],
                    settings=RouterSettings(probe_interval_s=None))
    store = Store(f"sqlite:///{tmp_path / 'loop.db'}")
    yield router, PolicyBook(store, router), fakes
    store.close()
    for fake in fakes.values():
        fake.stop()


async def _traffic(router: Router, book: PolicyBook, loop: PolicyLoop, calls: int, start: int = 0) -> list[str]:
    """``calls`` calls, each answer rated (right +1, wrong -1) through the store; a tick every 5 calls."""
    served: list[str] = []
    for i in range(start, start + calls):
        seen: list[dict[str, Any]] = []

        def sink(kind: str, _seen: list[dict[str, Any]] = seen, **data: Any) -> None:
            if kind == EventKind.MODEL_ATTEMPT and data["outcome"] == "ok":
                _seen.append(data)

        with reporting_model_events(sink):
            answer = await router.complete(ChatRequest.of(f"q{i}"))
        node = seen[-1]["node"]
        served.append(node)
        book.store.add_feedback(f"t{i}", 1 if answer.text == f"q{i}" else -1, nodes=[node],
                                policy_version=seen[-1].get("policy"))
        if i % 5 == 4:
            loop.tick()
    return served


async def test_thumbs_down_moves_traffic_away_and_every_step_is_logged_with_figures(
        fleet: tuple[Router, PolicyBook, dict[str, FakeOpenAI]]) -> None:
    router, book, _ = fleet
    loop = PolicyLoop(book, router, SETTINGS)
    try:
        served = await _traffic(router, book, loop, 240)
        assert served[:60].count("liar") > 10  # unrated at first, the fast liar takes a share (15 seen on a loaded run)
        assert served[-60:].count("liar") < 6  # after the promotion, a trickle (its recovery stays visible)
        active = book.state().active
        assert active is not None
        weights = book.document(active).routes["text-generation"].weights
        assert weights["good"] >= 1.0 and MIN_POLICY_WEIGHT <= weights["liar"] < 0.1  # never 0: no node removed
        kinds = [e.kind for e in reversed(book.history())]
        first = kinds.index("policy.proposed")
        assert kinds[first - 1:first + 3] == ["policy.created", "policy.proposed", "policy.canary", "policy.promoted"]
        promoted = next(e for e in book.history() if e.kind == "policy.promoted")
        test = promoted.data["test"]
        assert {"errors", "latency", "ratings"} <= set(test) and test["calls"][0] >= SETTINGS.window
        assert test["ratings"]["test"] == "two-proportion-z" and test["latency"]["test"] == "mann-whitney-u"
        proposed = next(e for e in book.history() if e.kind == "policy.proposed")
        assert proposed.data["figures"]["text-generation"]["liar"]["bad_rating_rate"] > 0.5
    finally:
        await router.aclose()


async def test_a_pin_holds_and_a_bad_activated_policy_is_rolled_back_within_the_window(
        fleet: tuple[Router, PolicyBook, dict[str, FakeOpenAI]]) -> None:
    router, book, _ = fleet
    fair = book.create({"routes": {"text-generation": {"weights": {"liar": 0}}}}, "ops", "keep the liar out")
    book.pin(fair.version, "ops", "hold")
    loop = PolicyLoop(book, router, SETTINGS)
    try:
        await _traffic(router, book, loop, 60)
        assert book.history(5)[0].kind == "policy.pinned"  # the loop proposed nothing
        assert router.arms.canary is None and book.state().active == fair.version

        book.unpin("ops")
        bad = book.create({"routes": {"text-generation": {"weights": {"liar": 100, "good": 0.01}}}}, "ops", "oops")
        book.activate(bad.version, "ops", "oops")
        served = await _traffic(router, book, loop, SETTINGS.window + 10, start=60)
        state = book.state()
        assert state.active == fair.version  # rolled back to the version before it
        rollback = next(e for e in book.history() if e.kind == "policy.rolled_back")
        assert rollback.version == bad.version and rollback.author == "loop" and rollback.data["to"] == fair.version
        assert rollback.data["test"]["ratings"]["p"] < SETTINGS.alpha
        # Rolled back well within the window: the calls after it go to the good node again.
        assert served[-10:].count("good") >= 8
    finally:
        await router.aclose()
