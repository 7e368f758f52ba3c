"""Open-AutoGLM: requests in plain language become plans of tool and model steps, run in parallel, answered
with an audit trail."""

from .app import AutoGLM, RunResult
from .config import Settings, load_settings
from .engine import Executor, StepResult, StepStatus
from .errors import AutoGLMError
from .events import Event, EventKind
from .models import ChatModel, ChatRequest, ChatResponse, ScriptedModel
from .node import Node
from .plan import Plan, RetryPolicy, Step, parse_plan, validate_plan
from .tools import Tool, ToolContext, ToolRegistry, tool

__all__ = [
    "AutoGLM",
    "AutoGLMError",
    "ChatModel",
    "ChatRequest",
    "ChatResponse",
    "Event",
    "EventKind",
    "Executor",
    "Node",
    "Plan",
    "RetryPolicy",
    "RunResult",
    "ScriptedModel",
    "Settings",
    "Step",
    "StepResult",
    "StepStatus",
    "Tool",
    "ToolContext",
    "ToolRegistry",
    "load_settings",
    "parse_plan",
    "tool",
    "validate_plan",
]
__version__ = "0.1.0"
