"""Planning goes to a planner: in a pool of the embedded model and a capable OpenAI-compatible node, the capable
node writes the plans and the small model only fills and writes; a capable node that registers later plans the
next request, without a restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openautoglm import AutoGLM, Settings
from openautoglm.config import NodeConfig, RouterSettings
from openautoglm.embeddings import EmbeddingsConfig
from openautoglm.events import EventKind
from openautoglm.models.base import ChatRequest, reporting_model_events
from openautoglm.models.factory import model_for_node
from openautoglm.models.pool import Router
from openautoglm.models.scripted import ScriptedModel
from openautoglm.planning import ModelPlanner, RulePlanner
from openautoglm.store import Store
from openautoglm.testing.fake_openai import FakeOpenAI
from planning_support import registry

PLAN = {"steps": [
    {"id": "weather", "uses": "weather.forecast", "with": {"city": "北京", "date": "2026-11-23"}},
    {"id": "note", "uses": "llm.generate", "with": {"prompt": "写提醒：${weather.output}"}},
]}
REQUEST = "查询北京明天的天气并生成一段提醒文案"


class PlanningServer(FakeOpenAI):
    """A capable OpenAI-compatible server: plans for schema-constrained calls, a sentence for the rest."""

    def __init__(self) -> None:
        super().__init__("text")
        self.plans = 0

    def answer_text(self, body: dict[str, Any]) -> str:
        if body.get("response_format"):
            self.plans += 1
            return json.dumps(PLAN, ensure_ascii=False)
        return "明天有雨，带伞。"


def embedded_stand_in() -> ScriptedModel:
    """The embedded model's place in the pool (it cannot plan), answering every call with a short sentence."""
    return ScriptedModel(["记得带伞。"], name="local")


def planning_calls(model: ScriptedModel) -> list[ChatRequest]:
    """The calls that asked for a plan: by capability, or by the plan schema they constrain the answer to."""
    return [r for r in model.requests
            if r.capability == "planning" or "steps" in ((r.json_schema or {}).get("properties") or {})]


async def test_a_capable_node_that_registers_later_plans_the_next_request(tmp_path: Path) -> None:
    local = embedded_stand_in()
    pool = Router([local], settings=RouterSettings(probe_interval_s=None), node_factory=model_for_node)
    settings = Settings(home=tmp_path, enable_caching=False, embeddings=EmbeddingsConfig(provider="hashing", dim=64))
    with PlanningServer() as server:
        app = AutoGLM(settings=settings, model=pool, tools=registry(pool), store=Store(f"sqlite:///{tmp_path}/t.db"))
        async with app:
            assert isinstance(app.planner, RulePlanner)  # only the embedded model: rules plan
            before = await app.run(REQUEST)
            # The node joins the running app's pool (what POST /v1/nodes does), declaring only text-generation:
            # it plans because its model is trusted to (an OpenAI-compatible node's default).
            app.router.register(NodeConfig(name="capable", base_url=server.base_url, model="fake"))
            assert isinstance(app.planner, ModelPlanner)
            after = await app.run(REQUEST)
            made = {r.task_id: [e.data["planner"] for e in app.trace(r.task_id) if e.kind == EventKind.PLAN_MADE]
                    for r in (before, after)}
    assert made == {before.task_id: ["rules"], after.task_id: ["model"]}
    assert after.status == "succeeded", after.answer
    assert server.plans == 1
    assert not planning_calls(local)  # the small model never got a planning call, before or after


async def test_planning_calls_go_to_a_node_that_can_plan_and_fall_back_when_it_leaves(tmp_path: Path) -> None:
    local = embedded_stand_in()
    pool = Router([local], settings=RouterSettings(probe_interval_s=None), node_factory=model_for_node)
    with PlanningServer() as server:
        pool.register(NodeConfig(name="capable", base_url=server.base_url, model="fake"))
        assert pool.serves("planning")
        planning = ChatRequest.of("plan this", capability="planning")
        served = {(await pool.complete(planning)).node for _ in range(8)}
        planned_by_local = len(planning_calls(local))
        # Plain calls are not held to planners: the small in-process model, the faster one, gets its share.
        plain = {(await pool.complete(ChatRequest.of("write", temperature=0.5))).node for _ in range(8)}
        pool.remove("capable")
        events: list[tuple[str, dict[str, Any]]] = []
        with reporting_model_events(lambda kind, **data: events.append((str(kind), data))):
            fallback = await pool.complete(planning)
        await pool.aclose()
    assert served == {"capable"} and planned_by_local == 0
    assert "local" in plain
    assert not pool.serves("planning")
    # No node can plan: a plainer answer beats none, and the trace says so.
    assert fallback.node == "local" and len(planning_calls(local)) == 1
    assert [d["to"] for k, d in events if k == EventKind.FALLBACK] == ["text-generation"]
