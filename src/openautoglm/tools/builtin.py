"""The tools every installation has, offline: what a first run needs."""

from __future__ import annotations

from ..config import Settings
from ..models.base import ChatModel
from .base import Tool
from .llm import llm_tools


def builtin_tools(model: ChatModel, settings: Settings) -> list[Tool]:
    tools: list[Tool] = []
    tools += llm_tools(model)
    return tools
