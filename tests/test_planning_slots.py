"""Slot fillers: each parameter belongs to the first filler that matches it; a new kind of argument is one class and
one registration, and ``--explain`` names the filler that filled each argument."""

from __future__ import annotations

import re

import pytest

from openautoglm.planning import PlanningContext, RulePlanner, slots
from openautoglm.planning.slots import Found, SlotFiller, filler_for, register_filler, slot_kind
from openautoglm.tools.base import ToolRegistry, tool
from planning_support import NOW


class ColourFiller(SlotFiller):
    """A colour named in the request, for a parameter called colour/color."""

    kind = "colour"

    def matches(self, slot: slots.Slot) -> bool:
        return slot.low in ("colour", "color")

    def fill(self, slot: slots.Slot, job: slots.FillJob) -> Found | None:
        m = re.search(r"\b(red|green|blue|black|white)\b|(红|绿|蓝|黑|白)色", job.part.text, re.I)
        return Found(m.group(0).lower(), "colour named in the request") if m else None


@tool(name="shop.paint")
def paint(item: str, colour: str) -> str:
    """Paint an item in a colour.

    Args:
        item: what to paint
        colour: the colour to paint it
    """
    return f"{item} is {colour}"


@pytest.fixture
def fillers(monkeypatch: pytest.MonkeyPatch) -> list[SlotFiller]:
    registered = list(slots.SLOT_FILLERS)
    monkeypatch.setattr(slots, "SLOT_FILLERS", registered)  # what a test registers goes away with it
    return registered


async def test_a_new_kind_of_argument_is_one_class_and_one_registration(fillers: list[SlotFiller]) -> None:
    tools = ToolRegistry([paint])
    before = PlanningContext(tools=tools, now=NOW)
    await RulePlanner().plan("Paint the 'fence' blue", before)
    assert "colour" not in (before.explanation[0].get("args") or {})  # no rule knew colours

    register_filler(ColourFiller())
    assert slot_kind("colour", {"type": "string"}) == "colour"
    assert isinstance(fillers[0], ColourFiller)  # tried before the built-in fillers
    ctx = PlanningContext(tools=tools, now=NOW)
    plan = await RulePlanner().plan("Paint the 'fence' blue", ctx)
    assert [(s.uses, s.with_) for s in plan.steps] == [("shop.paint", {"item": "fence", "colour": "blue"})]
    assert ctx.explanation[0]["fillers"] == {"item": "NameFiller", "colour": "ColourFiller"}


def test_a_registered_filler_may_take_a_parameter_a_built_in_one_owns(fillers: list[SlotFiller]) -> None:
    assert isinstance(filler_for("order_id", {"type": "string"}), slots.IdentifierFiller)

    class OrderNumberFiller(SlotFiller):
        kind = "order number"

        def matches(self, slot: slots.Slot) -> bool:
            return slot.low == "order_id"

    register_filler(OrderNumberFiller())
    assert isinstance(filler_for("order_id", {"type": "string"}), OrderNumberFiller)
    register_filler(ColourFiller(), before=slots.TextFiller)
    assert [type(f).__name__ for f in fillers[-4:]] == ["ColourFiller", "TextFiller", "NameFiller", "OtherFiller"]


def test_the_first_matching_filler_owns_a_parameter() -> None:
    owners = {name: type(filler_for(name, spec)).__name__ for name, spec in {
        "expression": {"type": "string", "description": "a date expression"},
        "formula": {"type": "string"},
        "city": {"type": "string"},
        "start_date": {"type": "string"},
        "end": {"type": "string"},
        "date": {"type": "string"},
        "region": {"type": "integer"},
        "limit": {"type": "integer"},
        "by": {"type": "string", "enum": ["units", "revenue"]},
        "url": {"type": "string"},
        "file_path": {"type": "string"},
        "order_id": {"type": "string"},
        "quantity": {"type": "integer"},
        "verbose": {"type": "boolean"},
        "prompt": {"type": "string"},
        "title": {"type": "string"},
        "filters": {"type": "object"},
    }.items()}
    assert owners == {"expression": "DateWordsFiller", "formula": "ExpressionFiller", "city": "PlaceFiller",
                      "start_date": "RangeStartFiller", "end": "RangeEndFiller", "date": "DateFiller",
                      "region": "PlaceByNameFiller", "limit": "CountFiller", "by": "EnumFiller", "url": "UrlFiller",
                      "file_path": "FileFiller", "order_id": "IdentifierFiller", "quantity": "NumberFiller",
                      "verbose": "BooleanFiller", "prompt": "TextFiller", "title": "NameFiller",
                      "filters": "OtherFiller"}
