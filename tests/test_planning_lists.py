"""Listed errands run in the stated order; listed values fan out; string slots read the words naming them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from openautoglm.plan import Plan, step_dependencies, validate_plan
from openautoglm.planning import PlanningContext, RulePlanner
from openautoglm.planning.evidence import modifier_of, value_list
from openautoglm.planning.intent import split_parts
from openautoglm.planning.rules import acts
from openautoglm.tools.base import Tool, ToolContext, ToolRegistry

NOW = datetime(2026, 11, 22, 10, 0)


class Described(Tool):
    """A tool known only by its description and schema, as a third-party catalogue gives it."""

    def __init__(self, name: str, description: str, params: dict[str, str], side_effects: bool = False,
                 notes: dict[str, str] | None = None) -> None:
        self.name = name
        self.description = description
        self.side_effects = side_effects
        self.parameters = {"type": "object", "required": list(params),
                           "properties": {k: {"type": t, "description": (notes or {}).get(k, f"the {k}")}
                                          for k, t in params.items()}}

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        return args


def errands() -> ToolRegistry:
    return ToolRegistry([
        Described("book_flight", "Book a flight for a date, from a location to a destination",
                  {"date": "string", "from": "string", "to": "string"},
                  notes={"from": "The location to fly from", "to": "The location to fly to"}),
        Described("make_video_call", "Make a video call to a specific phone number", {"phone_number": "string"},
                  notes={"phone_number": "The phone number to make the video call to"}),
        Described("auto_driving", "Let a car drive to a specific destination", {"destination": "string"}),
        Described("pay_bill", "Pay a specific bill", {"bill": "string"}),
        Described("do_tax_return", "Do the tax return for a specific year", {"year": "string"}),
        Described("get_weather", "Get the weather for a specific city", {"city": "string"}),
        Described("music_play", "Play songs by an artist for a duration in minutes",
                  {"artist": "string", "duration": "integer"}),
    ])


async def plan_of(request: str) -> Plan:
    tools = errands()
    plan = await RulePlanner().plan(request, PlanningContext(tools=tools, now=NOW))
    validate_plan(plan, tools.schemas())
    return plan


async def test_listed_actions_run_in_the_order_said_and_two_places_fill_from_and_to() -> None:
    plan = await plan_of("I want to book a flight from New York to Paris on 15th January 2023, make a video call to "
                         "#123456789, and let a car drive me to Eiffel Tower.")
    assert [s.uses for s in plan.steps] == ["book_flight", "make_video_call", "auto_driving"]
    flight, call, drive = plan.steps
    assert (flight.with_["from"], flight.with_["to"], flight.with_["date"]) == ("New York", "Paris", "2023-01-15")
    assert step_dependencies(call) == {flight.id} and step_dependencies(drive) == {call.id}


async def test_queries_listed_together_stay_parallel() -> None:
    plan = await plan_of("Get the weather for cities Paris, Rome and Oslo")
    assert [s.with_["city"] for s in plan.steps] == ["Paris", "Rome", "Oslo"]
    assert all(not step_dependencies(s) for s in plan.steps)


async def test_string_slots_read_the_words_naming_them() -> None:
    plan = await plan_of("I want to pay my electricity bill and then do my tax return for the year 2021.")
    assert [(s.uses, s.with_) for s in plan.steps] == [("pay_bill", {"bill": "electricity"}),
                                                       ("do_tax_return", {"year": "2021"})]


async def test_listed_values_pair_with_their_numbers() -> None:
    plan = await plan_of("Play songs from the artists Taylor Swift and Maroon 5, with a play time of 20 minutes "
                         "and 15 minutes respectively.")
    assert sorted((s.with_["artist"], s.with_["duration"]) for s in plan.steps) == [("Maroon 5", 15),
                                                                                   ("Taylor Swift", 20)]


def test_helpers() -> None:
    assert value_list("city", "weather for cities Paris, Rome and Oslo") == ["Paris", "Rome", "Oslo"]
    assert value_list("city", "weather for the city Paris") == []
    assert modifier_of("bill", "pay my water bill", set()) == "water"
    assert modifier_of("name", "what is my name", set()) is None
    assert acts(Described("x", "Send an email", {})) and not acts(Described("y", "Get the news", {}))
    assert acts(Described("z", "Look something up", {}, side_effects=True))
    pieces = split_parts("deliver a package to Dr. Smith, consult him about a rash, and pay my bill")
    assert [t for _, t in pieces] == ["deliver a package to Dr. Smith", "consult him about a rash", "pay my bill"]
