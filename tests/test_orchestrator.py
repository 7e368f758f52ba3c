"""The orchestrator over its narrow parts (a real store, real sessions, a real executor), without the facade."""

from __future__ import annotations

from typing import Any

from openautoglm import Plan, ScriptedModel, Step, ToolContext, ToolRegistry, tool
from openautoglm.compose import Composed, ComposeInput
from openautoglm.engine import Executor
from openautoglm.events import EventKind
from openautoglm.memory.sessions import Sessions
from openautoglm.orchestrator import Orchestrator
from openautoglm.services import LazyModel
from openautoglm.store import Store

seen: dict[str, Any] = {}


@tool(name="probe.context")
async def probe_context(ctx: ToolContext) -> str:
    """Say what the step's context offers a tool."""
    seen["model"] = ctx.model
    seen["run_plan"] = ctx.run_plan
    return "probed"


async def test_the_answer_and_status_come_from_the_writer_it_is_given() -> None:
    store = Store.temporary()
    built: list[ScriptedModel] = []

    def build() -> ScriptedModel:
        built.append(ScriptedModel(["unused"]))
        return built[-1]

    registry = ToolRegistry([probe_context])
    calls: list[tuple[list[str], list[str]]] = []

    class Writer:
        async def compose(self, inp: ComposeInput) -> Composed:
            calls.append(([s.id for s in inp.steps], inp.tools.names()))
            return Composed("composed answer", "partial", 0.5, "test")

    orchestrator = Orchestrator(store, lambda: Executor(registry, model=LazyModel(build)), Sessions(store),
                                writer=Writer())
    result = await orchestrator.execute(Plan(steps=[Step(id="p", uses="probe.context")]))
    assert (result.answer, result.status) == ("composed answer", "partial")
    assert calls == [(["p"], ["probe.context"])]
    task = store.get_task(result.task_id)
    assert (task.answer, task.status) == ("composed answer", "partial")
    answer = next(e for e in store.events(result.task_id) if e.kind == EventKind.ANSWER)
    assert answer.data == {"answer": "composed answer", "status": "partial", "confidence": 0.5, "writer": "test"}
    assert (result.confidence, task.confidence) == (0.5, 0.5)
    # The tool got the executor's model and a way to run sub-plans; making and passing the model built nothing.
    assert isinstance(seen["model"], LazyModel) and callable(seen["run_plan"])
    assert built == []
    store.close()
