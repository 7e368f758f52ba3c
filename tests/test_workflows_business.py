"""Business workflows against fake CRM, ERP and logistics systems on loopback (real HTTP, OpenAPI tools): validate
finds every problem at once, a dry run calls nothing with side effects, `when` decides, a repeated event ships once
(idempotency keys in the store), a failing carrier undoes the order (saga)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from openautoglm import AutoGLM
from openautoglm.conditions import ConditionError, parse_condition
from openautoglm.config import Settings
from openautoglm.errors import PlanValidationError
from openautoglm.events import Event, EventKind
from openautoglm.models.scripted import ScriptedModel
from openautoglm.plan import parse_plan, plan_problems
from openautoglm.testing.business import BusinessFakes
from openautoglm.tools.workflow_check import workflow_file_problems

ORDER_FLOW = Path(__file__).parent / "data" / "workflows" / "order_to_shipment.yaml"
EVENT = {"event_id": "E-1", "customer_id": "C-100", "sku": "SKU-TEA", "quantity": 2}


async def allow_all(tool: Any, args: dict[str, Any], ctx: Any) -> bool:
    return True


@pytest.fixture
def fakes() -> Iterator[BusinessFakes]:
    with BusinessFakes() as running:
        yield running


@pytest.fixture
def glm(fakes: BusinessFakes, tmp_path: Path) -> Iterator[AutoGLM]:
    settings = Settings(home=tmp_path / "home", openapi=fakes.openapi_config(tmp_path / "specs"), retries=0)
    app = AutoGLM(settings=settings, approver=allow_all)
    yield app


def kinds(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


# -- when ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "values", "expected"), [
    ('${a.output.tier} == "gold" and ${a.output.total} >= 100', {"a.output.tier": "gold", "a.output.total": 150},
     True),
    ('${a.output.tier} == "gold" and ${a.output.total} >= 100', {"a.output.tier": "gold", "a.output.total": "99"},
     False),  # a number written as text compares as a number
    ("not ${a.output.blocked} or ${inputs.force}", {"a.output.blocked": True, "inputs.force": "false"}, False),
    ("${a.output.country} in ['CN', 'HK'] && !(${a.output.n} != 3)", {"a.output.country": "HK", "a.output.n": 3},
     True),
    ("${a.output.country} not in ['CN']", {"a.output.country": "CN"}, False),
    ("${a.output}", {"a.output": "否"}, False),
])
def test_conditions_compare_and_combine(text: str, values: dict[str, Any], expected: bool) -> None:
    assert parse_condition(text).evaluate(values.__getitem__) is expected


@pytest.mark.parametrize("text", ["__import__('os')", "${a.output} ==", "(${a.output} > 1", "${a.output} > 1 1",
                                  "exec"])
def test_conditions_refuse_anything_but_the_grammar(text: str) -> None:
    with pytest.raises(ConditionError):
        parse_condition(text)


def test_ordering_values_of_different_kinds_is_an_error_not_false() -> None:
    with pytest.raises(ConditionError, match="cannot order"):
        parse_condition("${a.output} > 3").evaluate(lambda ref: "many")


def test_the_plan_validator_reports_a_bad_condition_and_unknown_compensation_tool() -> None:
    plan = parse_plan({"steps": [
        {"id": "a", "uses": "t.one", "when": "${inputs.x} >> 2", "on_failure": {"uses": "t.onee"}},
    ], "inputs": {"x": {"type": "integer"}}})
    problems = plan_problems(plan, {"t.one": {"type": "object"}})
    assert any("when:" in p for p in problems)
    assert any("on_failure uses unknown tool 't.onee' (did you mean t.one?)" in p for p in problems)


# -- validate -----------------------------------------------------------------------------------------------------


BROKEN = {
    "name": "broken_flow",
    "inputs": {"customer_id": {"type": "string"}, "quantity": {"type": "string"}},
    "steps": [
        {"id": "customer", "uses": "crm.getCustomr", "with": {"customer_id": "${inputs.customer_id}"}},
        {"id": "order", "uses": "erp.createOrder", "with": {"body": {
            "customer_id": "${custmer.output.id}", "sku": "SKU-TEA", "quantity": "${inputs.quantity}"}}},
        {"id": "ping", "uses": "crm.getCustomer", "with": {"customer_id": "${pong.output.id}"}},
        {"id": "pong", "uses": "crm.getCustomer", "with": {"customer_id": "${ping.output.email}"}},
        {"id": "ship", "uses": "logistics.createShipment", "with": {"body": {
            "order_id": "${order.output.order_number}", "address": "x"}}},
    ],
}


def autoglm(*args: str, cwd: Path) -> Any:
    """The `autoglm` command, in this process (its start-up would dominate the test), config from ``cwd``."""
    from typer.testing import CliRunner

    from openautoglm.cli import app

    return CliRunner().invoke(app, [args[0], args[1], "--config", str(cwd / "autoglm.yaml"), *args[2:]])


def test_validate_lists_every_problem_each_on_its_own_line(fakes: BusinessFakes, tmp_path: Path) -> None:
    config = {"openapi": fakes.openapi_config(tmp_path / "specs"), "home": str(tmp_path / "home")}
    (tmp_path / "autoglm.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    flow = tmp_path / "broken.yaml"
    flow.write_text(yaml.safe_dump(BROKEN, sort_keys=False), encoding="utf-8")

    result = autoglm("workflows", "validate", str(flow), cwd=tmp_path)

    assert result.exit_code == 1, result.output
    lines = result.stdout.strip().splitlines()
    assert all(line.startswith(f"{flow}: ") for line in lines)
    text = "\n".join(lines)
    assert "uses unknown tool 'crm.getCustomr' (did you mean crm.getCustomer?)" in text
    assert "refers to unknown step 'custmer'" in text
    assert "cycle: ping -> pong -> ping" in text or "cycle: pong -> ping -> pong" in text
    assert "'body.quantity' gets ${inputs.quantity} (string, where integer is wanted)" in text
    assert "${order.output.order_number}: erp.createOrder returns no field 'order_number'" in text
    assert len(lines) == 5, lines
    assert result.exception is None or isinstance(result.exception, SystemExit)

    ok = autoglm("workflows", "validate", str(ORDER_FLOW), cwd=tmp_path)
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip() == f"{ORDER_FLOW}: ok"


def test_a_file_that_does_not_parse_is_reported_not_raised(glm: AutoGLM, tmp_path: Path) -> None:
    flow = tmp_path / "bad.yaml"
    flow.write_text("steps:\n  - id: a\n    uses: crm.getCustomer\n    colour: red\n  - uses: x\n", encoding="utf-8")
    import asyncio

    problems = workflow_file_problems(flow, asyncio.run(glm.load_tools()))
    assert any("colour" in p for p in problems) and any("steps.1.id" in p for p in problems)


# -- dry run ------------------------------------------------------------------------------------------------------


def test_dry_run_reads_but_calls_nothing_with_side_effects(fakes: BusinessFakes, tmp_path: Path) -> None:
    config = {"openapi": fakes.openapi_config(tmp_path / "specs"), "home": str(tmp_path / "home")}
    (tmp_path / "autoglm.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    import json

    result = autoglm("workflows", "run", str(ORDER_FLOW), "--dry-run", "--inputs", json.dumps(EVENT), cwd=tmp_path)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("customer: ran crm.getCustomer (no side effects)")
    assert lines[1].startswith('order: would call erp.createOrder(body={"customer_id": "C-100", "sku": "SKU-TEA", '
                               '"quantity": 2}) [simulated from schema')
    assert lines[2].startswith('shipment: would call logistics.createShipment(body={"order_id": "simulated", '
                               '"address": "1 Harbour Road, Shanghai"})')
    assert fakes.orders == {} and fakes.shipments == []
    assert [r.path for r in fakes.server.requests] == ["/crm/customers/C-100"]


# -- when, idempotency, saga --------------------------------------------------------------------------------------


async def test_when_false_skips_the_order_and_what_needs_it(glm: AutoGLM, fakes: BusinessFakes) -> None:
    result = await glm.execute(ORDER_FLOW, EVENT | {"customer_id": "C-200"})
    statuses = {s.id: str(s.status) for s in result.steps}
    assert statuses == {"customer": "succeeded", "order": "skipped", "shipment": "skipped"}
    assert fakes.orders == {}
    await glm.aclose()


async def test_the_same_event_twice_ships_once(glm: AutoGLM, fakes: BusinessFakes) -> None:
    first = await glm.execute(ORDER_FLOW, EVENT)
    second = await glm.execute(ORDER_FLOW, EVENT)

    assert first.status == second.status == "succeeded"
    assert len(fakes.orders) == 1 and len(fakes.shipments) == 1
    assert second.steps[2].output == first.steps[2].output  # the recorded shipment, not a new one
    reused = kinds(glm.trace(second.task_id), EventKind.IDEMPOTENCY)
    assert [(e.step_id, e.data["status"], e.data["first_task"]) for e in reused] == [
        ("order", "reused", first.task_id), ("shipment", "reused", first.task_id)]
    assert [e.data["status"] for e in kinds(glm.trace(first.task_id), EventKind.IDEMPOTENCY)] == ["recorded"] * 2

    other = await glm.execute(ORDER_FLOW, EVENT | {"event_id": "E-2"})  # another event is another order
    assert other.status == "succeeded" and len(fakes.shipments) == 2
    await glm.aclose()


async def test_a_key_whose_outcome_is_unknown_is_not_repeated(glm: AutoGLM, fakes: BusinessFakes) -> None:
    # A process died between claiming the key and recording the outcome.
    glm.store.claim_key("erp-order-E-9", "erp.createOrder", "t-dead", "order")
    result = await glm.execute(ORDER_FLOW, EVENT | {"event_id": "E-9"})
    order = next(s for s in result.steps if s.id == "order")
    assert str(order.status) == "failed" and "outcome is not known" in (order.error or "")
    assert fakes.orders == {}
    assert glm.store.forget_key("erp-order-E-9")
    again = await glm.execute(ORDER_FLOW, EVENT | {"event_id": "E-9"})
    assert again.status == "succeeded" and len(fakes.orders) == 1
    await glm.aclose()


async def test_a_failing_shipment_undoes_the_order_and_frees_its_key(glm: AutoGLM, fakes: BusinessFakes) -> None:
    fakes.fail_shipments = True
    result = await glm.execute(ORDER_FLOW, EVENT)

    assert result.status != "succeeded"
    (order_id,) = fakes.orders
    assert fakes.cancelled == [order_id] and fakes.orders[order_id]["status"] == "cancelled"
    trace = glm.trace(result.task_id)
    saga = [(e.step_id, e.data["status"], e.data["uses"]) for e in kinds(trace, EventKind.COMPENSATION)]
    assert saga == [("order", "started", "erp.cancelOrder"), ("order", "succeeded", "erp.cancelOrder")]
    assert kinds(trace, EventKind.COMPENSATION)[0].data["because"] == ["shipment"]
    assert kinds(trace, EventKind.IDEMPOTENCY)[-1].data["status"] == "released"

    fakes.fail_shipments = False  # the carrier is back: the same event now ships, with a new order
    retried = await glm.execute(ORDER_FLOW, EVENT)
    assert retried.status == "succeeded" and len(fakes.shipments) == 1 and len(fakes.orders) == 2
    await glm.aclose()


async def test_compensations_run_newest_first(tmp_path: Path) -> None:
    from openautoglm import tool

    calls: list[str] = []

    @tool(name="demo.do")
    def do(name: str) -> str:
        """Do something."""
        calls.append(f"do {name}")
        if name == "boom":
            raise RuntimeError("boom")
        return name

    @tool(name="demo.undo")
    def undo(name: str) -> str:
        """Undo something."""
        calls.append(f"undo {name}")
        return name

    plan = {"steps": [
        {"id": "a", "uses": "demo.do", "with": {"name": "a"}, "on_failure": {"uses": "demo.undo", "with": {
            "name": "${a.output}"}}},
        {"id": "b", "uses": "demo.do", "with": {"name": "b"}, "depends_on": ["a"],
         "on_failure": {"uses": "demo.undo", "with": {"name": "${b.output}"}}},
        {"id": "c", "uses": "demo.do", "with": {"name": "boom"}, "depends_on": ["b"], "retry": {"attempts": 1}},
    ]}
    glm = AutoGLM(settings=Settings(home=tmp_path), tools=[do, undo])
    result = await glm.execute(plan)
    assert result.status != "succeeded"
    assert calls == ["do a", "do b", "do boom", "undo b", "undo a"]
    await glm.aclose()


def test_an_invalid_condition_never_runs(glm: AutoGLM) -> None:
    import asyncio

    plan = {"steps": [{"id": "a", "uses": "crm.getCustomer", "with": {"customer_id": "C-100"},
                       "when": "os.system('x')"}]}
    with pytest.raises(PlanValidationError, match="when"):
        asyncio.run(glm.execute(plan))


# -- a request in words runs the workflow it names ---------------------------------------------------------------


@pytest.fixture
def worded(fakes: BusinessFakes, tmp_path: Path) -> Iterator[AutoGLM]:
    flows = tmp_path / "workflows"
    flows.mkdir()
    (flows / ORDER_FLOW.name).write_text(ORDER_FLOW.read_text(encoding="utf-8"), encoding="utf-8")
    settings = Settings(home=tmp_path / "home", openapi=fakes.openapi_config(tmp_path / "specs"), retries=0,
                        workflows_dir=flows, planner="rules")
    # A scripted model: the reply is composed without loading the embedded one (nothing here asks a model).
    yield AutoGLM(settings=settings, approver=allow_all, model=ScriptedModel(["(unused)"]))


async def test_a_request_naming_the_workflow_runs_it_with_inputs_from_the_request(
        worded: AutoGLM, fakes: BusinessFakes) -> None:
    result = await worded.run("Ship 3 units of SKU-KETTLE to customer C-100 for order event EV-42")
    assert result.status == "succeeded", result.answer
    assert result.plan is not None and [s.uses for s in result.plan.steps] == ["workflow.order_to_shipment"]
    assert result.plan.steps[0].with_ == {"event_id": "EV-42", "customer_id": "C-100", "sku": "SKU-KETTLE",
                                          "quantity": 3}
    assert [(o["sku"], o["quantity"]) for o in fakes.orders.values()] == [("SKU-KETTLE", 3)]
    assert len(fakes.shipments) == 1

    chinese = await worded.run("请为客户 C-100 发货 2 件 SKU-TEA，事件 E-9")  # its description has Chinese words
    assert chinese.status == "succeeded", chinese.answer
    assert chinese.plan is not None and chinese.plan.steps[0].with_ == {
        "event_id": "E-9", "customer_id": "C-100", "sku": "SKU-TEA", "quantity": 2}
    assert len(fakes.shipments) == 2
    await worded.aclose()


@pytest.mark.parametrize(("request_text", "missing"), [
    ("Ship 2 units of SKU-TEA to customer C-100", "event_id"),  # never the 2 of "2 units"
    ("Ship 2 units of SKU-TEA and SKU-KETTLE to customer C-100, event E-8", "sku"),  # two products: which?
    ("请为客户 C-100 发货 2 件 SKU-TEA", "event_id"),
])
async def test_missing_or_ambiguous_inputs_are_asked_for(worded: AutoGLM, fakes: BusinessFakes,
                                                         request_text: str, missing: str) -> None:
    result = await worded.run(request_text)
    assert result.status == "needs_input", result.answer
    assert missing in (result.question or "") and "workflow.order_to_shipment" in (result.question or "")
    assert fakes.server.requests == []
    await worded.aclose()


def test_a_request_that_only_brushes_a_workflow_is_not_taken_for_it(worded: AutoGLM) -> None:
    import asyncio

    from openautoglm.planning.workflow_match import match_workflow

    tools = asyncio.run(worded.load_tools())
    assert match_workflow("What is the weather in Paris tomorrow?", tools) is None
    assert match_workflow("How many customers placed an order last month?", tools) is None
    assert match_workflow("客户 C-100 上个月下了几个订单？", tools) is None
    assert match_workflow("ship the order for customer C-100", tools) is not None


async def test_a_tool_that_can_reconcile_settles_an_unknown_outcome(tmp_path: Path) -> None:
    from openautoglm.tools.base import FunctionTool

    booked: dict[str, str] = {"K-1": "BK-1"}  # the target system: K-1 was booked before the crash, K-2 was not
    calls: list[str] = []

    def book(ref: str) -> str:
        """Book something (a side effect)."""
        calls.append(ref)
        booked[ref] = f"BK-{len(booked) + 1}"
        return booked[ref]

    class Booking(FunctionTool):
        async def reconcile(self, args: dict[str, Any], key: str, ctx: Any) -> tuple[bool, Any] | None:
            ref = args["ref"]
            return (True, booked[ref]) if ref in booked else (False, None)

    tool = Booking(book, name="demo.book", side_effects=True)
    glm = AutoGLM(settings=Settings(home=tmp_path), tools=[tool], approver=allow_all)
    for ref in ("K-1", "K-2"):  # both keys were claimed by a process that died mid-call
        glm.store.claim_key(f"book-{ref}", "demo.book", "t-dead", "book")
    results = {}
    for ref in ("K-1", "K-2"):
        plan = {"steps": [{"id": "book", "uses": "demo.book", "with": {"ref": ref}, "idempotency_key": f"book-{ref}"}]}
        results[ref] = await glm.execute(plan)
    assert calls == ["K-2"]  # K-1 was done already: not booked twice
    assert results["K-1"].steps[0].output == "BK-1" and results["K-2"].status == "succeeded"
    statuses = {ref: [e.data["status"] for e in kinds(glm.trace(r.task_id), EventKind.IDEMPOTENCY)]
                for ref, r in results.items()}
    assert statuses == {"K-1": ["reconciled_done"], "K-2": ["reconciled_not_done", "recorded"]}
    assert glm.store.recorded_key("book-K-1").status == "done"  # type: ignore[union-attr]
    await glm.aclose()
