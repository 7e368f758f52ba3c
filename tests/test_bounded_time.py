"""Bounded time: a prompt too long for a model fails at once and is never retried; model fills during planning
stay within a budget, and every cut is in the trace."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from openautoglm import AutoGLM
from openautoglm.config import RouterSettings
from openautoglm.errors import ContextLengthExceeded
from openautoglm.events import EventKind, check
from openautoglm.models.base import ChatModel, ChatRequest, ChatResponse
from openautoglm.models.embedded import EmbeddedModel, looping
from openautoglm.models.openai_compat import OpenAICompatibleModel
from openautoglm.models.pool import CLOSED, Router
from openautoglm.plan import Plan, Step
from openautoglm.planning import RulePlanner
from openautoglm.planning.budget import FillBudget, fill_tokens
from openautoglm.planning.replan import replan
from openautoglm.results import StepResult, StepStatus
from openautoglm.testing import FakeOpenAI
from openautoglm.tools.base import tool
from openautoglm.tools.llm import DATA_NOTICE
from planning_support import context, registry

# A pasted meeting note of 20,000 characters: about 37,000 tokens for SmolLM2, whose context holds 2,048.
LONG_REQUEST = ("请帮我总结下面这段会议记录。" + "今天的会议讨论了第三季度的销售情况，华东地区增长了百分之十二，"
                "华南地区持平，新产品的推广计划将在下个月开始。" * 400)[:20_000]
LLAMA_SERVER_MESSAGE = "the request exceeds the available context size, try increasing it"


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedModel]:
    m = EmbeddedModel(n_ctx=2048)
    yield m
    m.close()


@pytest.mark.model
async def test_a_prompt_longer_than_the_context_fails_before_generating(embedded: EmbeddedModel) -> None:
    with pytest.raises(ContextLengthExceeded) as caught:
        await embedded.complete(ChatRequest.of(LONG_REQUEST, max_tokens=16))
    error = caught.value
    assert not error.retryable and not error.replannable and error.http_status == 400
    assert "2,048-token context" in str(error) and "20,0" in str(error)
    assert embedded.count_tokens(LONG_REQUEST) > 2048 and embedded.context_window() == 2048
    # The model is untouched by it: the next call answers.
    assert (await embedded.complete(ChatRequest.of("Name one colour.", max_tokens=4))).completion_tokens > 0


@pytest.mark.model
async def test_a_request_no_model_can_read_fails_at_once_with_no_plan_and_no_retry(
        embedded: EmbeddedModel, tmp_path: Any) -> None:
    events: list[Any] = []
    async with AutoGLM(model=embedded) as app:
        result = await app.run(LONG_REQUEST, on_event=events.append)
    assert result.status == "failed"
    assert "context" in result.answer and "shorten" in result.answer
    kinds = [e.kind for e in events]
    assert EventKind.PLAN_MADE not in kinds and EventKind.MODEL_PROMPT not in kinds
    assert EventKind.STEP_RETRY not in kinds and EventKind.REPLAN not in kinds


@pytest.mark.parametrize("status", [400, 500])
async def test_the_pool_and_the_executor_never_retry_a_context_error(status: int) -> None:
    with FakeOpenAI("error", status=status, error_message=LLAMA_SERVER_MESSAGE) as a, \
            FakeOpenAI("error", status=status, error_message=LLAMA_SERVER_MESSAGE) as b:
        nodes = [OpenAICompatibleModel(f.base_url, "m", name=n) for n, f in (("a", a), ("b", b))]
        router = Router(nodes, settings=RouterSettings(probe_interval_s=None))
        with pytest.raises(ContextLengthExceeded):
            await router.complete(ChatRequest.of("hello"))
        assert a.requests + b.requests == 1, "another node of the same model would fail the same way"
        events: list[Any] = []
        async with AutoGLM(model=router) as app:
            result = await app.execute({"steps": [{"id": "say", "uses": "llm.generate", "with": {"prompt": "x"}}]},
                                       on_event=events.append)
        assert result.status == "failed" and result.steps[0].attempts == 1
        assert "context" in (result.steps[0].error or "")
        assert a.requests + b.requests == 2
        assert not [e for e in events if e.kind == EventKind.STEP_RETRY]
        # The prompt's fault, not the node's: no breaker counts it.
        assert all(n.breaker.state == CLOSED and n.breaker.failures == 0 for n in router.nodes)


class StallingModel(ChatModel):
    """A model that takes far longer than any budget; records whether its caller gave up on it."""

    name = "stalling"
    supports_json_schema = True

    def __init__(self) -> None:
        self.calls = 0
        self.cancelled = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return ChatResponse(text="{}", model=self.name)


@tool(name="movies.play")
def play_movie(title: str) -> str:
    """Play a movie by its title.

    Args:
        title: the movie's title
    """
    return f"playing {title}"


async def test_model_fills_stop_when_the_planning_budget_runs_out_and_the_cut_is_traced() -> None:
    model = StallingModel()
    tools = registry(model)
    tools.add(play_movie)
    ctx, events = context(tools, model=model)
    # Two parts, each wanting a title that rules cannot read (lower case): the first fill is stopped when the
    # budget runs out, the second is not started.
    plan = await asyncio.wait_for(
        RulePlanner(fill_seconds=0.3).plan("play the film inception for me, then play the film heat", ctx), 10)
    # No title was found for either part, so nothing is played: each part is a step or an honest "cannot do".
    assert len(plan.steps) + len(plan.unsupported) == 2
    cuts = [d for k, d in events if k == EventKind.BUDGET_CUT]
    for cut in cuts:
        check(EventKind.BUDGET_CUT, cut)  # what the task's event log accepts
    assert model.calls == 1 and model.cancelled == 1
    assert cuts[0]["tool"] == "movies.play" and "stopped after" in cuts[0]["reason"]
    assert any("spent" in c["reason"] for c in cuts[1:])


def test_a_fill_asks_for_the_tokens_its_slots_need() -> None:
    number = fill_tokens({"value": "number"}, {}, ceiling=96)
    text = fill_tokens({"value": "text"}, {}, ceiling=96)
    short = fill_tokens({"value": "enum"}, {"value": {"enum": ["c", "f"]}}, ceiling=96)
    long = fill_tokens({"value": "enum"}, {"value": {"enum": ["c", "degrees on the fahrenheit scale"]}}, ceiling=96)
    assert number < text <= 96 and short < long < text
    assert fill_tokens({f"field{i}": "text" for i in range(5)}, {}, ceiling=96) == 96


def test_a_failed_fill_is_not_asked_again_and_a_spent_budget_refuses() -> None:
    now = [0.0]
    budget = FillBudget(2.0, clock=lambda: now[0])
    assert budget.refusal("t", "part") is None
    budget.failed.add(("t", "part"))
    assert budget.refusal("t", "part") == "the same fill failed already"
    assert budget.refusal("t", "other part") is None
    now[0] = 2.5
    assert "spent" in (budget.refusal("u", "x") or "") and budget.left() == 0


async def test_no_stand_in_is_offered_for_a_step_whose_input_is_too_long() -> None:
    ctx, events = context()
    plan = Plan(steps=[Step(id="answer", uses="llm.generate", with_={"prompt": "x"}, description="总结这段话")])
    error = ContextLengthExceeded("the prompt is about 37,000 tokens")
    failed = StepResult("answer", "llm.generate", StepStatus.FAILED, error=str(error),
                        replannable=error.replannable)
    assert await replan("总结这段话", plan, {"answer": failed}, ctx) is None
    [(kind, data)] = events
    assert kind == EventKind.REPLAN and data["accepted"] is False and "too long" in data["problems"][0]
    check(kind, data)


def test_a_tail_that_repeats_one_pattern_is_a_loop() -> None:
    phrase = list(range(100, 120))
    assert looping([7] * 16) and looping([3, 1, 4, *([1, 2] * 8)]) and looping([9, *phrase, *phrase])
    assert not looping([1, 2] * 7)  # too short a span to call it a loop
    assert not looping(list(range(90))) and not looping([*phrase, 5, *phrase])


@pytest.mark.model
async def test_the_embedded_model_stops_when_it_starts_repeating_itself(embedded: EmbeddedModel) -> None:
    # SmolLM2-135M answers this with "1. 1.1.1.1: 1.1.1.1.1: ..." until max_tokens when nothing stops it.
    response = await embedded.complete(ChatRequest.of("一件衣服 480 元", system=DATA_NOTICE, max_tokens=256))
    assert response.completion_tokens < 64
    assert (await embedded.complete(ChatRequest.of("Name three colours.", max_tokens=24))).text.strip()


@pytest.mark.parametrize("retry, attempts", [(None, 1), ({"attempts": 2, "backoff_s": 0.01}, 2)])
async def test_a_timed_out_model_step_is_not_retried_unless_its_plan_asks(retry: Any, attempts: int) -> None:
    model = StallingModel()
    step: dict[str, Any] = {"id": "say", "uses": "llm.generate", "with": {"prompt": "x"}, "timeout_s": 0.2}
    if retry:
        step["retry"] = retry
    async with AutoGLM(model=model) as app:
        result = await app.execute({"steps": [step]})
    assert result.steps[0].status == "failed" and result.steps[0].attempts == attempts
    assert model.calls == attempts and model.cancelled == attempts
