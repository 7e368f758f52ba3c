"""Filling a tool's arguments from a part of a request, by rules read off the tool's schema.

Each parameter belongs to the first slot filler of :data:`~.slots.SLOT_FILLERS` that matches it (a date, a start
or end of a range, a place, a count, an arithmetic expression, free text, a file, a URL, a number...), which fills
it from the part's entities; earlier steps' outputs are referred to with ``${step.output...}``. What rules cannot
fill is reported as missing, for the model to fill one schema at a time or for the user to be asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..tools.base import Tool
from .evidence import assignments, value_list
from .intent import Intent, Part
from .references import Prior, list_fields, needed_items, reference_expression
from .slots import FillJob, Found, Slot, SlotFiller, filler_for, slot_kind

__all__ = ["ArgumentFiller", "Filled", "Prior", "list_fields", "needed_items", "reference_expression", "slot_kind",
           "value_list"]


@dataclass
class Filled:
    """The arguments of one step and how each was found."""

    args: dict[str, Any] = field(default_factory=dict)
    slots: dict[str, str] = field(default_factory=dict)  # argument -> the rule that filled it
    fillers: dict[str, str] = field(default_factory=dict)  # argument -> the slot filler that filled it
    missing: list[str] = field(default_factory=list)  # required arguments rules could not fill
    missing_kinds: dict[str, str] = field(default_factory=dict)  # argument -> kind (place, date, ...)
    references: set[str] = field(default_factory=set)  # step ids the arguments read

    @property
    def complete(self) -> bool:
        return not self.missing

    def put(self, name: str, found: Found, filler: str) -> None:
        self.args[name] = found.value
        self.slots[name] = found.rule
        self.fillers[name] = filler
        self.references |= found.references

    def copy(self) -> Filled:
        return Filled(dict(self.args), dict(self.slots), dict(self.fillers), list(self.missing),
                      dict(self.missing_kinds), set(self.references))


WRITTEN_OUT = "written as name = value"


class ArgumentFiller:
    """Rules that fill one tool's arguments for one part of a request."""

    def __init__(self, default_city: str | None = None, fillers: list[SlotFiller] | None = None) -> None:
        self.default_city = default_city
        self.fillers = fillers  # None: the registered SLOT_FILLERS, read at each fill

    def _owner(self, slot: Slot) -> SlotFiller:
        if self.fillers is None:
            return filler_for(slot.name, slot.spec, slot.required)
        return next(f for f in self.fillers if f.matches(slot))

    def fill(self, tool: Tool, part: Part, intent: Intent, priors: list[Prior], needs: int | None = None) -> Filled:
        schema = tool.parameters or {}
        required = set(schema.get("required") or [])
        props = {k: (v if isinstance(v, dict) else {}) for k, v in (schema.get("properties") or {}).items()}
        slots = [Slot(name, spec, name in required) for name, spec in props.items()]
        owners = {slot.name: self._owner(slot) for slot in slots}
        out = Filled()
        job = FillJob(tool, part, intent, priors, needs, self.default_city, args=out.args, owners=owners)
        explicit = assignments(part.text, props)
        for slot in slots:
            if slot.name in explicit:
                value = explicit[slot.name]
                out.put(slot.name, Found(value, WRITTEN_OUT), "assignment")
                for i, n in enumerate(part.numbers):
                    if n.text == str(value) or n.value == value:
                        job.used_numbers.add(i)
                        break
            elif (found := owners[slot.name].fill(slot, job)) is not None and found.value is not None:
                out.put(slot.name, found, owners[slot.name].name)
        for slot in slots:
            if slot.name not in out.args and (found := owners[slot.name].fill_leftover(slot, job)) is not None:
                out.put(slot.name, found, owners[slot.name].name)
        for slot in slots:
            if slot.required and slot.name not in out.args:
                out.missing.append(slot.name)
                out.missing_kinds[slot.name] = owners[slot.name].kind
        return out
