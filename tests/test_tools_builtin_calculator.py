"""math.calculate: arithmetic evaluated from the AST, hostile input refused before anything runs."""

from __future__ import annotations

import json
import math
import time

import pytest
from typer.testing import CliRunner

from openautoglm import AutoGLM, ScriptedModel
from openautoglm.cli import app as cli_app
from openautoglm.errors import ToolArgumentError, ToolError
from openautoglm.tools import ToolContext
from openautoglm.tools.calculator import CalculatorTool, calculate


@pytest.mark.parametrize(("expression", "expected"), [
    ("(12-7)/7*100", (12 - 7) / 7 * 100),
    ("1+2*3", 7),
    ("2**10", 1024),
    ("2^10", 1024),
    ("-3 + +4", 1),
    ("7 // 2", 3),
    ("7 % 3", 1),
    ("10/4", 2.5),
    ("10/2", 5),
    ("1.5*2", 3.0),
    ("abs(-4.5)", 4.5),
    ("round(3.14159, 2)", 3.14),
    ("round(2.5)", 2),
    ("max(1, 9, 3) - min(4, 2)", 7),
    ("sqrt(16)", 4.0),
    ("mean(1, 2, 3, 4)", 2.5),
    ("sum(1, 2, 3)", 6),
    ("percent(25, 200)", 12.5),
    ("pct_change(80, 100)", 25.0),
    ("200*15%", 30.0),
    ("（1784－1407）÷1407×100", (1784 - 1407) / 1407 * 100),
    ("１２＋３", 15),
    ("pi * 2", math.pi * 2),
    ("log10(1000)", 3.0),
    ("1e3 + 1", 1001.0),
])
def test_arithmetic(expression: str, expected: float) -> None:
    result = calculate(expression)["result"]
    assert result == pytest.approx(expected)
    assert isinstance(result, int | float) and not isinstance(result, bool)


HOSTILE = [
    "__import__('os').system('echo pwned')",
    "().__class__.__bases__[0].__subclasses__()",
    "(1).__class__",
    "lambda: 1",
    "(lambda x: x)(1)",
    "open('/etc/passwd').read()",
    "eval('1+1')",
    "exec('x=1')",
    "globals()",
    "x",
    "[1, 2, 3]",
    "{'a': 1}",
    "'a' * 10",
    "1 if 1 else 2",
    "1 < 2",
    "1 and 2",
    "~1",
    "1 << 100000",
    "1 | 2",
    "[x for x in range(10**9)]",
    "sqrt.__globals__",
    "max(*[1, 2])",
    "round(1, ndigits=2)",
    "True + 1",
    "1j * 2",
    "f'{1}'",
    "(x := 5)",
    "9**9**9",
    "10**100000",
    "2**4097",
    "(10**1000)*(10**1000)*(10**1000)*(10**1000)*(10**1000)",
    "1e308*10",
    "10.0**400",
    "exp(1000)",
    "1/0",
    "5 % 0",
    "0**-1",
    "(-8)**0.5",
    "sqrt(-1)",
    "min()",
    "pct_change(0, 5)",
    "",
    "   ",
    "1 +",
    "(" * 300 + "1" + ")" * 300,
    "1+" * 300 + "1",
]


@pytest.mark.parametrize("expression", HOSTILE)
def test_hostile_or_invalid_input_is_refused(expression: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ToolArgumentError, match=r"^math\.calculate: "):
        calculate(expression)
    assert time.perf_counter() - started < 1.0  # refused, not computed


def test_refusals_say_what_is_allowed() -> None:
    with pytest.raises(ToolArgumentError, match="calling '__import__' is not allowed; use numbers"):
        calculate("__import__('os')")
    with pytest.raises(ToolArgumentError, match="Attribute"):
        calculate("(1).real")
    with pytest.raises(ToolArgumentError, match="division by zero"):
        calculate("1/(3-3)")


def test_too_long() -> None:
    with pytest.raises(ToolArgumentError, match="longer than 500"):
        calculate("1+" * 400 + "1")


async def test_tool_schema_and_summary() -> None:
    calc = CalculatorTool()
    assert calc.name == "math.calculate"
    assert calc.parameters["required"] == ["expression"]
    out = await calc(calc.validate({"expression": "(12-7)/7*100"}), ToolContext())
    assert calc.summarize(out) == "(12-7)/7*100 = 71.428571"
    with pytest.raises(ToolArgumentError):
        calc.validate({"expr": "1"})


async def test_through_the_app_and_its_trace() -> None:
    app = AutoGLM(model=ScriptedModel(["unused"]))
    assert await app.call_tool("math.calculate", {"expression": "2**8 - 6"}) == {"expression": "2**8 - 6",
                                                                                  "result": 250}
    with pytest.raises(ToolError, match="not allowed"):
        await app.call_tool("math.calculate", {"expression": "__import__('os')"})
    result = await app.execute({"steps": [{"id": "calc", "uses": "math.calculate",
                                           "with": {"expression": "().__class__"}}]})
    assert result.steps[0].status == "failed"
    failed = [e for e in app.trace(result.task_id) if e.kind == "step.failed"]
    assert failed and "is not allowed" in failed[0].data["error"]
    assert failed[0].data["error_type"] == "ToolArgumentError"
    await app.aclose()


def test_cli_tools_call() -> None:
    result = CliRunner().invoke(cli_app, ["tools", "call", "math.calculate", "--args",
                                          '{"expression":"(12-7)/7*100"}'])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index("{"):])
    assert payload["result"] == pytest.approx(71.428571, rel=1e-6)


def test_the_answer_sentence_states_the_expression_and_result() -> None:
    tool = CalculatorTool()
    assert tool.answer(calculate("(480 * 0.7) - 20"), "zh") == "计算结果：(480 × 0.7) - 20 = 316。"
    assert tool.answer(calculate("3 ** 10"), "en") == "3 ^ 10 = 59049."
    assert tool.answer(calculate("544868.26 / 2458015.97 * 100"), "en") == "544868.26 ÷ 2458015.97 × 100 = 22.17%."
    assert tool.answer(calculate("(15 / 100 * 860)"), "en") == "(15% × 860) = 129."
    assert tool.answer(calculate("150 * (1 - 20 / 100)"), "zh") == "计算结果：150 × (1 - 20%) = 120。"
    # The planner's percent()/pct_change() are said as the sums they stand for, not as function calls.
    assert tool.answer(calculate("percent(36, 240)"), "en") == "36 ÷ 240 × 100 = 15%."
    assert tool.answer(calculate("pct_change(50, 60)"), "zh") == "计算结果：(60 - 50) ÷ 50 × 100 = 20%。"
