"""Plan parsing, references, validation and order."""

from __future__ import annotations

import pytest

from openautoglm.errors import PlanError, PlanValidationError
from openautoglm.plan import (
    Plan,
    RetryPolicy,
    parse_plan,
    plan_problems,
    resolve,
    step_dependencies,
    topological_order,
    validate_plan,
)

SCHEMAS = {
    "weather.forecast": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "date": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "llm.generate": {
        "type": "object",
        "properties": {"prompt": {"type": "string"}, "max_tokens": {"type": "integer"}},
        "required": ["prompt"],
        "additionalProperties": False,
    },
}


def weather_plan() -> dict:
    return {
        "steps": [
            {"id": "weather", "uses": "weather.forecast", "with": {"city": "北京", "date": "tomorrow"}},
            {"id": "reminder", "uses": "llm.generate",
             "with": {"prompt": "根据天气写一段出行提醒：${weather.output}"}, "depends_on": ["weather"]},
        ]
    }


def test_design_example_is_valid_and_ordered() -> None:
    plan = validate_plan(parse_plan(weather_plan()), SCHEMAS)
    assert topological_order(plan) == ["weather", "reminder"]
    assert step_dependencies(plan.step("reminder")) == {"weather"}


def test_reference_implies_dependency_without_depends_on() -> None:
    data = weather_plan()
    del data["steps"][1]["depends_on"]
    plan = parse_plan(data)
    assert step_dependencies(plan.step("reminder")) == {"weather"}


def test_cycle_is_named() -> None:
    plan = parse_plan({"steps": [
        {"id": "a", "uses": "llm.generate", "with": {"prompt": "${c.output}"}},
        {"id": "b", "uses": "llm.generate", "with": {"prompt": "${a.output}"}},
        {"id": "c", "uses": "llm.generate", "with": {"prompt": "${b.output}"}},
    ]})
    with pytest.raises(PlanValidationError) as err:
        validate_plan(plan, SCHEMAS)
    message = str(err.value)
    assert "cycle" in message
    for sid in ("a", "b", "c"):
        assert sid in message.split("cycle:")[1]


def test_unknown_tool_reference_and_step_are_named() -> None:
    plan = parse_plan({"steps": [
        {"id": "a", "uses": "wether.forecast", "with": {"city": "x"}},
        {"id": "b", "uses": "llm.generate", "with": {"prompt": "${zz.output}"}, "depends_on": ["nope"]},
    ]})
    problems = plan_problems(plan, SCHEMAS)
    assert any("unknown tool 'wether.forecast'" in p for p in problems)
    assert any("unknown step 'zz'" in p for p in problems)
    assert any("unknown step 'nope'" in p for p in problems)


def test_arguments_are_checked_against_the_schema() -> None:
    plan = parse_plan({"steps": [
        {"id": "a", "uses": "weather.forecast", "with": {"date": 3, "colour": "red"}},
    ]})
    problems = plan_problems(plan, SCHEMAS)
    assert any("missing required argument 'city'" in p for p in problems)
    assert any("'date'" in p and "string" in p for p in problems)
    assert any("colour" in p for p in problems)


def test_whole_reference_satisfies_a_required_argument() -> None:
    plan = parse_plan({"steps": [
        {"id": "a", "uses": "llm.generate", "with": {"prompt": "city name"}},
        {"id": "b", "uses": "weather.forecast", "with": {"city": "${a.output}"}},
    ]})
    assert plan_problems(plan, SCHEMAS) == []


def test_duplicate_ids_self_reference_and_missing_inputs() -> None:
    plan = parse_plan({"steps": [
        {"id": "a", "uses": "llm.generate", "with": {"prompt": "${a.output} ${inputs.topic}"}},
        {"id": "a", "uses": "llm.generate", "with": {"prompt": "x"}},
    ]})
    problems = plan_problems(plan, SCHEMAS)
    assert any("used twice" in p for p in problems)
    assert any("its own output" in p for p in problems)
    assert any("unknown input 'topic'" in p for p in problems)


def test_required_workflow_input_must_be_supplied() -> None:
    plan = parse_plan({"name": "w", "inputs": {"city": {"type": "string"}},
                       "steps": [{"id": "a", "uses": "weather.forecast", "with": {"city": "${inputs.city}"}}]})
    assert any("input 'city' is required" in p for p in plan_problems(plan, SCHEMAS, inputs={}))
    assert plan_problems(plan, SCHEMAS, inputs={"city": "上海"}) == []


@pytest.mark.parametrize(
    "bad, expected",
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "object with a 'steps' list"),
        ({"steps": []}, "at least one step"),
        ({"steps": [{"id": "1bad", "uses": "x"}]}, "steps.0.id"),
        ({"steps": [{"id": "a", "uses": "x", "colour": 1}]}, "colour"),
    ],
)
def test_parse_plan_reports_problems_in_words(bad: object, expected: str) -> None:
    with pytest.raises(PlanValidationError) as err:
        parse_plan(bad)
    assert expected in str(err.value)


def test_resolve_whole_reference_keeps_type_and_text_interpolates() -> None:
    outputs = {"top": {"products": [{"name": "茶", "units": 120}, {"name": "咖啡", "units": 100}]}}
    assert resolve("${top.output.products.0.units}", outputs, {}) == 120
    assert resolve("${top.output.products.1}", outputs, {}) == {"name": "咖啡", "units": 100}
    text = resolve("第一名 ${top.output.products.0.name} 卖了 ${top.output.products.0.units} 件", outputs, {})
    assert text == "第一名 茶 卖了 120 件"
    assert resolve({"xs": ["${inputs.n}"]}, {}, {"n": 3}) == {"xs": [3]}


def test_resolve_names_the_missing_field() -> None:
    with pytest.raises(PlanError, match="no field 'revenue'"):
        resolve("${top.output.revenue}", {"top": {"units": 1}}, {})
    with pytest.raises(PlanError, match="no item '5'"):
        resolve("${top.output.5}", {"top": [1, 2]}, {})


def test_retry_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(attempts=5, backoff_s=0.5, multiplier=2, max_backoff_s=1.5)
    assert [policy.delay_before(n) for n in range(1, 6)] == [0.0, 0.5, 1.0, 1.5, 1.5]


def test_dump_round_trips() -> None:
    plan = parse_plan(weather_plan())
    again = Plan.model_validate(plan.dump())
    assert again == plan
    assert plan.dump()["steps"][1]["with"]["prompt"].startswith("根据天气")


@pytest.mark.parametrize("step", [
    {"id": "a", "uses": "llm.generate", "with": {"prompt": "x"}, "depends_on": ["a"]},
    {"id": "a", "uses": "llm.generate", "with": {"prompt": "x"}, "when": "${a.output}"},
    {"id": "a", "uses": "llm.generate", "with": {"prompt": "${a.output.text}"}},
])
def test_a_step_that_waits_for_itself_is_refused(step: dict[str, object]) -> None:
    plan = parse_plan({"steps": [step]})
    problems = plan_problems(plan, SCHEMAS)
    assert any("step 'a' depends on itself" in p for p in problems), problems
    with pytest.raises(PlanValidationError):
        validate_plan(plan, SCHEMAS)


def test_text_that_utf8_cannot_encode_is_refused_and_named() -> None:
    plan = parse_plan({"steps": [{"id": "a", "uses": "llm.generate", "with": {"prompt": "ok \ud800"}}]})
    problems = plan_problems(plan, SCHEMAS)
    assert problems and problems[0].startswith("steps.0.with.prompt: text is not valid Unicode")
    # The refusal names the place, never the text (which could not be printed either).
    assert all(p.encode("utf-8") for p in problems)
    paired = parse_plan({"steps": [{"id": "a", "uses": "llm.generate", "with": {"prompt": "ok \U0001F600"}}]})
    assert plan_problems(paired, SCHEMAS) == []
    assert any(p.startswith("inputs.city: text is not valid Unicode")
               for p in plan_problems(paired, SCHEMAS, inputs={"city": "\udcff"}))
