"""Planning quality and speed on third-party data: TaskBench and BFCL, beside the published results.

    .venv/bin/python bench/planning.py                 # the configured stack (autoglm.yaml / AUTOGLM_*), all data
    .venv/bin/python bench/planning.py --limit 20      # the first 20 cases of each category / domain
    .venv/bin/python bench/planning.py --offset 25 --limit 25   # a second slice, to check a gain is general
    .venv/bin/python bench/planning.py --planner rules --no-model   # rules alone, no model fills
    .venv/bin/python bench/planning.py --limit 25 --unseen 100 150  # the tuned slice beside unseen ones

The data is read from ../shared/benchdata (relative to the repository; copy nothing of it into the project). For
each case the dataset's function descriptions become schema-only tools (plus ``llm.generate``, the planner's
answer when no tool fits), the configured planner plans the request, the plan is validated, and its tool steps
are scored as the dataset's own checker does (see benchdata/README.md):

- TaskBench: node F1, edge F1, t-F1 ("tool-argname") and v-F1 ("tool-argname-value"), micro-averaged per domain.
  huggingface/multimedia tools take positional arguments; an argument's name is its input type from tool_desc
  (upstream compares the same strings), and a step reading another step's output counts as ``<node-k>``.
- BFCL: AST accuracy (name, required parameters, no extra parameters, values among the acceptable ones, parallel
  calls matched in any order) for simple_python, multiple, parallel, parallel_multiple, their mean, and
  irrelevance (no call at all is right).
- Plan validity: the share of produced plans that pass validation (a clarifying question counts as no plan).
- Planning latency p50/p95 on this machine.

``--unseen OFFSET...`` runs the same number of cases from each further offset, slices the planner was never tuned
on, and prints the headline figures of the tuned slice (``--offset``) and the unseen ones side by side: a gain that
shows only in the first column is fitted to those cases, not general.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openautoglm.config import load_settings
from openautoglm.errors import AutoGLMError, ClarificationNeeded
from openautoglm.models.base import ChatModel
from openautoglm.plan import Plan, Reference, find_references, plan_problems, step_dependencies
from openautoglm.planning import Planner, PlanningContext, RulePlanner, choose_planner
from openautoglm.tools.base import TOOL_NAME_PATTERN, Tool, ToolContext, ToolRegistry
from openautoglm.tools.llm import GenerateTool

DATA = Path(os.environ.get("AUTOGLM_BENCHDATA") or Path(__file__).resolve().parents[1] / ".." / "shared" / "benchdata")
BFCL_CATEGORIES = ["simple_python", "multiple", "parallel", "parallel_multiple"]
DOMAINS = ["huggingface", "multimedia", "dailylifeapis"]
# Published results quoted in benchdata/README.md (TaskBench README). None: no published figure is in the data.
PUBLISHED_TASKBENCH = {
    "dailylifeapis": {"gpt-4": (96.91, 80.53), "gpt-3.5-turbo": (85.37, 60.67), "codellama-7b": (59.33, 27.23),
                      "llama-2-7b-chat": (30.17, 4.27)},
    "multimedia": {"gpt-4": (90.90, 69.27), "gpt-3.5-turbo": (72.83, 44.02)},
}
TARGETS = {"dailylifeapis n-F1": 85.0, "dailylifeapis e-F1": 60.0, "BFCL mean": 60.0, "BFCL irrelevance": 80.0}


class SchemaTool(Tool):
    """A tool that is only a name, a description and an argument schema: what a dataset describes."""

    source = "benchmark"

    def __init__(self, name: str, description: str, parameters: dict[str, Any]) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        raise AutoGLMError(f"{self.name} is a benchmark description; it cannot run")


def generate_stub() -> SchemaTool:
    return SchemaTool(GenerateTool.name, GenerateTool.description, dict(GenerateTool.parameters))


_BFCL_TYPES = {"dict": "object", "float": "number", "tuple": "array", "integer": "integer", "string": "string",
               "boolean": "boolean", "array": "array", "object": "object", "number": "number"}


def bfcl_schema(node: Any) -> Any:
    """BFCL's Python-flavoured schema ("dict", "float", "tuple", "any") as JSON Schema."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type":
            if value in _BFCL_TYPES:
                out["type"] = _BFCL_TYPES[value]
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {k: bfcl_schema(v) for k, v in value.items()}
        elif key == "items":
            out["items"] = bfcl_schema(value)
        elif key in ("description", "enum", "required", "default", "format"):
            out[key] = value
    if out.get("type") == "object" and "properties" not in out and node.get("type") == "dict":
        out.setdefault("properties", {})
    return out


def safe_name(name: str, taken: dict[str, str]) -> str:
    candidate = name if TOOL_NAME_PATTERN.match(name) else re.sub(r"[^A-Za-z0-9_.\-]", "_", name).strip(".")
    if not candidate or not TOOL_NAME_PATTERN.match(candidate):
        candidate = "t_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
    taken[candidate] = name
    return candidate


# ---------------------------------------------------------------------------------------------------------------
# running the planner


@dataclass
class Outcome:
    plan: Plan | None
    valid: bool
    seconds: float
    asked: bool = False
    error: str | None = None


@dataclass
class Stack:
    planner: Planner
    model: ChatModel | None
    label: str
    latencies: list[float] = field(default_factory=list)
    produced: int = 0
    valid: int = 0
    asked: int = 0
    errors: list[str] = field(default_factory=list)

    def fresh(self) -> Stack:
        """The same planner and model (caches warm) with counters at zero: for another slice."""
        return Stack(self.planner, self.model, self.label)

    async def run(self, request: str, tools: ToolRegistry) -> Outcome:
        ctx = PlanningContext(tools=tools, model=self.model)
        start = time.perf_counter()
        try:
            plan = await self.planner.plan(request, ctx)
        except ClarificationNeeded:
            seconds = time.perf_counter() - start
            self.latencies.append(seconds)
            self.asked += 1
            return Outcome(None, True, seconds, asked=True)
        except Exception as exc:  # a crash is a finding, not the end of the benchmark
            seconds = time.perf_counter() - start
            self.latencies.append(seconds)
            self.produced += 1
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return Outcome(None, False, seconds, error=str(exc))
        seconds = time.perf_counter() - start
        self.latencies.append(seconds)
        self.produced += 1
        ok = not plan_problems(plan, tools.schemas())
        self.valid += ok
        return Outcome(plan, ok, seconds)


# ---------------------------------------------------------------------------------------------------------------
# BFCL


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"[ ,./\-_*^]", "", value).lower()
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def value_ok(value: Any, acceptable: list[Any]) -> bool:
    for good in acceptable:
        if good == "":
            continue
        if (isinstance(good, float) and isinstance(value, int) and not isinstance(value, bool)
                and float(value) == good):
            return True
        if isinstance(good, bool) != isinstance(value, bool):
            continue
        if _norm(value) == _norm(good):
            return True
        if isinstance(good, list) and isinstance(value, list) and len(good) == len(value) and all(
                value_ok(v, [g]) for v, g in zip(value, good, strict=True)):
            return True
    return False


def call_ok(call: tuple[str, dict[str, Any]], gold: dict[str, dict[str, list[Any]]],
            required: dict[str, list[str]]) -> bool:
    name, args = call
    if name not in gold:
        return False
    expected = gold[name]
    for param in required.get(name, []):
        if param not in args:
            return False
    for param, value in args.items():
        if param not in expected or not value_ok(value, expected[param]):
            return False
    return all(param in args or "" in acceptable for param, acceptable in expected.items())


def calls_ok(pred: list[tuple[str, dict[str, Any]]], gold: list[dict[str, dict[str, list[Any]]]],
             required: dict[str, list[str]]) -> bool:
    if len(pred) != len(gold):
        return False
    if len(pred) > 8:
        return False
    return any(all(call_ok(p, {n: a for n, a in g.items()}, required) for p, g in zip(pred, perm, strict=True))
               for perm in itertools.permutations(gold))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def window(items: list[Any], limit: int | None, offset: int = 0) -> list[Any]:
    """The cases from ``offset`` on, at most ``limit`` of them: a second slice checks that a gain is general."""
    return items[offset:][:limit]


async def bfcl_category(stack: Stack, category: str, limit: int | None, offset: int = 0) -> tuple[float, int]:
    cases = window(read_jsonl(DATA / "bfcl" / f"BFCL_v4_{category}.json"), limit, offset)
    answers = {} if category == "irrelevance" else {
        a["id"]: a["ground_truth"] for a in read_jsonl(DATA / "bfcl" / "possible_answer" / f"BFCL_v4_{category}.json")}
    right = 0
    for case in cases:
        names: dict[str, str] = {}
        tools = ToolRegistry([generate_stub()])
        required: dict[str, list[str]] = {}
        for fn in case["function"]:
            schema = bfcl_schema(fn.get("parameters") or {"type": "dict", "properties": {}})
            schema["type"] = "object"
            name = safe_name(fn["name"], names)
            tools.add(SchemaTool(name, fn.get("description", ""), schema), replace=True)
            required[fn["name"]] = list(schema.get("required") or [])
        request = " ".join(m["content"] for turn in case["question"] for m in turn if m.get("role") == "user")
        outcome = await stack.run(request, tools)
        calls = [(names.get(s.uses, s.uses), dict(s.with_)) for s in (outcome.plan.steps if outcome.plan else [])
                 if s.uses != GenerateTool.name]
        if category == "irrelevance":
            right += not calls
        else:
            right += calls_ok(calls, answers[case["id"]], required)
    return (100.0 * right / len(cases) if cases else 0.0), len(cases)


# ---------------------------------------------------------------------------------------------------------------
# TaskBench


def taskbench_tools(domain: str) -> tuple[ToolRegistry, dict[str, str], dict[str, list[str]]]:
    """Schema-only tools of a domain, the map from our tool names to theirs, and positional argument names."""
    nodes = json.loads((DATA / "taskbench" / f"data_{domain}" / "tool_desc.json").read_text())["nodes"]
    names: dict[str, str] = {}
    positional: dict[str, list[str]] = {}
    tools = ToolRegistry([generate_stub()])
    for node in nodes:
        name = safe_name(node["id"].replace(" ", "_"), names)
        names[name] = node["id"]
        if "parameters" in node:
            props = {p["name"]: {"type": "string", "description": p.get("desc", "")} for p in node["parameters"]}
            schema = {"type": "object", "properties": props, "required": list(props)}
        else:
            inputs = list(node.get("input-type") or [])
            positional[node["id"]] = inputs
            props = {}
            for i, kind in enumerate(inputs):
                key = kind if kind not in props else f"{kind}_{i + 1}"
                props[key] = {"type": "string", "description": f"the input {kind}"}
            schema = {"type": "object", "properties": props, "required": list(props)}
        tools.add(SchemaTool(name, node.get("desc", ""), schema), replace=True)
    return tools, names, positional


def gold_of(label: dict[str, Any], positional: dict[str, list[str]], domain: str) -> dict[str, set[str]]:
    nodes = label.get("task_nodes") or []
    out: dict[str, set[str]] = {"nodes": set(), "edges": set(), "t": set(), "v": set()}
    for node in nodes:
        task = node["task"]
        out["nodes"].add(task)
        args = node.get("arguments") or []
        for i, arg in enumerate(args):
            if isinstance(arg, dict):
                out["t"].add(f"{task}-{arg.get('name')}")
                out["v"].add(f"{task}-{arg.get('name')}-{arg.get('value')}")
            else:
                kinds = positional.get(task) or []
                kind = kinds[i] if i < len(kinds) else f"arg{i}"
                out["t"].add(f"{task}-{kind}")
                out["v"].add(f"{task}-{kind}-{arg}")
    if domain == "dailylifeapis":
        for link in label.get("task_links") or []:
            out["edges"].add(f"{link['source']} - {link['target']}")
    else:
        for node in nodes:
            for arg in node.get("arguments") or []:
                for m in re.finditer(r"<node-(\d+)>", str(arg)):
                    k = int(m.group(1))
                    if k < len(nodes):
                        out["edges"].add(f"{nodes[k]['task']} - {node['task']}")
    return out


def predicted(plan: Plan | None, names: dict[str, str], positional: dict[str, list[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"nodes": set(), "edges": set(), "t": set(), "v": set()}
    if plan is None:
        return out
    steps = [s for s in plan.steps if s.uses != GenerateTool.name]
    index = {s.id: i for i, s in enumerate(steps)}
    by_id = {s.id: s for s in plan.steps}

    def sources(step_id: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """Tool steps feeding ``step_id``, looking through llm.generate steps in between."""
        found: set[str] = set()
        for dep in step_dependencies(by_id[step_id]):
            if dep in seen or dep not in by_id:
                continue
            if dep in index:
                found.add(dep)
            else:
                found |= sources(dep, seen | {dep})
        return found

    for step in steps:
        task = names.get(step.uses, step.uses)
        out["nodes"].add(task)
        for dep in sources(step.id):
            out["edges"].add(f"{names.get(by_id[dep].uses, by_id[dep].uses)} - {task}")
        for key, value in step.with_.items():
            kind = key
            if task in positional:
                kind = re.sub(r"_\d+$", "", key)
            text = str(value)
            refs: list[Reference] = list(find_references(value)) if isinstance(value, str) else []
            if refs and refs[0].source in index:
                text = f"<node-{index[refs[0].source]}>"
            out["t"].add(f"{task}-{kind}")
            out["v"].add(f"{task}-{kind}-{text}")
    return out


def f1(pairs: Iterable[tuple[set[str], set[str]]]) -> float:
    tp = fp = fn = 0
    for pred, gold in pairs:
        tp += len(pred & gold)
        fp += len(pred - gold)
        fn += len(gold - pred)
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 100.0 * 2 * precision * recall / (precision + recall)


def label_faults(label: dict[str, Any], known: set[str]) -> list[str]:
    faults = []
    tasks = [n["task"] for n in label.get("task_nodes") or []]
    for t in tasks:
        if t not in known:
            faults.append(f"tool '{t}' not in tool_desc")
    for link in label.get("task_links") or []:
        if link["source"] == link["target"]:
            faults.append(f"self-link {link['source']}")
    graph: dict[str, set[str]] = {}
    for link in label.get("task_links") or []:
        graph.setdefault(link["target"], set()).add(link["source"])
    from openautoglm.plan import find_cycle

    if cycle := find_cycle({k: {d for d in v if d != k} for k, v in graph.items()}):
        faults.append("cycle " + " -> ".join(cycle))
    return faults


async def taskbench_domain(stack: Stack, domain: str, limit: int | None, offset: int = 0) -> dict[str, Any]:
    requests = {(r["domain"], r["id"]): r["user_request"] for r in read_jsonl(DATA / "taskbench" / "requests.jsonl")}
    labels = window(read_jsonl(DATA / "taskbench" / "labels_sample" / f"{domain}.jsonl"), limit, offset)
    tools, names, positional = taskbench_tools(domain)
    known = set(names.values())
    pairs: dict[str, list[tuple[set[str], set[str]]]] = {"nodes": [], "edges": [], "t": [], "v": []}
    faults: dict[str, list[str]] = {}
    for label in labels:
        if found := label_faults(label, known):
            faults[label["id"]] = found
        request = requests.get((domain, label["id"]))
        if request is None:
            continue
        outcome = await stack.run(request, tools)
        pred = predicted(outcome.plan, names, positional)
        gold = gold_of(label, positional, domain)
        for key in pairs:
            pairs[key].append((pred[key], gold[key]))
    return {"n": len(labels), "n-F1": f1(pairs["nodes"]), "e-F1": f1(pairs["edges"]), "t-F1": f1(pairs["t"]),
            "v-F1": f1(pairs["v"]), "faults": faults}


# ---------------------------------------------------------------------------------------------------------------


def build_stack(args: argparse.Namespace) -> Stack:
    overrides: dict[str, Any] = {}
    if args.planner:
        overrides["planner"] = args.planner
    settings = load_settings(args.config, **overrides)
    model: ChatModel | None = None
    if not args.no_model:
        from openautoglm.models.factory import build_model

        model = build_model(settings)
    planner = choose_planner(settings, model) if model is not None else choose_planner(settings, _NoModel())
    if args.no_embeddings:
        for p in (planner, getattr(planner, "fallback", None)):
            if isinstance(p, RulePlanner):
                p.embedder = None
    label = f"{planner.name} planner, model={getattr(model, 'name', 'none')}"
    embedder = getattr(planner, "embedder", None)
    if embedder is not None:
        label += f", retrieval={type(embedder).__name__}"
    return Stack(planner, model, label)


class _NoModel(ChatModel):
    name = "none"


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_slice(stack: Stack, args: argparse.Namespace, offset: int) -> dict[str, Any]:
    """Every benchmark on the cases from ``offset`` on (at most ``args.limit`` per category / domain)."""
    started = time.perf_counter()
    results: dict[str, Any] = {"stack": stack.label, "limit": args.limit, "offset": offset}
    if "taskbench" not in args.skip:
        results["taskbench"] = {d: await taskbench_domain(stack, d, args.limit, offset) for d in DOMAINS}
    if "bfcl" not in args.skip:
        bfcl: dict[str, tuple[float, int]] = {}
        for category in [*BFCL_CATEGORIES, "irrelevance"]:
            bfcl[category] = await bfcl_category(stack, category, args.limit, offset)
        results["bfcl"] = bfcl
    results["validity"] = 100.0 * stack.valid / stack.produced if stack.produced else 100.0
    results["plans"] = stack.produced
    results["asked"] = stack.asked
    results["crashes"] = stack.errors[:10]
    results["p50_s"] = statistics.median(stack.latencies) if stack.latencies else 0.0
    results["p95_s"] = pct(stack.latencies, 0.95)
    results["wall_s"] = time.perf_counter() - started
    return results


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="cases per BFCL category / TaskBench domain")
    parser.add_argument("--offset", type=int, default=0, help="skip this many cases first (a check slice)")
    parser.add_argument("--unseen", type=int, nargs="*", default=[], metavar="OFFSET",
                        help="also run the slices at these offsets and print them beside the --offset slice")
    parser.add_argument("--planner", choices=["auto", "rules", "model"], default=None)
    parser.add_argument("--config", default=None, help="autoglm.yaml to read")
    parser.add_argument("--no-model", action="store_true", help="plan without any model (rules alone)")
    parser.add_argument("--no-embeddings", action="store_true", help="keyword retrieval only")
    parser.add_argument("--skip", nargs="*", default=[], choices=["bfcl", "taskbench"])
    parser.add_argument("--json", dest="json_out", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"benchmark data not found at {DATA.resolve()} (set AUTOGLM_BENCHDATA)", file=sys.stderr)
        return 2
    stack = build_stack(args)
    slices = [await run_slice(stack, args, args.offset)]
    for offset in args.unseen:
        slices.append(await run_slice(stack.fresh(), args, offset))
    for results in slices:
        print_table(results)
    if len(slices) > 1:
        print_side_by_side(slices)
    if args.json_out:
        data: Any = slices[0] if len(slices) == 1 else slices
        Path(args.json_out).write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    if stack.model is not None:
        await stack.model.aclose()
    return 0


def headline(r: dict[str, Any]) -> dict[str, str]:
    """The figures compared across slices; a category with no case in a slice is "-", not 0."""
    out: dict[str, str] = {}
    for domain, m in (r.get("taskbench") or {}).items():
        out[f"TaskBench {domain} n-F1/e-F1"] = (f"{m['n-F1']:.1f} / {m['e-F1']:.1f} (n={m['n']})" if m["n"]
                                                else "-")
        out[f"TaskBench {domain} t-F1/v-F1"] = f"{m['t-F1']:.1f} / {m['v-F1']:.1f}" if m["n"] else "-"
    if "bfcl" in r:
        b = r["bfcl"]
        for cat in [*BFCL_CATEGORIES, "irrelevance"]:
            acc, n = b[cat]
            out[f"BFCL {cat}"] = f"{acc:.1f}% (n={n})" if n else "-"
        present = [b[c][0] for c in BFCL_CATEGORIES if b[c][1]]
        out["BFCL mean of the categories present"] = f"{sum(present) / len(present):.1f}%" if present else "-"
    out["plan validity"] = f"{r['validity']:.1f}%"
    out["questions asked"] = str(r["asked"])
    out["planning latency p50 / p95"] = f"{r['p50_s'] * 1000:.0f} / {r['p95_s'] * 1000:.0f} ms"
    return out


def print_side_by_side(slices: list[dict[str, Any]]) -> None:
    columns = [headline(r) for r in slices]
    titles = [f"{'tuned' if i == 0 else 'unseen'} offset {r['offset']}" for i, r in enumerate(slices)]
    print(f"\nTuned and unseen slices — {slices[0]['stack']}; limit={slices[0]['limit'] or 'all'}\n")
    metrics = list(columns[0])
    widths = [max(len(m) for m in [*metrics, "metric"])]
    widths += [max(len(t), *(len(c.get(m, "-")) for m in metrics)) for t, c in zip(titles, columns, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(["metric", *titles], widths, strict=True))
    print(line)
    print("-" * len(line))
    for m in metrics:
        cells = [m, *(c.get(m, "-") for c in columns)]
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))


def print_table(r: dict[str, Any]) -> None:
    print(f"\nPlanning benchmark — {r['stack']}; limit={r['limit'] or 'all'}; offset={r.get('offset', 0)}; "
          f"wall {r['wall_s']:.1f}s\n")
    rows: list[tuple[str, str, str, str]] = []
    for domain, m in (r.get("taskbench") or {}).items():
        published = PUBLISHED_TASKBENCH.get(domain, {})
        pub = "; ".join(f"{k} {v[0]:.2f}/{v[1]:.2f}" for k, v in published.items()) or "no published figure in data"
        rows.append((f"TaskBench {domain} (n={m['n']}) n-F1/e-F1", f"{m['n-F1']:.2f} / {m['e-F1']:.2f}", pub,
                     "n-F1 ≥ 85, e-F1 ≥ 60" if domain == "dailylifeapis" else ""))
        rows.append((f"TaskBench {domain} t-F1/v-F1", f"{m['t-F1']:.2f} / {m['v-F1']:.2f}", "", ""))
    if "bfcl" in r:
        b = r["bfcl"]
        for cat in BFCL_CATEGORIES:
            acc, n = b[cat]
            rows.append((f"BFCL {cat} (n={n}) AST acc", f"{acc:.1f}%", "not in benchdata", ""))
        mean = sum(b[c][0] for c in BFCL_CATEGORIES) / len(BFCL_CATEGORIES)
        rows.append(("BFCL mean of the four", f"{mean:.1f}%", "not in benchdata", "≥ 60%"))
        rows.append((f"BFCL irrelevance (n={b['irrelevance'][1]})", f"{b['irrelevance'][0]:.1f}%", "not in benchdata",
                     "≥ 80%"))
    rows.append((f"plan validity ({r['plans']} plans, {r['asked']} questions)", f"{r['validity']:.1f}%", "",
                 "100%"))
    rows.append(("planning latency p50 / p95", f"{r['p50_s'] * 1000:.0f} ms / {r['p95_s'] * 1000:.0f} ms", "",
                 "p50 < 2 s"))
    widths = [max(len(row[i]) for row in [*rows, ("metric", "ours", "published", "target")]) for i in range(4)]
    header = ("metric", "ours", "published (TaskBench README)", "target")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    faults = {d: m["faults"] for d, m in (r.get("taskbench") or {}).items() if m["faults"]}
    if faults:
        print("\nfaulty upstream labels (reported, not fixed):")
        for domain, found in faults.items():
            for lid, items in found.items():
                print(f"  {domain} {lid}: {'; '.join(items)}")
    if r["crashes"]:
        print("\nplanner exceptions (should be none):")
        for c in r["crashes"]:
            print("  " + c[:200])


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
