"""The `autoglm` command as a person uses it: real processes, one-line errors, non-zero exits."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

AUTOGLM = str(Path(sys.executable).with_name("autoglm"))


def autoglm(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AUTOGLM, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=os.environ.copy(), stdin=subprocess.DEVNULL)


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_exec_with_a_cycle_names_it_on_one_line(tmp_path: Path) -> None:
    plan = write(tmp_path / "cycle.json", {"steps": [
        {"id": "draft", "uses": "llm.generate", "with": {"prompt": "${review.output}"}},
        {"id": "review", "uses": "llm.generate", "with": {"prompt": "${draft.output}"}},
    ]})
    line = one_error_line(autoglm("exec", str(plan)))
    assert "cycle" in line and "draft" in line and "review" in line


@pytest.mark.parametrize(
    "args, expected",
    [
        (["run", ""], "request is empty"),
        (["run", "   "], "request is empty"),
        (["exec", "/nonexistent/plan.json"], "no plan file"),
        (["trace", "0000deadbeef"], "no task"),
        (["tools", "call", "no.such.tool"], "no tool named"),
        (["tools", "call", "llm.generate", "--args", "{oops"], "--args is not valid JSON"),
        (["run", "hi", "--model", "/nonexistent/model.gguf"], "model_provider"),
    ],
)
def test_user_mistakes_are_one_line_errors(args: list[str], expected: str) -> None:
    assert expected in one_error_line(autoglm(*args))


def test_invalid_plan_file_content(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert "cannot be parsed" in one_error_line(autoglm("exec", str(bad)))
    unknown = write(tmp_path / "unknown.json", {"steps": [{"id": "a", "uses": "no.such", "with": {}}]})
    assert "unknown tool 'no.such'" in one_error_line(autoglm("exec", str(unknown)))


def test_bad_config_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "autoglm.yaml").write_text("timeout_seconds: -3\n", encoding="utf-8")
    line = one_error_line(autoglm("tools", cwd=tmp_path))
    assert "autoglm.yaml" in line and "timeout_seconds" in line


def test_tools_json_lists_schemas() -> None:
    result = autoglm("tools", "--json")
    assert result.returncode == 0, result.stderr
    tools = {t["name"]: t for t in json.loads(result.stdout)}
    generate = tools["llm.generate"]
    assert {"name", "description", "parameters", "source", "side_effects", "roles"} <= set(generate)
    assert generate["parameters"]["required"] == ["prompt"]


@pytest.mark.model
def test_exec_and_trace_with_the_embedded_model(tmp_path: Path) -> None:
    plan = write(tmp_path / "plan.json", {"steps": [
        {"id": "greet", "uses": "llm.generate", "with": {"prompt": "Say hello in one short sentence.",
                                                         "max_tokens": 16},
         "timeout_s": 300},  # a busy CI machine is slow; what is checked here is the trail, not the speed
    ]})
    result = autoglm("exec", str(plan), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "succeeded" and out["answer"].strip() and not out["answer"].startswith("[")
    step = out["steps"][0]
    assert step["node"] == "local" and step["attempts"] == 1 and step["finished_at"] > step["started_at"]
    trace = autoglm("trace", out["task_id"], "--json")
    kinds = [e["kind"] for e in json.loads(trace.stdout)]
    for kind in ("task.started", "plan.made", "step.started", "model.prompt", "model.completion",
                 "step.finished", "answer", "task.finished"):
        assert kind in kinds
    completion = next(e for e in json.loads(trace.stdout) if e["kind"] == "model.completion")
    assert completion["data"]["completion_tokens"] > 0
    tree = autoglm("trace", out["task_id"])
    assert "step greet" in tree.stdout and "model.completion" in tree.stdout


def test_exec_timeout_is_retried_and_dependents_skipped_in_the_trace(tmp_path: Path) -> None:
    plan = write(tmp_path / "slow.json", {"steps": [
        {"id": "slow", "uses": "llm.generate", "with": {"prompt": "Write a long essay."},
         "timeout_s": 0.001, "retry": {"attempts": 2, "backoff_s": 0.01}},
        {"id": "after", "uses": "llm.generate", "with": {"prompt": "Summarise: ${slow.output}"}},
        {"id": "sum", "uses": "math.calculate", "with": {"expression": "2+3"}},
    ]})
    result = autoglm("exec", str(plan), "--json")
    out = json.loads(result.stdout)
    assert out["status"] == "partial" and result.returncode == 0
    steps = {s["id"]: s for s in out["steps"]}
    assert steps["slow"]["status"] == "failed" and steps["slow"]["attempts"] == 2
    assert steps["after"]["status"] == "skipped" and steps["after"]["error"] == "needs 'slow', which failed"
    assert steps["sum"]["status"] == "succeeded"
    assert "2+3 = 5" in out["answer"] and "timed out" in out["answer"]
    assert "Missing" not in out["answer"] and "[sum]" not in out["answer"]
    events = json.loads(autoglm("trace", out["task_id"], "--json").stdout)
    retry = next(e for e in events if e["kind"] == "step.retry")
    assert retry["step_id"] == "slow" and "timed out" in retry["data"]["error"]
    skipped = next(e for e in events if e["kind"] == "step.skipped")
    assert skipped["step_id"] == "after" and skipped["data"]["reason"] == "needs 'slow', which failed"


def test_trace_html_writes_one_self_contained_page(tmp_path: Path) -> None:
    hostile = "</script><script>window.__pwned=1</script><!--"
    plan = write(tmp_path / "plan.json", {"steps": [
        {"id": "left", "uses": "math.calculate", "with": {"expression": "6*7"}},
        {"id": "right", "uses": "math.calculate", "with": {"expression": f"1/0 {hostile}"}},
        {"id": "both", "uses": "math.calculate", "with": {"expression": "${left.output.result} + 1"},
         "depends_on": ["right"]},
        {"id": "clock", "uses": "time.now"},
    ]})
    out = json.loads(autoglm("exec", str(plan), "--json").stdout)
    assert out["status"] == "partial"
    page_path = tmp_path / "trace.html"
    result = autoglm("trace", out["task_id"], "--html", str(page_path))
    assert result.returncode == 0 and result.stdout == "" and str(page_path) in result.stderr
    page = page_path.read_text(encoding="utf-8")
    events = json.loads(autoglm("trace", out["task_id"], "--json").stdout)

    # The trace, whole, as data no script runs; the hostile text never closes an element.
    data = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', page, re.S)
    assert data and json.loads(data.group(1)) == {"task_id": out["task_id"], "events": events}
    assert hostile not in page and page.count("</script>") == 4  # the data, dagre, plan-view, the page's start
    # The console's own files inlined (one drawing, no twin), nothing loaded from anywhere.
    static = Path(__file__).resolve().parents[1] / "src/openautoglm/server/static"
    for name in ("dagre.min.js", "plan-view.js", "trace-page.js", "plan-view.css", "console.css"):
        assert (static / name).read_text(encoding="utf-8") in page
    assert "@dagrejs/dagre 3.1.3" in page and "Copyright (c) 2012-2014 Chris Pettitt" in page
    assert not re.search(r"\b(src|href)\s*=", page)
    # Its CSP allows exactly the inline scripts and style it holds, by hash, and nothing else.
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp and "default-src 'none'" in csp.group(1) and "unsafe" not in csp.group(1)
    inline = re.findall(r"<script>(.*?)</script>", page, re.S) + re.findall(r"<style>(.*?)</style>", page, re.S)
    hashes = {base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() for text in inline}
    assert len(inline) == 4 and hashes == set(re.findall(r"'sha256-([^']+)'", csp.group(1)))

    unwritable = autoglm("trace", out["task_id"], "--html", str(tmp_path / "no-such-dir" / "t.html"))
    assert one_error_line(unwritable).startswith("autoglm: error: cannot write")


def test_run_json_two_independent_parts_overlap_in_time() -> None:
    result = autoglm("run", "计算 123*456，并告诉我今天星期几", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "succeeded" and len(out["steps"]) == 2
    first, second = sorted(out["steps"], key=lambda s: s["started_at"])
    assert second["started_at"] < first["finished_at"]  # both running at once: neither waited for the other
    assert "56088" in out["answer"]
    plan = {s["id"]: s for s in out["plan"]["steps"]}
    assert all(not s.get("depends_on") and "${" not in json.dumps(s.get("with", {})) for s in plan.values())


def test_run_session_follow_up_is_computed_from_the_previous_turns_data() -> None:
    first = json.loads(autoglm("run", "上周哪个产品卖得最好？", "--session", "S", "--json").stdout)
    result = autoglm("run", "它比第二名多卖了多少件？", "--session", "S", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert first["status"] == out["status"] == "succeeded"
    events = json.loads(autoglm("trace", first["task_id"], "--json").stdout)
    products = next(e["data"]["output"]["products"] for e in events if e["kind"] == "step.finished")
    assert str(products[0]["units"] - products[1]["units"]) in out["answer"]
    # The earlier data is read back from turn one's task, not fetched again nor taken from its wording.
    recall, calc = out["plan"]["steps"]
    assert recall["uses"] == "memory.recall" and recall["with"]["task_id"] == first["task_id"]
    assert calc["uses"] == "math.calculate" and "${top_products.output.products.1.units}" in calc["with"]["expression"]


def test_run_composite_request_is_a_multi_step_plan_on_the_embedded_defaults() -> None:
    result = autoglm("run", "上周哪个产品卖得最好？再算一下它比第二名多卖了百分之几", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "succeeded"
    steps = {s["uses"]: s for s in out["steps"]}
    assert {"sales.top_products", "math.calculate"} <= set(steps)
    calc = next(s for s in out["plan"]["steps"] if s["uses"] == "math.calculate")
    assert "${" in calc["with"]["expression"]  # it reads the first step's figures, not numbers made up
    events = json.loads(autoglm("trace", out["task_id"], "--json").stdout)
    outputs = {e["data"]["uses"]: e["data"]["output"] for e in events if e["kind"] == "step.finished"}
    first, second = (p["units"] for p in outputs["sales.top_products"]["products"][:2])
    assert outputs["math.calculate"]["result"] == pytest.approx((first - second) / second * 100)
    assert outputs["sales.top_products"]["products"][0]["product"] in out["answer"]
    # One reply, not the steps pasted together: a sentence naming the product and the percentage.
    percent = outputs["math.calculate"]["result"]
    assert f"{percent:.2f}%" in out["answer"] and out["answer"].count("。") == 1
    assert "[" not in out["answer"] and "{" not in out["answer"]
    assert out["confidence"] == pytest.approx(0.95)


@pytest.mark.parametrize(("request_text", "lang"), [
    ("2026年10月销量第一的产品比第二名多卖了多少件？", "zh"),
    ("How many more units did the top product sell than the runner-up in October 2026?", "en"),
])
def test_run_one_clause_comparing_ranks_answers_the_difference_sql_computes(request_text: str, lang: str) -> None:
    result = autoglm("run", request_text, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "succeeded"
    assert [s["uses"] for s in out["plan"]["steps"]][-1] == "math.calculate"
    sql = ("SELECT product, SUM(units) AS units FROM sales_detail WHERE date BETWEEN '2026-10-01' AND '2026-10-31' "
           "GROUP BY product ORDER BY units DESC LIMIT 2")
    rows = json.loads(autoglm("tools", "call", "sql.query", "--args", json.dumps({"sql": sql})).stdout)["rows"]
    difference = rows[0]["units"] - rows[1]["units"]
    assert difference > 0
    # The reply states the difference asked for, not only the ranking.
    assert re.search(rf"(?<![\d,]){difference}(?![\d,])", out["answer"].replace(f"{difference:,}", str(difference))), \
        out["answer"]


def test_run_steps_prints_the_reply_then_each_step() -> None:
    result = autoglm("run", "-q", "--steps", "计算 (45+55)*12/8")
    assert result.returncode == 0, result.stderr
    reply, _, steps = result.stdout.partition("\n\n")
    assert "= 150" in reply and "\n" not in reply.strip() and "[" not in reply
    assert steps.startswith("[calculate] ") and "= 150" in steps
    assert "succeeded, confidence 0.95" in result.stderr


def test_run_an_action_no_tool_can_do_is_unsupported_and_says_what_would_make_it_possible() -> None:
    result = autoglm("run", "帮我订一张明天去上海的机票", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "unsupported" and out["steps"] == [] and out["confidence"] == 0
    assert "无法" in out["answer"] and "机票" in out["answer"] and "工具" in out["answer"]
    assert out["plan"]["unsupported"][0]["text"] == "帮我订一张明天去上海的机票"
    shown = autoglm("plan", "帮我订一张明天去上海的机票")
    assert "unsupported: 帮我订一张明天去上海的机票" in shown.stdout


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--no-such-flag"], "No such option: --no-such-flag"),
        (["run", "hi", "--no-such-flag"], "No such option: --no-such-flag"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["run"], "Missing argument"),
        (["tools", "call"], "Missing argument"),
        (["exec", "plan.json", "--inputs"], "requires an argument"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(args: list[str], expected: str) -> None:
    result = autoglm(*args)
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("autoglm: error: ") and expected in line and "--help" in line
