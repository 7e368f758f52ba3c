"""The planners with the real embedded model (SmolLM2-135M): whatever it writes, the plan is valid."""

from __future__ import annotations

import pytest

from openautoglm.models.embedded import EmbeddedModel
from openautoglm.plan import validate_plan
from openautoglm.planning import ModelPlanner, RulePlanner
from openautoglm.tools.base import tool
from planning_support import context, registry


@tool(name="movies.play")
def play_movie(title: str) -> str:
    """Play a movie by its title.

    Args:
        title: the movie's title
    """
    return f"playing {title}"


@pytest.fixture
def model(embedded_model: EmbeddedModel) -> EmbeddedModel:
    return embedded_model


@pytest.mark.model
async def test_rules_ask_the_model_only_for_what_rules_cannot_fill(model: EmbeddedModel) -> None:
    tools = registry(model)
    tools.add(play_movie)
    ctx, events = context(tools, model=model)
    # A budget far above what the fill needs: this is about what is asked, not how fast (a busy CPU is slow).
    plan = await RulePlanner(fill_tokens=24, fill_seconds=120).plan("play the film inception for me", ctx)
    validate_plan(plan, tools.schemas())
    fills = [d for k, d in events if k == "model.completion" and d.get("stage") == "argument fill"]
    assert fills, "the lower-case title cannot be read by rules: the model is asked"
    # An invented title ("The Matrix") is refused as not in the request; the part is then reported unsupported.
    if plan.steps and plan.steps[0].uses == "movies.play":
        assert plan.steps[0].with_["title"].strip()


@pytest.mark.model
async def test_model_planner_on_a_model_that_cannot_plan_still_yields_a_valid_plan(model: EmbeddedModel) -> None:
    # One tool keeps the grammar small (llama.cpp samples slowly under a large one): the point is that the
    # model's output, whatever it is, is checked, and repaired or replaced.
    tools = registry(model).subset(["llm.generate"])
    ctx, events = context(tools, model=model)
    plan = await ModelPlanner(max_repairs=0, max_tokens=48).plan("查询北京明天的天气并生成一段提醒文案", ctx)
    validate_plan(plan, tools.schemas())
    kinds = [k for k, _ in events]
    # SmolLM2-135M either wrote a valid plan under the grammar or was repaired/replaced, and the trace says which.
    assert ("plan.fallback" in kinds) or ("plan.invalid" not in kinds) or ("plan.repaired" in kinds)
    assert all(s.uses == "llm.generate" and s.with_["prompt"] for s in plan.steps)
