"""A follow-up reads the previous turn's data: planned as ``memory.recall`` steps plus what the follow-up asks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openautoglm.errors import ToolError
from openautoglm.events import Event, EventKind
from openautoglm.plan import parse_plan
from openautoglm.planning import RulePlanner
from openautoglm.planning.base import Turn
from openautoglm.store import Store
from openautoglm.tools.base import ToolContext, ToolRegistry
from openautoglm.tools.recall import RecallTool
from planning_support import context, registry

EARLIER = parse_plan({"steps": [{"id": "top_products", "uses": "sales.top_products",
                                 "with": {"start": "2026-11-09", "end": "2026-11-15"}}]})
OUTPUT = {"start": "2026-11-09", "end": "2026-11-15", "by": "units",
          "products": [{"name": "智能手表", "units": 120, "revenue": 95000.0},
                       {"name": "蓝牙耳机", "units": 96, "revenue": 28700.0}]}


@pytest.fixture
def store() -> Iterator[Store]:
    store = Store.temporary()
    yield store
    store.close()


def with_recall(store: Store) -> ToolRegistry:
    tools = registry()
    tools.add(RecallTool(lambda: store))
    return tools


def best_seller_turn() -> Turn:
    return Turn(request="上周哪个产品卖得最好？", answer="…", plan=EARLIER, outputs={"top_products": OUTPUT},
                task_id="t1")


@pytest.mark.parametrize("request_text, expression", [
    ("它比第二名多卖了多少件？", "${top_products.output.products.0.units} - ${top_products.output.products.1.units}"),
    ("How many more units did it sell than the second one?",
     "${top_products.output.products.0.units} - ${top_products.output.products.1.units}"),
    ("它比第二名多卖了百分之几", "(${top_products.output.products.0.units} - ${top_products.output.products.1.units})"
                         " / ${top_products.output.products.1.units} * 100"),
])
async def test_a_follow_up_about_it_computes_over_the_recalled_data(store: Store, request_text: str,
                                                                   expression: str) -> None:
    ctx, events = context(with_recall(store), history=[best_seller_turn()])
    plan = await RulePlanner().plan(request_text, ctx)
    recall, calc = plan.steps
    assert (recall.id, recall.uses, recall.with_) == ("top_products", "memory.recall",
                                                      {"task_id": "t1", "step": "top_products",
                                                       "uses": "sales.top_products"})
    assert calc.uses == "math.calculate" and calc.with_["expression"] == expression
    assert any(d.get("carried") for k, d in events if k == "intent")


async def test_a_new_question_carries_nothing(store: Store) -> None:
    ctx, _ = context(with_recall(store), history=[best_seller_turn()])
    plan = await RulePlanner().plan("计算 123*456", ctx)
    assert [s.uses for s in plan.steps] == ["math.calculate"]


async def test_without_recorded_data_the_follow_up_is_planned_from_its_words(store: Store) -> None:
    words_only = Turn(request="上周哪个产品卖得最好？", answer="智能手表")
    ctx, _ = context(with_recall(store), history=[words_only])
    plan = await RulePlanner().plan("它比第二名多卖了多少件？", ctx)
    assert "memory.recall" not in [s.uses for s in plan.steps]


def record(store: Store, task_id: str, owner: str | None) -> None:
    store.create_task(task_id, "上周哪个产品卖得最好？", owner=owner)
    store.append(Event(task_id, 1, EventKind.STEP_FINISHED, 0.0, "top_products",
                       {"uses": "sales.top_products", "attempts": 1, "node": None, "duration_s": 0.1,
                        "output": OUTPUT}))
    store.flush()


async def test_recall_reads_only_the_same_owners_tasks(store: Store) -> None:
    record(store, "ann-1", "ann")
    store.create_task("ann-2", "它比第二名多卖了多少件？", owner="ann")
    store.create_task("bob-1", "它比第二名多卖了多少件？", owner="bob")
    recall = RecallTool(lambda: store)
    args = {"task_id": "ann-1", "step": "top_products"}
    assert await recall(args, ToolContext(task_id="ann-2")) == OUTPUT
    with pytest.raises(ToolError, match="no task 'ann-1'"):
        await recall(args, ToolContext(task_id="bob-1"))
    with pytest.raises(ToolError, match="no finished step 'nope'"):
        await recall({"task_id": "ann-1", "step": "nope"}, ToolContext(task_id="ann-2"))
    with pytest.raises(ToolError, match="no task 'missing'"):
        await recall({"task_id": "missing", "step": "top_products"}, ToolContext(task_id="ann-2"))
