"""``math.calculate``: arithmetic without ``eval``.

Output shape (for planners)::

    {"expression": "(12-7)/7*100", "result": 71.42857142857143}
    # ${calc.output.result} is the number; summarize() gives "(12-7)/7*100 = 71.428571"

The expression is parsed with :mod:`ast` and only numbers, ``+ - * / // % **``, unary signs, parentheses, the
constants ``pi`` and ``e`` and the functions in :data:`FUNCTIONS` are evaluated; anything else (names, attributes,
calls of other things, lambdas, subscripts, strings) is refused before any evaluation. Exponents, integer sizes and
the expression's length are bounded so that no input can exhaust memory or time. Full-width characters, ``×``,
``÷``, ``^`` (power) and a trailing ``%`` on a number (``200*15%``) are accepted because people type them.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any

from ..errors import ToolArgumentError
from .base import FunctionTool

MAX_EXPRESSION_CHARS = 500
MAX_NODES = 200
MAX_INT_BITS = 4096
MAX_EXPONENT = 10_000


def _percent(part: float, whole: float) -> float:
    """What percent ``part`` is of ``whole``."""
    return part / whole * 100


def _pct_change(old: float, new: float) -> float:
    """Percent change from ``old`` to ``new``: pct_change(80, 100) = 25."""
    return (new - old) / old * 100


def _round(x: float, ndigits: int = 0) -> float:
    if not isinstance(ndigits, int) or not -20 <= ndigits <= 20:
        raise ToolArgumentError("math.calculate: round(x, n) needs a whole number n between -20 and 20")
    return round(x, ndigits) if ndigits else round(x)


def _mean(*xs: float) -> float:
    if not xs:
        raise ToolArgumentError("math.calculate: mean() needs at least one number")
    return sum(xs) / len(xs)


def _exp(x: float) -> float:
    if x > 700:
        raise ToolArgumentError("math.calculate: exp() argument too large (at most 700)")
    return math.exp(x)


def _log(x: float, base: float | None = None) -> float:
    return math.log(x) if base is None else math.log(x, base)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "round": _round, "min": min, "max": max, "sum": lambda *xs: sum(xs), "mean": _mean,
    "avg": _mean, "sqrt": math.sqrt, "floor": math.floor, "ceil": math.ceil, "log": _log, "ln": math.log,
    "log10": math.log10, "exp": _exp, "percent": _percent, "pct_change": _pct_change,
}
CONSTANTS = {"pi": math.pi, "e": math.e}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}

_FULL_WIDTH = str.maketrans({
    "（": "(", "）": ")", "，": ",", "＋": "+", "－": "-", "＊": "*", "／": "/", "％": "%", "×": "*", "÷": "/",
    "＾": "^", "。": ".", "．": ".", "　": " ", "−": "-", "–": "-", **{chr(0xFF10 + i): str(i) for i in range(10)},
})
# A % right after a number and before the end, a closing parenthesis or a comma is "percent", not modulo.
_TRAILING_PERCENT = re.compile(r"(\d(?:[\d.]*)(?:[eE][+-]?\d+)?)\s*%(?=\s*(?:$|\)|,))")
_ALLOWED_HINT = ("use numbers, + - * / // % ** and parentheses, pi, e, and the functions "
                 + ", ".join(sorted(FUNCTIONS)))


def normalize(expression: str) -> str:
    text = expression.translate(_FULL_WIDTH).strip().replace("^", "**")
    return _TRAILING_PERCENT.sub(r"(\1/100)", text)


def _refuse(what: str) -> ToolArgumentError:
    return ToolArgumentError(f"math.calculate: {what} is not allowed; {_ALLOWED_HINT}")


def _check_size(value: Any) -> Any:
    if isinstance(value, bool):
        raise _refuse("a boolean")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ToolArgumentError(f"math.calculate: the result has more than {MAX_INT_BITS} bits; use smaller numbers")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolArgumentError("math.calculate: the result is not a finite number (overflow or invalid operation)")
    return value


def _power(base: Any, exponent: Any) -> Any:
    if abs(exponent) > MAX_EXPONENT:
        raise ToolArgumentError(f"math.calculate: exponent {exponent} is too large (at most {MAX_EXPONENT})")
    # Estimate the size before computing it: 10**10000**10 must fail fast, not fill memory.
    if (isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1
            and exponent * math.log2(abs(base)) > MAX_INT_BITS):
        raise ToolArgumentError(f"math.calculate: {base}**{exponent} is too large (more than {MAX_INT_BITS} bits)")
    try:
        result = operator.pow(base, exponent)
    except ZeroDivisionError:
        raise ToolArgumentError("math.calculate: zero to a negative power") from None
    except OverflowError:
        raise ToolArgumentError("math.calculate: the result is too large") from None
    if isinstance(result, complex):
        raise ToolArgumentError("math.calculate: the result is a complex number (a negative number to a fractional "
                                "power)")
    return result


class _Evaluator:
    def __init__(self) -> None:
        self.nodes = 0

    def eval(self, node: ast.AST) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ToolArgumentError(f"math.calculate: the expression is too long (more than {MAX_NODES} parts)")
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise _refuse(f"the constant {node.value!r}")
            return _check_size(node.value)
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                raise _refuse(f"the operator {type(node.op).__name__}")
            left, right = self.eval(node.left), self.eval(node.right)
            if isinstance(node.op, ast.Pow):
                return _check_size(_power(left, right))
            if (isinstance(node.op, ast.Mult) and isinstance(left, int) and isinstance(right, int)
                    and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1):
                raise ToolArgumentError(f"math.calculate: the product has more than {MAX_INT_BITS} bits")
            try:
                return _check_size(op(left, right))
            except ZeroDivisionError:
                raise ToolArgumentError("math.calculate: division by zero") from None
            except OverflowError:
                raise ToolArgumentError("math.calculate: the result is too large") from None
        if isinstance(node, ast.UnaryOp):
            unary = _UNARY.get(type(node.op))
            if unary is None:
                raise _refuse(f"the operator {type(node.op).__name__}")
            return unary(self.eval(node.operand))
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            raise _refuse(f"the name '{node.id}'")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise _refuse(f"calling '{what}'")
            if node.keywords:
                raise _refuse("a keyword argument")
            args = [self.eval(a) for a in node.args]
            try:
                return _check_size(FUNCTIONS[node.func.id](*args))
            except ToolArgumentError:
                raise
            except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
                raise ToolArgumentError(f"math.calculate: {node.func.id}(): {exc}") from None
        raise _refuse(f"'{type(node).__name__}'")


def calculate(expression: str) -> dict[str, Any]:
    """Evaluate an arithmetic expression safely, e.g. "(1200-950)/950*100" or "round(sqrt(2), 3)".

    Args:
        expression: numbers with + - * / // % ** ( ), pi, e and abs, round, min, max, sum, mean, sqrt, floor,
            ceil, log, log10, exp, percent(part, whole), pct_change(old, new); "15%" means 0.15.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ToolArgumentError("math.calculate: the expression is empty; give one such as (12-7)/7*100")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolArgumentError(f"math.calculate: the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    text = normalize(expression)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ToolArgumentError(f"math.calculate: cannot read {expression!r} as arithmetic; {_ALLOWED_HINT}") from None
    except (ValueError, MemoryError, RecursionError):
        raise ToolArgumentError("math.calculate: the expression is too deeply nested") from None
    result = _Evaluator().eval(tree)
    if isinstance(result, float) and result.is_integer() and abs(result) < 2**53:
        result = int(result) if not any(isinstance(n, ast.Constant) and isinstance(n.value, float)
                                        for n in ast.walk(tree)) else result
    return {"expression": expression, "result": result}


def format_number(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.6f}".rstrip("0").rstrip(".")
        return text if text not in ("-0", "") else "0"
    return str(value)


class CalculatorTool(FunctionTool):
    def __init__(self) -> None:
        super().__init__(calculate, name="math.calculate", source="builtin", timeout_s=5.0)

    def summarize(self, output: Any) -> str:
        if isinstance(output, dict) and "result" in output:
            return f"{output.get('expression', '')} = {format_number(output['result'])}"
        return super().summarize(output)

    def answer(self, output: Any, lang: str) -> str | None:
        if not (isinstance(output, dict) and "result" in output):
            return None
        shown = " ".join(str(output.get("expression", "")).split())
        # percent(45, 180) is the planner's spelling, not a reader's: said as the sum it stands for.
        shown = re.sub(r"\bpercent\(\s*([^(),]+?)\s*,\s*([^(),]+?)\s*\)", r"\1 / \2 * 100", shown)
        shown = re.sub(r"\bpct_change\(\s*([^(),]+?)\s*,\s*([^(),]+?)\s*\)", r"(\2 - \1) / \1 * 100", shown)
        # "15 / 100 * 860" is how a percentage is computed; people write it "15% × 860"
        shown = re.sub(r"(?<![\d.])(\d+(?:\.\d+)?)\s*/\s*100(?![\d.])(?!\s*\*\s*100)", r"\1%", shown)
        shown = shown.replace("**", "^").replace("*", "×").replace("/", "÷")
        result = format_number(output["result"])
        if re.search(r"[*×]\s*100\s*\)*\s*$", shown) and isinstance(output["result"], int | float):
            result = f"{output['result']:.2f}".rstrip("0").rstrip(".") + "%"  # "x / total * 100": a percentage
        return f"计算结果：{shown} = {result}。" if lang == "zh" else f"{shown} = {result}."
