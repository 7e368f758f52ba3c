"""``memory.recall``: a follow-up's plan reads what an earlier turn's step returned.

"它比第二名多卖了多少件？" after "上周哪个产品卖得最好？" is computed from the first turn's sales data. The plan
names the earlier task and step (not the value: a recorded document may hold text shaped like a plan reference, and
plans stay small), so the trace says where each number came from and a resumed task reads the same data. Only tasks
of the running task's own owner can be read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import NotFound, ToolError
from ..events import step_outputs
from .base import Tool, ToolContext

if TYPE_CHECKING:
    from ..store import Store

RECALL = "memory.recall"


class RecallTool(Tool):
    name = RECALL
    portable = False  # it holds this process's store: it runs where the task runs
    description = "Read the recorded output of a step of an earlier task of the same owner: an earlier turn's data."
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "task_id": {"type": "string", "minLength": 1, "maxLength": 64, "description": "the earlier task"},
            "step": {"type": "string", "minLength": 1, "maxLength": 64, "description": "its step whose output to read"},
            "uses": {"type": "string", "maxLength": 200, "description": "the tool that produced the output"},
        },
        "required": ["task_id", "step"],
        "additionalProperties": False,
    }
    source = "builtin"

    def __init__(self, store: Callable[[], Store]) -> None:
        self._store = store

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        return await asyncio.to_thread(self._read, str(args["task_id"]), str(args["step"]), ctx.task_id)

    def _read(self, task_id: str, step: str, reader: str) -> Any:
        store = self._store()
        try:
            owner = store.get_task(reader).owner
            earlier = store.get_task(task_id)
        except NotFound as exc:
            raise ToolError(f"{RECALL}: no task '{task_id}' to read") from exc
        if earlier.owner != owner:  # the same answer as for a task that does not exist: ids reveal nothing
            raise ToolError(f"{RECALL}: no task '{task_id}' to read")
        outputs = step_outputs(store.events(task_id))
        if step not in outputs:
            raise ToolError(f"{RECALL}: task '{task_id}' has no finished step '{step}'")
        return outputs[step]
