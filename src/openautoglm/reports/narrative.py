"""The narrative of a report: sentences written from the computed indicators, every figure checked against them.

Deterministic by default (and always on the embedded model, which must not state facts): one sentence per key
indicator, by kind. A model that can plan may word it instead, given the indicators fenced as data; its text is
kept only when every number in it is found among the indicators (``compose.grounding``), else the deterministic
text stands and the reason is returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..compose.grounding import Known, ungrounded
from ..models.base import ChatModel
from .formatting import figure, share
from .indicators import IndicatorValue


def _sentence(ind: IndicatorValue, lang: str) -> str | None:
    spec, zh = ind.spec, lang == "zh"
    label = spec.label if zh else (spec.label_en or spec.label)
    if spec.kind == "total":
        return f"{label}为 {figure(ind.value, spec.format)}。" if zh else f"{label}: {figure(ind.value, spec.format)}."
    if spec.kind == "growth":
        if ind.value is None:
            return f"{label}：上期为零，无法计算。" if zh else f"{label}: the previous period was zero."
        if zh:
            return f"{label}{'增长' if ind.value >= 0 else '下降'} {abs(ind.value):.2f}%。"
        return f"{label} {'rose' if ind.value >= 0 else 'fell'} {abs(ind.value):.2f}%."
    if spec.kind == "ranking" and ind.rows:
        top = ind.rows[0]
        said = f"{top['label']}（{figure(top['value'], spec.format)}）" if zh else \
            f"{top['label']} ({figure(top['value'], spec.format)})"
        return f"{label}第一名是{said}。" if zh else f"{label}: first is {said}."
    if spec.kind == "share" and ind.rows:
        top = ind.rows[0]
        return (f"{label}中占比最高的是{top['label']}（{share(top['share'])}）。" if zh
                else f"{label}: the largest is {top['label']} ({share(top['share'])}).")
    if spec.kind == "moving_average" and ind.value is not None:
        return (f"{label}最近一期为 {figure(ind.value, spec.format)}。" if zh
                else f"{label}, latest: {figure(ind.value, spec.format)}.")
    return None


def deterministic(indicators: Mapping[str, IndicatorValue], lang: str) -> str:
    chosen = [i for i in indicators.values() if i.spec.key] or list(indicators.values())
    sentences = [s for i in chosen if (s := _sentence(i, lang))]
    return ("" if lang == "zh" else " ").join(sentences)


def known_figures(indicators: Mapping[str, IndicatorValue], extra: list[Any] | None = None) -> Known:
    return Known.of([i.to_dict() for i in indicators.values()] + (extra or []))


def unchecked_figures(text: str, indicators: Mapping[str, IndicatorValue], extra: list[Any] | None = None
                      ) -> list[str]:
    """The numbers, dates and names in ``text`` that the indicators (and ``extra``, e.g. the period) do not hold."""
    return ungrounded(text, known_figures(indicators, extra))


def _system(lang: str) -> str:
    from importlib import resources

    return resources.files(__package__).joinpath("prompts", f"narrative_{lang}.txt").read_text(encoding="utf-8")


async def model_narrative(model: ChatModel, indicators: Mapping[str, IndicatorValue], lang: str,
                          period: list[str]) -> tuple[str | None, str | None]:
    """The model's wording of the indicators, or None and why it was not kept (a figure not among them, or a
    failed call). The indicators reach the model fenced as data."""
    import json

    from ..models.base import ChatRequest, Message
    from ..tools.llm import fence_data

    data = [{"label": i.spec.label, "value": i.value, "rows": i.rows[:5], **i.detail} for i in indicators.values()]
    request = ChatRequest(messages=[Message(role="system", content=_system(lang)),
                                    Message(role="user", content=fence_data(json.dumps(data, ensure_ascii=False)))],
                          max_tokens=400)
    try:
        text = (await model.complete(request)).text.strip()
    except Exception as exc:  # any failure of the model leaves the deterministic narrative
        return None, f"model narrative failed: {type(exc).__name__}: {exc}"
    if not text:
        return None, "model narrative was empty"
    loose = unchecked_figures(text, indicators, period)
    if loose:
        return None, f"model narrative rejected: {'; '.join(loose[:3])}"
    return text, None
