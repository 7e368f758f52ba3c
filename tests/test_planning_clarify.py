"""Clarification and follow-ups: a question instead of a guess, completed by the user's answer in the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from openautoglm.app import AutoGLM
from openautoglm.config import Settings
from openautoglm.errors import ClarificationNeeded
from openautoglm.models.scripted import ScriptedModel
from openautoglm.planning import RulePlanner, Turn
from openautoglm.store import Store
from planning_support import context, registry


def app(tmp_path: Path, **settings: object) -> AutoGLM:
    model = ScriptedModel(["明天有雨，记得带伞。"])
    return AutoGLM(settings=Settings(home=tmp_path, **settings), model=model,  # type: ignore[arg-type]
                   tools=registry(model), store=Store(f"sqlite:///{tmp_path / 't.db'}"), planner=RulePlanner())


async def test_no_city_and_no_default_asks_which_city() -> None:
    ctx, _ = context()
    with pytest.raises(ClarificationNeeded) as need:
        await RulePlanner().plan("提醒我明天带伞", ctx)
    assert "城市" in need.value.question and need.value.missing == ["city"]
    english, _ = context()
    with pytest.raises(ClarificationNeeded) as need:
        await RulePlanner().plan("What's the weather tomorrow?", english)
    assert "city" in need.value.question.lower()


async def test_the_answer_in_the_same_session_completes_the_plan(tmp_path: Path) -> None:
    async with app(tmp_path) as glm:
        first = await glm.run("提醒我明天带伞", session_id="s1")
        assert first.status == "needs_input" and first.question and "城市" in first.question
        second = await glm.run("上海", session_id="s1")
        other_session = await glm.run("上海", session_id="s2")
    assert second.status == "succeeded", second.answer
    assert second.plan is not None
    weather = second.plan.steps[0]
    assert weather.uses == "weather.forecast" and weather.with_["city"] == "上海"
    assert weather.with_["date"]  # 明天, from the original request
    assert [s.uses for s in second.plan.steps] == ["weather.forecast", "llm.generate"]
    # Without the question in its history, "上海" alone is not a weather request.
    assert other_session.plan is not None
    assert "weather.forecast" not in [s.uses for s in other_session.plan.steps]


async def test_default_city_is_used_instead_of_asking(tmp_path: Path) -> None:
    async with app(tmp_path, default_city="广州") as glm:
        result = await glm.run("提醒我明天带伞")
    assert result.status == "succeeded" and result.plan is not None
    assert result.plan.steps[0].with_["city"] == "广州"


async def test_follow_up_reuses_the_last_plan_with_the_new_place() -> None:
    ctx, _ = context()
    last = await RulePlanner().plan("查询北京明天的天气并生成一段提醒文案", ctx)
    ctx2, events = context(history=[Turn(request="查询北京明天的天气并生成一段提醒文案", answer="...", plan=last)])
    plan = await RulePlanner().plan("再查一下上海的", ctx2)
    assert [s.uses for s in plan.steps] == [s.uses for s in last.steps]
    assert plan.steps[0].with_ == {"city": "上海", "date": last.steps[0].with_["date"]}
    assert any(d.get("follow_up") for k, d in events if k == "intent")


async def test_follow_up_with_a_new_date() -> None:
    ctx, _ = context()
    last = await RulePlanner().plan("北京明天天气怎么样", ctx)
    ctx2, _ = context(history=[Turn(request="北京明天天气怎么样", plan=last)])
    plan = await RulePlanner().plan("那后天呢", ctx2)
    assert plan.steps[0].with_ == {"city": "北京", "date": "2026-11-24"}


async def test_a_new_request_is_not_taken_for_a_follow_up() -> None:
    ctx, _ = context()
    last = await RulePlanner().plan("北京明天天气怎么样", ctx)
    ctx2, _ = context(history=[Turn(request="北京明天天气怎么样", plan=last)])
    plan = await RulePlanner().plan("计算 2+2", ctx2)
    assert [s.uses for s in plan.steps] == ["math.calculate"]
