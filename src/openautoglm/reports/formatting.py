"""How a report writes its figures: the one place the HTML, the PDF, the narrative and the answer take them from,
so a figure reads the same everywhere (and a test can look for it in the PDF's text)."""

from __future__ import annotations

from typing import Any


def money(value: Any) -> str:
    return "—" if value is None else f"¥{float(value):,.2f}"


def count(value: Any) -> str:
    return "—" if value is None else f"{round(float(value)):,}"


def percent(value: Any) -> str:
    return "—" if value is None else f"{float(value):+.2f}%"


def share(value: Any) -> str:
    return "—" if value is None else f"{float(value):.2f}%"


def number(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{float(value):,.2f}"


FORMATS = {"money": money, "count": count, "percent": percent, "number": number}


def figure(value: Any, fmt: str) -> str:
    return FORMATS.get(fmt, number)(value)
