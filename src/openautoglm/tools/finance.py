"""``finance.interest``: what a deposit or loan grows to at a yearly rate, compounded or simple.

Output shape (for planners)::

    finance.interest(principal=2000, rate=5, years=10, compounding="yearly")
    -> {"principal": 2000, "rate": 5, "years": 10, "compounding": "yearly", "periods_per_year": 1,
        "amount": 3257.79, "interest": 1257.79}
       # amount = principal * (1 + rate/100/n) ** (n * years); simple: principal * (1 + rate/100 * years);
       # continuous: principal * e ** (rate/100 * years). amount and interest are rounded to cents.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from ..errors import ToolArgumentError
from .base import FunctionTool, Tool
from .units import readable

Compounding = Literal["yearly", "half-yearly", "quarterly", "monthly", "daily", "continuous", "simple"]
PERIODS_PER_YEAR = {"yearly": 1, "half-yearly": 2, "quarterly": 4, "monthly": 12, "daily": 365, "continuous": 0,
                    "simple": 0}
_ZH = {"yearly": "按年复利", "half-yearly": "按半年复利", "quarterly": "按季度复利", "monthly": "按月复利",
       "daily": "按日复利", "continuous": "连续复利", "simple": "单利"}
_EN = {"yearly": "compounded yearly", "half-yearly": "compounded twice a year", "quarterly": "compounded quarterly",
       "monthly": "compounded monthly", "daily": "compounded daily", "continuous": "compounded continuously",
       "simple": "simple interest"}


def interest(principal: float, rate: float, years: float, compounding: Compounding = "yearly") -> dict[str, Any]:
    """Interest on a deposit, investment or loan: what it grows to at an interest rate per year after some years,
    compounded or not (利息, 复利, 本息合计).

    Args:
        principal: the sum deposited, invested or borrowed (本金), e.g. 2000
        rate: the yearly interest rate in percent (年利率), e.g. 5 for 5%
        years: how many years (存期, 年数), e.g. 10
        compounding: how often interest is added: yearly (每年, 按年, annually), half-yearly (每半年, 半年),
            quarterly (每季度, 按季, 季度), monthly (每月, 按月, 月复利), daily (每天, 按日, 每日),
            continuous (连续复利, continuously) or simple (单利, simple interest; on the principal only)
    """
    name = "finance.interest"
    if principal < 0 or years < 0:
        raise ToolArgumentError(f"{name}: principal and years must not be negative")
    if not -100 < rate <= 1000:
        raise ToolArgumentError(f"{name}: rate is a yearly percentage such as 5 for 5%; {rate} is out of range")
    if years > 1000:
        raise ToolArgumentError(f"{name}: at most 1000 years")
    r = rate / 100
    n = PERIODS_PER_YEAR[compounding]
    if compounding == "simple":
        amount = principal * (1 + r * years)
    elif compounding == "continuous":
        amount = principal * math.exp(r * years)
    else:
        amount = principal * (1 + r / n) ** (n * years)
    if not math.isfinite(amount):
        raise ToolArgumentError(f"{name}: the amount is too large to compute")
    return {"principal": principal, "rate": rate, "years": years, "compounding": compounding,
            "periods_per_year": n, "amount": round(amount, 2), "interest": round(amount - principal, 2)}


class InterestTool(FunctionTool):
    def __init__(self) -> None:
        super().__init__(interest, name="finance.interest", source="builtin", timeout_s=5.0)
        self.returns = {"type": "object", "properties": {
            "principal": {"type": "number"}, "rate": {"type": "number"}, "years": {"type": "number"},
            "compounding": {"type": "string"}, "periods_per_year": {"type": "integer"},
            "amount": {"type": "number"}, "interest": {"type": "number"}}}

    def summarize(self, output: Any) -> str:
        return self.answer(output, "en") or super().summarize(output)

    def answer(self, output: Any, lang: str) -> str | None:
        if not (isinstance(output, dict) and "amount" in output):
            return None
        principal, amount, gained = (f"{output[k]:,.2f}".removesuffix(".00")
                                     for k in ("principal", "amount", "interest"))
        rate, years = readable(output["rate"]), readable(output["years"])
        how = output["compounding"]
        if lang == "zh":
            return (f"本金 {principal}，年利率 {rate}%，{_ZH[how]}，{years} 年后本息合计 {amount}（利息 {gained}）。")
        return (f"{principal} at {rate}% a year, {_EN[how]}, comes to {amount} after {years} years "
                f"(interest {gained}).")


def finance_tools() -> list[Tool]:
    return [InterestTool()]
