"""The user's own tools, in either language: an argument is filled only from what the request says about it (a
value named next to it, a unit that fits it, an earlier step's output that carries it); otherwise the user is
asked, never handed an unrelated number from the sentence."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from openautoglm.embeddings import E5Embedder
from openautoglm.errors import ClarificationNeeded
from openautoglm.models.scripted import ScriptedModel
from openautoglm.plan import Plan, step_dependencies, validate_plan
from openautoglm.planning import PlanningContext, RulePlanner, Turn
from openautoglm.planning.evidence import free_number, in_code, number_ties
from openautoglm.planning.intent import parse_part
from openautoglm.planning.slots import IdentifierFiller, NumberFiller, filler_for
from openautoglm.tools.base import ToolRegistry, tool
from openautoglm.tools.llm import llm_tools
from planning_support import NOW


class Customer(BaseModel):
    id: str
    name: str


class Order(BaseModel):
    order_id: str
    status: str


class Shipment(BaseModel):
    tracking: str


@tool(name="crm.lookup_customer")
def lookup_customer(name: str) -> Customer:
    """Look up a customer in the CRM by name.

    Args:
        name: the customer's name
    """
    return Customer(id="C-1", name=name)


@tool(name="erp.create_order")
def create_order(customer_id: str, sku: str, quantity: int) -> Order:
    """Create a sales order in the ERP system for a customer.

    Args:
        customer_id: the customer the order is for
        sku: the product's stock-keeping unit code
        quantity: how many units to order
    """
    return Order(order_id="O-1", status="created")


@tool(name="logistics.ship")
def ship(order_id: str, address: str) -> Shipment:
    """Ship an order to a delivery address.

    Args:
        order_id: the order to ship
        address: where to deliver it
    """
    return Shipment(tracking="T-1")


def business_tools() -> ToolRegistry:
    return ToolRegistry([*llm_tools(ScriptedModel(["(unused)"])), lookup_customer, create_order, ship])


@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    return E5Embedder()


async def plan_of(request: str, embedder: E5Embedder | None = None) -> Plan:
    tools = business_tools()
    ctx = PlanningContext(tools=tools, now=NOW)
    plan = await RulePlanner(embedder=embedder).plan(request, ctx)
    validate_plan(plan, tools.schemas())
    return plan


@pytest.mark.parametrize("request_text", [
    "Create an order of 2 units of SKU A-100 for customer Acme and ship it to 1 Main St",
    "给客户Acme创建一个2件SKU A-100的订单，然后发货到1 Main St",
])
async def test_an_order_then_its_shipment_each_argument_from_its_own_evidence(request_text: str, e5: E5Embedder
                                                                            ) -> None:
    plan = await plan_of(request_text, e5)
    steps = {s.uses: s for s in plan.steps}
    assert list(steps) == ["erp.create_order", "logistics.ship"], plan.dump()
    order, shipment = steps["erp.create_order"], steps["logistics.ship"]
    assert order.with_ == {"customer_id": "Acme", "sku": "A-100", "quantity": 2}
    # The order to ship is the order just created, read from its output: never the quantity "2".
    assert shipment.with_["order_id"] == f"${{{order.id}.output.order_id}}"
    assert shipment.with_["address"] == "1 Main St"
    assert step_dependencies(shipment) == {order.id}


@pytest.mark.parametrize("request_text, question", [
    ("Ship 2 boxes to 1 Main St", "order_id"),
    ("把2箱货发到1 Main St", "order_id"),
])
async def test_an_identifier_nothing_names_is_asked_for(request_text: str, question: str, e5: E5Embedder) -> None:
    with pytest.raises(ClarificationNeeded) as need:
        await plan_of(request_text, e5)
    assert need.value.missing == ["order_id"]
    assert question in need.value.question


async def test_the_users_answer_fills_the_identifier_asked_for() -> None:
    asked = Turn(request="Ship 2 boxes to 1 Main St", status="needs_input", question="Please tell me the order_id.",
                 missing=["order_id"])
    tools = business_tools()
    plan = await RulePlanner().plan("A-17", PlanningContext(tools=tools, now=NOW, history=[asked]))
    assert [(s.uses, s.with_) for s in plan.steps] == [("logistics.ship", {"order_id": "A-17", "address": "1 Main St"})]


async def test_an_identifier_written_next_to_its_noun_is_copied() -> None:
    plan = await plan_of("Ship order #A-17 to 1 Main St")
    (step,) = plan.steps
    assert step.with_ == {"order_id": "A-17", "address": "1 Main St"}


async def test_a_chinese_request_finds_an_english_described_tool_by_meaning(e5: E5Embedder) -> None:
    tools = business_tools()
    request = "把2箱货发到1 Main St"  # no word of it meets ship's English description, in the lexicon or otherwise
    without = PlanningContext(tools=tools, now=NOW)
    await RulePlanner().plan(request, without)
    # Keywords alone find no tool for it (the part goes to the model, or is reported unsupported).
    assert without.explanation[0].get("chosen") != "logistics.ship"
    ctx = PlanningContext(tools=tools, now=NOW)
    with pytest.raises(ClarificationNeeded):
        await RulePlanner(embedder=e5).plan(request, ctx)
    (note,) = ctx.explanation
    assert note["chosen"] == "logistics.ship" and note["args"] == {"address": "1 Main St"}
    assert note["candidates"][0]["matched"] == ["<meaning, across languages>"]
    # Meaning picks a tool only when it stands out: a request no tool does still goes to the model.
    unrelated = await RulePlanner(embedder=e5).plan("写一首关于秋天的诗", PlanningContext(tools=tools, now=NOW))
    assert [s.uses for s in unrelated.steps] == ["llm.generate"]


def test_identifiers_belong_to_the_identifier_filler_whatever_their_type() -> None:
    assert isinstance(filler_for("order_id", {"type": "string"}), IdentifierFiller)
    assert isinstance(filler_for("customerId", {"type": "integer"}), IdentifierFiller)
    assert isinstance(filler_for("quantity", {"type": "integer"}), NumberFiller)
    assert not isinstance(filler_for("identity", {"type": "string"}), IdentifierFiller)


def test_a_number_goes_to_a_parameter_only_when_the_text_ties_it() -> None:
    part = parse_part("Create an order of 2 units of SKU A-100", 0, "", NOW)
    assert [n.as_int for n in part.numbers] == [2, 100]
    assert in_code(part, 1) and not in_code(part, 0)  # "A-100" is a code, not a hundred
    assert number_ties("quantity", part, set(), open_numeric=2) == (0, "number with a unit naming the parameter")
    # Nothing ties "2 units" to a price, and one free number for two numeric parameters is no evidence either.
    assert number_ties("price", part, set(), open_numeric=2) is None
    chinese = parse_part("订购3件商品", 0, "", NOW)
    assert number_ties("quantity", chinese, set(), open_numeric=2) == (0, "number with a unit naming the parameter")
    alone = parse_part("factorial of 5", 0, "", NOW)
    assert number_ties("n", alone, set(), open_numeric=1) == (0, "next number in the request (one for each numeric "
                                                                  "parameter)")


@tool(name="erp.quote")
def quote(sku: str, quantity: int, unit_price: float) -> dict[str, float]:
    """Quote a price for a number of units of a product.

    Args:
        sku: the product's stock-keeping unit code
        quantity: how many units
        unit_price: the price of one unit
    """
    return {"total": quantity * unit_price}


async def test_the_model_may_not_give_a_parameter_a_number_said_for_another() -> None:
    # The small model answers the quantity for the price; the rules take the quantity from "2 units" themselves.
    model = ScriptedModel([{"unit_price": 2}])
    tools = ToolRegistry([*llm_tools(model), quote])
    ctx = PlanningContext(tools=tools, model=model, now=NOW)
    plan = await RulePlanner().plan("Quote 2 units of SKU A-100", ctx)
    assert model.requests, "the model was asked to fill the price"
    assert all(s.with_.get("unit_price") != 2 for s in plan.steps)
    assert ctx.explanation[0]["rejected"][0] == {"tool": "erp.quote", "missing": ["unit_price"]}


def test_free_number() -> None:
    part = parse_part("Quote 2 units of SKU A-100", 0, "", NOW)
    assert free_number(2, part, []) and free_number("2", part, [])
    assert not free_number(2, part, [2])  # already the quantity
    assert not free_number(100, part, [])  # a piece of the code A-100
    assert not free_number(7, part, [])  # not in the request at all
    assert free_number("A-100", part, [2]) and free_number(True, part, [])
