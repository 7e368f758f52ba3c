"""A conversation as the planner sees it: chat messages made into turns with their recorded data, the reply
language a system prompt asks for, and the session summary read by the planner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openautoglm.engine import Executor
from openautoglm.events import Event, EventKind
from openautoglm.language import reply_language, requested_language
from openautoglm.memory.conversation import conversation
from openautoglm.memory.sessions import Sessions
from openautoglm.models.scripted import ScriptedModel
from openautoglm.orchestrator import Orchestrator
from openautoglm.plan import Plan, Step
from openautoglm.planning import ModelPlanner
from openautoglm.planning.base import PlanningContext, with_instructions
from openautoglm.store import Store
from planning_support import NOW, registry


@pytest.fixture
def store() -> Iterator[Store]:
    store = Store.temporary()
    yield store
    store.close()


@pytest.mark.parametrize("instructions, language", [
    ("Always answer in English.", "en"), ("You are a helpful assistant; reply in English please", "en"),
    ("请用中文回答", "zh"), ("用英文回答我", "en"), ("Answer in Chinese, not English.", "zh"),
    ("You are a cheerful sales assistant.", None), (None, None), ("Use the metric system.", None),
])
def test_the_language_a_system_prompt_asks_for(instructions: str | None, language: str | None) -> None:
    assert requested_language(instructions) == language


def test_the_reply_language_defaults_to_the_requests() -> None:
    assert reply_language("上周哪个产品卖得最好？") == "zh" and reply_language("best seller last week?") == "en"
    assert reply_language("上周哪个产品卖得最好？", "Always answer in English.") == "en"


def record(store: Store, task_id: str, owner: str | None, request: str, answer: str, output: object) -> None:
    store.create_task(task_id, request, owner=owner)
    store.update_task(task_id, status="succeeded", answer=answer,
                      plan={"steps": [{"id": "top", "uses": "sales.top_products", "with": {"start": "2026-11-09"}}]})
    store.append(Event(task_id, 1, EventKind.STEP_FINISHED, 0.0, "top", {"uses": "sales.top_products",
                                                                         "attempts": 1, "node": None,
                                                                         "duration_s": 0.1, "output": output}))
    store.flush()


def test_messages_become_turns_with_the_data_recorded_for_that_owner(store: Store) -> None:
    record(store, "t-ann", "ann", "上周哪个产品卖得最好？", "无线耳机", {"products": [{"units": 9}]})
    messages = [("system", "Always answer in English."), ("developer", "Be brief."),
                ("user", "上周哪个产品卖得最好？"), ("assistant", "无线耳机"),
                ("user", "what time is it"), ("assistant", "a reply nobody recorded"),
                ("user", "它比第二名多卖了多少件？")]
    said = conversation(messages, store, "ann")
    assert said.request == "它比第二名多卖了多少件？" and said.language == "en"
    assert said.instructions == "Always answer in English.\nBe brief."
    first, second = said.history
    assert first.task_id == "t-ann" and first.outputs == {"top": {"products": [{"units": 9}]}}
    assert first.plan is not None and first.plan.steps[0].uses == "sales.top_products"
    assert second.task_id is None and second.answer == "a reply nobody recorded" and not second.outputs
    # Another owner's conversation with the same words does not reach ann's data.
    assert conversation(messages, store, "bob").history[0].task_id is None
    # Without a store, earlier turns are words only; and only the last turns are looked up.
    assert conversation(messages).history[0].outputs == {}
    assert conversation(messages, store, "ann", recorded=1).history[0].task_id is None


def test_a_user_message_nobody_answered_stays_in_the_history() -> None:
    said = conversation([("user", "first"), ("user", "second"), ("assistant", "reply"), ("user", "now")])
    assert [(t.request, t.answer, t.status) for t in said.history] == [("first", "", "unanswered"),
                                                                       ("second", "reply", "succeeded")]
    assert said.request == "now" and said.instructions is None


def test_instructions_reach_the_steps_that_write_and_never_become_references() -> None:
    plan = Plan(steps=[Step(id="calc", uses="math.calculate", with_={"expression": "1+1"}),
                       Step(id="note", uses="llm.generate", with_={"prompt": "写一句"}),
                       Step(id="own", uses="llm.generate", with_={"prompt": "x", "system": "mine"})])
    given = with_instructions(plan, "Answer in English. ${calc.output}", registry())
    assert "system" not in given.step("calc").with_ and given.step("own").with_["system"] == "mine"
    assert given.step("note").with_["system"].startswith("Answer in English.")
    assert "${" not in given.step("note").with_["system"]
    assert with_instructions(plan, None, registry()) is plan


async def test_the_session_summary_reaches_the_planner(store: Store) -> None:
    plan = {"steps": [{"id": "answer", "uses": "llm.generate", "with": {"prompt": "hi"}}]}
    model = ScriptedModel([lambda r: plan if r.json_schema is not None else "ok"], can_plan=True)
    tools = registry(model)
    orchestrator = Orchestrator(store, lambda: Executor(tools), Sessions(store, window=1))
    for request in ("北京明天的天气", "上海呢", "广州呢", "深圳呢"):
        await orchestrator.run(request, ModelPlanner(), PlanningContext(tools=tools, model=model, now=NOW),
                               session_id="s")
    planned = [r for r in model.requests if r.json_schema is not None]
    assert "Summary of older turns" not in planned[0].messages[0].content
    last = planned[-1].messages[0].content
    assert "Summary of older turns:\n- 北京明天的天气 → " in last and "- 上海呢 → " in last
