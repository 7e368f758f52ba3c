"""Workflows: YAML plans written by a person, with a name, typed inputs and a description, kept in a folder.

Each workflow becomes a tool ``workflow.<name>`` whose JSON schema is made from its inputs, so the planner and
hand-written plans can call it like any other tool. Calling it runs the workflow's plan as a nested run through
``ctx.run_plan`` (the executor running the calling step): its events go into the calling task's log, under step
ids prefixed with the calling step's (``report.fetch``), and each inner tool is still checked for roles and
approval on its own.

Files are validated when they are loaded; a broken file is an error that names it, not a tool that fails later.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from ..config import Settings
from ..engine import StepStatus
from ..errors import AutoGLMError, ConfigError, NotFound, PlanValidationError, ToolError
from ..events import Event, EventEmitter, EventKind
from ..plan import Plan, plan_problems, step_dependencies
from ..workflow import load_plan
from .base import TOOL_NAME_PATTERN, Tool, ToolContext

PREFIX = "workflow."
SUFFIXES = (".yaml", ".yml")

# Input types a person may write, and the JSON schema type each means ("any" puts no constraint).
INPUT_TYPES: dict[str, str | None] = {
    "string": "string", "str": "string", "text": "string",
    "integer": "integer", "int": "integer",
    "number": "number", "float": "number",
    "boolean": "boolean", "bool": "boolean",
    "object": "object", "dict": "object",
    "array": "array", "list": "array",
    "any": None,
}

# The workflows running in this task, outermost first: a workflow that reaches itself again is refused.
_ACTIVE: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("active_workflows", default=())


@dataclass(frozen=True)
class Workflow:
    name: str
    plan: Plan
    path: Path | None = None

    @property
    def description(self) -> str:
        return self.plan.description or f"Run the workflow '{self.name}'."

    def input_schema(self) -> dict[str, Any]:
        """The workflow's inputs as the JSON schema of its tool's arguments."""
        properties: dict[str, Any] = {}
        required: list[str] = []
        for name, spec in self.plan.inputs.items():
            prop: dict[str, Any] = {}
            json_type = INPUT_TYPES.get(spec.type.lower())
            if json_type:
                prop["type"] = json_type
            if spec.description:
                prop["description"] = spec.description
            if spec.default is not None:
                prop["default"] = spec.default
            elif spec.required:
                required.append(name)
            properties[name] = prop
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        return schema

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tool": PREFIX + self.name,
            "description": self.description,
            "inputs": {k: v.model_dump(exclude_defaults=True) for k, v in self.plan.inputs.items()},
            "steps": [s.id for s in self.plan.steps],
            "path": str(self.path) if self.path else None,
        }


def check_inputs(plan: Plan, inputs: Mapping[str, Any]) -> None:
    """Raise :class:`PlanValidationError` when ``inputs`` do not fit the types the plan declares."""
    if not plan.inputs:
        return
    schema = Workflow(plan.name or "plan", plan).input_schema()
    schema.pop("required", None)  # missing inputs are the plan validator's to report
    schema["additionalProperties"] = True  # so are undeclared ones
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(dict(inputs)), key=lambda e: list(e.path))
    if errors:
        raise PlanValidationError([f"input '{'.'.join(map(str, e.path))}': {e.message}" for e in errors])


def workflow_from_plan(plan: Plan, path: Path | None = None) -> Workflow:
    """Check a workflow's plan on its own (tools are checked when it runs) and name it."""
    where = str(path) if path else "workflow"
    name = plan.name or (path.stem if path else "")
    problems = own_problems(plan, path) + plan_problems(plan)
    if problems:
        raise ConfigError(_one_line(f"workflow {where} is invalid: " + "; ".join(problems)))
    return Workflow(name, plan, path)


def own_problems(plan: Plan, path: Path | None = None) -> list[str]:
    """What is wrong with a workflow's name and declared inputs (the plan's steps are plan_problems')."""
    name = plan.name or (path.stem if path else "")
    problems: list[str] = []
    if not name or not TOOL_NAME_PATTERN.match(PREFIX + name):
        problems.append(f"name {name!r} must be letters, digits, _ and - (dots between parts)")
    for input_name, spec in plan.inputs.items():
        if spec.type.lower() not in INPUT_TYPES:
            problems.append(f"input '{input_name}' has unknown type '{spec.type}' "
                            f"(use {', '.join(t for t in INPUT_TYPES if INPUT_TYPES[t] == t or t == 'any')})")
    return problems


def load_workflow(path: str | Path) -> Workflow:
    path = Path(path)
    try:
        plan = load_plan(path)
    except PlanValidationError as exc:
        raise ConfigError(_one_line(f"workflow {path} is invalid: " + "; ".join(exc.problems))) from exc
    return workflow_from_plan(plan, path)


def default_dirs(settings: Settings) -> list[Path]:
    if settings.workflows_dir is not None:
        return [Path(settings.workflows_dir).expanduser()]
    return [settings.data_dir / "workflows", Path.cwd() / "workflows"]


class WorkflowRegistry:
    """The workflows found in some folders, by name."""

    def __init__(self, workflows: Iterable[Workflow] = ()) -> None:
        self._workflows: dict[str, Workflow] = {}
        # One line per workflow file left out (broken, or a name taken already), naming the file: one bad file in
        # a shared folder must not stop every command, and must not go unnoticed either.
        self.skipped: list[str] = []
        for workflow in workflows:
            self.add(workflow)

    @classmethod
    def from_dirs(cls, dirs: Iterable[Path]) -> WorkflowRegistry:
        """The workflows in ``dirs``; a file that does not load is left out and described in ``skipped``."""
        registry = cls()
        seen: set[Path] = set()
        for folder in dirs:
            if not folder.is_dir() or folder.resolve() in seen:
                continue
            seen.add(folder.resolve())
            for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file()):
                try:
                    registry.add(load_workflow(path))
                except ConfigError as exc:  # its message names the file already
                    registry.skipped.append(f"workflow skipped: {exc}")
                except (OSError, UnicodeDecodeError) as exc:
                    registry.skipped.append(_one_line(f"workflow skipped: {path} cannot be read: {exc}"))
        return registry

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkflowRegistry:
        return cls.from_dirs(default_dirs(settings))

    def add(self, workflow: Workflow) -> None:
        if (other := self._workflows.get(workflow.name)) is not None:
            raise ConfigError(f"two workflows are named '{workflow.name}': {other.path} and {workflow.path}; "
                              "rename one (the `name:` field or the file)")
        self._workflows[workflow.name] = workflow

    def get(self, name: str) -> Workflow:
        name = name.removeprefix(PREFIX)
        try:
            return self._workflows[name]
        except KeyError:
            known = ", ".join(self._workflows) or "none"
            raise NotFound(f"no workflow named '{name}' (known: {known}); `autoglm workflows list` shows them") \
                from None

    def __iter__(self) -> Iterator[Workflow]:
        return iter(self._workflows.values())

    def __len__(self) -> int:
        return len(self._workflows)

    def tools(self, default_timeout_s: float = 30.0) -> list[Tool]:
        return [WorkflowTool(w, default_timeout_s) for w in self]


class WorkflowTool(Tool):
    """Runs a workflow's plan as a nested run. Its output is the output of the plan's last step (the one nothing
    depends on), or ``{step_id: output}`` when there are several."""

    source = "workflow"
    portable = False  # it holds this process's executor (a nested plan): it runs where the task runs

    def __init__(self, workflow: Workflow, default_timeout_s: float = 30.0) -> None:
        self.workflow = workflow
        self.name = PREFIX + workflow.name
        self.description = workflow.description
        self.parameters = workflow.input_schema()
        # Inner steps keep their own timeouts; the outer one must not cut them short.
        self.timeout_s = sum(s.timeout_s or default_timeout_s for s in workflow.plan.steps)
        # Inner tools with side effects are approved one by one when they run, with the caller's approver.
        self.side_effects = False

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        name = self.workflow.name
        plan = self.workflow.plan
        stack = _ACTIVE.get()
        if name in stack:
            raise ToolError(f"workflow '{name}' calls itself: {' -> '.join([*stack, name])}")
        if ctx.run_plan is None or ctx.emitter is None:
            raise ToolError(f"workflow '{name}' runs only as a step of a plan (it has no executor here)")
        ctx.emit(EventKind.TOOL_CALL, workflow=name, inputs=args, steps=[s.id for s in plan.steps])
        token = _ACTIVE.set((*stack, name))
        try:
            results = await ctx.run_plan(plan, _NestedEmitter(ctx.emitter, ctx.step_id), args)
        except AutoGLMError as exc:
            raise ToolError(f"workflow '{name}' cannot run: {exc}") from exc
        finally:
            _ACTIVE.reset(token)
        failed = [r for r in results.values() if r.status == StepStatus.FAILED]
        if failed:
            first = failed[0]
            raise ToolError(f"workflow '{name}': step '{first.id}' ({first.uses}) failed: {first.error}")
        needed = set().union(*(step_dependencies(s) for s in plan.steps))
        last = [s.id for s in plan.steps if s.id not in needed]
        outputs = {sid: results[sid].output for sid in last}
        return outputs[last[0]] if len(last) == 1 else outputs


class _NestedEmitter(EventEmitter):
    """Writes a nested run's events into the calling task's log, step ids prefixed with the calling step's."""

    __slots__ = ("_outer", "_prefix")

    def __init__(self, outer: EventEmitter, prefix: str) -> None:
        super().__init__(outer.task_id, [])
        self._outer = outer
        self._prefix = prefix

    def emit(self, kind: str, step_id: str | None = None, **data: Any) -> Event:
        return self._outer.emit(kind, f"{self._prefix}.{step_id}" if step_id else self._prefix, **data)


def _one_line(text: str) -> str:
    return " ".join(text.split())
