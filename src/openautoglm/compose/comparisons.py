"""A computation over two items of a ranking, said as the answer to the question that asked it: "无线耳机比保温杯多卖了
205 件", "Wireless Earbuds sold 2.5 times as many units as Insulated Bottle" — not "计算结果：7334 - 7129 = 205".

The calculation step's expression, as planned, names what it computes with (``${top.output.products.0.units} -
${top.output.products.1.units}``): two items of one ranked list, one figure of each. The items' names and figures
come from the ranking step's output, the result from the calculation's; nothing is taken from anywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .language import Lang

_REF = re.compile(r"\$\{(\w+)\.output\.(products|groups)\.(\d+)\.(units|revenue)\}")
# The shapes of a comparison, with the two items written A and B.
_SHAPES = {
    "A-B": "difference", "B-A": "difference_reversed", "A/B": "ratio",
    "(A-B)/B*100": "percent", "(A-B)/B*100.0": "percent", "(A-B)*100/B": "percent",
}


def _name(item: Mapping[str, Any], lang: Lang) -> str:
    zh = item.get("product") or item.get("key")
    en = item.get("product_en") or item.get("key_en") or zh
    return str(zh if lang == "zh" else en)


def _figure(value: float, measure: str, lang: Lang) -> str:
    if measure == "revenue":
        return f"¥{value:,.2f}"
    return f"{value:,.0f} 件" if lang == "zh" else f"{value:,.0f} units"


def _number(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def comparison(expression: str, result: Any, outputs: Mapping[str, Any], lang: Lang) -> str | None:
    """The sentence for ``expression`` (as planned, with references) evaluated to ``result``, or None when it is not
    a comparison of two items of one ranking."""
    # Two distinct figures, each as often as the formula needs it: "(A - B) / B * 100" names B twice.
    refs = list({m.group(0): m for m in _REF.finditer(expression)}.values())
    if len(refs) != 2 or not isinstance(result, int | float) or isinstance(result, bool):
        return None
    (step_a, list_a, i_a, measure), (step_b, list_b, i_b, measure_b) = (m.groups() for m in refs)
    if (step_a, list_a, measure) != (step_b, list_b, measure_b):
        return None
    items = (outputs.get(step_a) or {}).get(list_a) if isinstance(outputs.get(step_a), dict) else None
    if not isinstance(items, list) or max(int(i_a), int(i_b)) >= len(items):
        return None
    shape = expression
    for letter, m in zip("AB", refs, strict=True):
        shape = shape.replace(m.group(0), letter)
    kind = _SHAPES.get(re.sub(r"\s+", "", shape))
    if kind is None:
        return None
    a, b = items[int(i_a)], items[int(i_b)]
    if kind == "difference_reversed":
        a, b, kind = b, a, "difference"
    name_a, name_b = _name(a, lang), _name(b, lang)
    fig_a, fig_b = _figure(float(a[measure]), measure, lang), _figure(float(b[measure]), measure, lang)
    zh = lang == "zh"
    if kind == "difference":
        more = result >= 0
        amount = _figure(abs(float(result)), measure, lang)
        if zh:
            verb = ("多卖了" if more else "少卖了") if measure == "units" else ("多" if more else "少")
            return f"{name_a}比{name_b}{verb} {amount}（{fig_a} 对 {fig_b}）。"
        what = "more" if more else "fewer" if measure == "units" else "less"
        if measure == "units":
            return f"{name_a} sold {_number(abs(result))} {what} units than {name_b} ({fig_a} vs {fig_b})."
        return f"{name_a} brought in {amount} {what} revenue than {name_b} ({fig_a} vs {fig_b})."
    if kind == "ratio":
        if zh:
            what = "销量" if measure == "units" else "销售额"
            return f"{name_a}的{what}是{name_b}的 {_number(result)} 倍（{fig_a} 对 {fig_b}）。"
        what = "units" if measure == "units" else "revenue"
        return f"{name_a} had {_number(result)} times the {what} of {name_b} ({fig_a} vs {fig_b})."
    more = result >= 0
    if zh:
        return f"{name_a}的{'销量' if measure == 'units' else '销售额'}比{name_b}{'高' if more else '低'} " \
               f"{_number(abs(result))}%（{fig_a} 对 {fig_b}）。"
    return f"{name_a}'s {'units sold were' if measure == 'units' else 'revenue was'} {_number(abs(result))}% " \
           f"{'higher' if more else 'lower'} than {name_b}'s ({fig_a} vs {fig_b})."
