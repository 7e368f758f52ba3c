"""Intent, planners, clarification and the aggregator.

Which planner runs is decided by what the configured model can do (``ChatModel.can_plan``) and ``planner:`` in
autoglm.yaml: ``rules`` always plans by rules (the model only fills what rules cannot), ``model`` lets the model
write the plan (validated, repaired, rules as the fallback), ``auto`` picks ``model`` for a model that can plan.
"""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..models.base import ChatModel
from .base import DirectPlanner, Planner, PlanningContext, Turn
from .model import ModelPlanner
from .rules import RulePlanner

__all__ = ["DirectPlanner", "ModelPlanner", "Planner", "PlanningContext", "RulePlanner", "Turn", "choose_planner"]


def planning_embedder(settings: Settings) -> Any:
    """The project's embedder for tool retrieval, or None (keyword rules alone) when it cannot be built."""
    from ..embeddings import make_embedder
    from ..errors import AutoGLMError

    try:
        return make_embedder(settings.embeddings)
    except AutoGLMError:
        return None


def choose_planner(settings: Settings, model: ChatModel) -> Planner:
    """The planner for what the configured model can do (``planner:`` in autoglm.yaml overrides)."""
    rules = RulePlanner(embedder=planning_embedder(settings))
    if settings.planner == "rules":
        return rules
    if settings.planner == "model" or (settings.planner == "auto" and getattr(model, "can_plan", False)):
        return ModelPlanner(fallback=rules)
    return rules
