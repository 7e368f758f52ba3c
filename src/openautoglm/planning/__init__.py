"""Intent, planners, clarification and the aggregator.

Which planner runs is ``planner:`` in autoglm.yaml, a name in :data:`planners` (``rules``, ``model``, or one a
third party registered), or ``auto``: the model planner while the model can plan — for a pool, while a live node
that can plan is a member, judged at each request, so a capable node that registers later plans the next request —
and the rule planner otherwise (the model then only fills what rules cannot).
"""

from __future__ import annotations

from ..config import Settings
from ..models.base import ChatModel
from .base import DirectPlanner, Planner, PlanningContext, Turn, planners
from .model import PLANNING, ModelPlanner
from .rules import RulePlanner, planning_embedder

__all__ = ["DirectPlanner", "ModelPlanner", "Planner", "PlannerChoice", "PlanningContext", "RulePlanner", "Turn",
           "choose_planner", "planners", "planning_embedder"]

AUTO = "auto"


class PlannerChoice:
    """The planner for a request, from ``planner:`` and what the model can do at that moment. Each planner is made
    once and kept (a rule planner's tool index and embedder are worth keeping)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._made: dict[str, Planner] = {}

    def name_for(self, model: ChatModel | None) -> str:
        name = self.settings.planner
        if name == AUTO:
            return "model" if model is not None and model.serves(PLANNING) else "rules"
        return name

    def for_model(self, model: ChatModel | None) -> Planner:
        name = self.name_for(model)
        planner = self._made.get(name)
        if planner is None:
            planner = self._made[name] = planners.get(name).from_settings(self.settings)
        return planner


def choose_planner(settings: Settings, model: ChatModel) -> Planner:
    """The planner for what ``model`` can do now (``planner:`` in autoglm.yaml overrides)."""
    return PlannerChoice(settings).for_model(model)
