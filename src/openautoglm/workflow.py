"""Plans and workflows from files: a JSON plan, or a YAML workflow (the same plan with a name and inputs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .errors import PlanValidationError
from .plan import Plan, parse_plan


def load_plan(source: str | Path) -> Plan:
    path = Path(source)
    if not path.is_file():
        raise PlanValidationError([f"no plan file at {path}"])
    text = path.read_text(encoding="utf-8")
    data: Any
    try:
        data = yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        # YAML's messages span lines; the CLI prints errors on one.
        raise PlanValidationError([f"{path.name} cannot be parsed: {' '.join(str(exc).split())}"]) from exc
    return parse_plan(data)
