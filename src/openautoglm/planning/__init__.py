"""Intent, planners, clarification and the aggregator."""

from __future__ import annotations

from ..config import Settings
from ..models.base import ChatModel
from .base import DirectPlanner, Planner, PlanningContext, Turn

__all__ = ["DirectPlanner", "Planner", "PlanningContext", "Turn", "choose_planner"]


def choose_planner(settings: Settings, model: ChatModel) -> Planner:
    """The planner for what the configured model can do (``planner:`` in autoglm.yaml overrides)."""
    return DirectPlanner()
