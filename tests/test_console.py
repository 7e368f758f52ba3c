"""The web console (``GET /console``) in a real headless Chromium against a real gateway on loopback.

One browser drives the whole story: a wrong key is refused, an operator signs in, runs a request whose plan has a
retried step, a step waiting for approval (approved from the console), a failing step and a skipped one, watches
the steps live, reads the answer, the task list, the trace tree and the nodes; a viewer sees 403 messages; a
throttled key sees the 429 message. Values with HTML in them must show as text, and the page must not log a
CSP violation or a script error.

A second story is about the drawing (plan-view.js): a four-step plan with two parallel branches, a failing step and
its skipped dependent, drawn live as a graph and a timeline in the Run view, in Tasks, and in the page
``autoglm trace --html`` writes; a screenshot of the Run view is kept under ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console_support import browser, browser_problems, by_id, css, sign_in, sign_out, tab, visible_text, wait_for
from gateway_support import bearer, gateway, new_key
from openautoglm import AutoGLM, ScriptedModel, Settings, tool
from openautoglm.cli.trace_page import trace_page
from openautoglm.config import GatewaySettings
from openautoglm.plan import Plan, parse_plan
from openautoglm.planning import Planner
from openautoglm.server.console import CSP
from openautoglm.server.keys import KeyRing
from openautoglm.server.ratelimit import LocalBuckets
from openautoglm.store import Store
from openautoglm.tools.approval import ApprovalBroker

__all__ = ["browser"]  # fixture

CJK_HINT = ("the console screenshot needs a CJK font to show Chinese as glyphs, not boxes: "
            "apt-get install -y fonts-noto-cjk (scripts/test.sh does this)")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"  # kept after the run; .gitignore leaves it out
HOSTILE = '<img src=x onerror="window.__pwned=1">'
PLAN = {
    "steps": [
        {"id": "lookup", "uses": "demo.lookup", "with": {"city": f"<b>Hangzhou</b>{HOSTILE}"}},
        {"id": "flaky", "uses": "demo.flaky", "retry": {"attempts": 3, "backoff_s": 0.05}},
        {"id": "notify", "uses": "demo.notify", "with": {"message": "sales for ${lookup.output.city}"}},
        {"id": "answer", "uses": "llm.generate", "with": {"prompt": "Sales: ${lookup.output.sales}"},
         "depends_on": ["flaky", "notify"]},
        {"id": "broken", "uses": "demo.broken", "retry": {"attempts": 1}},
        {"id": "after", "uses": "demo.lookup", "with": {"city": "Ningbo"}, "depends_on": ["broken"]},
    ]
}
TRACE_STATUS = {"step.started": "running", "step.retry": "retry", "step.finished": "done",
                "step.failed": "failed", "step.skipped": "skipped"}


# Two branches run at once (fetch, other); broken fails after fetch, so report (which also reads other) is skipped.
BRANCHES_PLAN = {
    "steps": [
        {"id": "fetch", "uses": "demo.slow", "with": {"city": "杭州"}},
        {"id": "other", "uses": "demo.slow", "with": {"city": "宁波"}},
        {"id": "broken", "uses": "demo.fails_slowly", "depends_on": ["fetch"], "retry": {"attempts": 1}},
        {"id": "report", "uses": "demo.lookup", "with": {"city": "${other.output.city}"}, "depends_on": ["broken"]},
    ]
}
BRANCH_EDGES = {("fetch", "broken", "order"), ("broken", "report", "order"), ("other", "report", "data")}
SLOW_S = 0.6
SLOW_ROWS = 60


class FixedPlanner(Planner):
    """Always the same plan: the test is about the console, not about planning."""

    name = "fixed"

    def __init__(self, plan: dict[str, Any] = PLAN) -> None:
        self.fixed = plan

    async def plan(self, request: str, ctx: Any) -> Plan:
        return parse_plan(self.fixed)

    async def replan(self, request: str, plan: Plan, results: Any, ctx: Any) -> Plan | None:
        return None


@tool(name="demo.lookup")
def lookup(city: str) -> dict:
    """A city's sales last month.

    Args:
        city: the city
    """
    return {"city": city, "sales": 1234}


@tool(name="demo.notify", side_effects=True)
def notify(message: str) -> str:
    """Send a message to the team (needs an operator's approval).

    Args:
        message: what to send
    """
    return f"sent: {message}"


@tool(name="demo.broken")
def broken() -> str:
    """Always fails."""
    raise ValueError("the demo tool always fails")


@tool(name="demo.slow")
async def slow(city: str) -> dict:
    """A city's daily sales, slowly (long enough for two of them to be seen running at once).

    Args:
        city: the city
    """
    await asyncio.sleep(SLOW_S)
    return {"city": city, "days": [{"day": i, "note": f"{city}第{i}天的销售额"} for i in range(SLOW_ROWS)]}


@tool(name="demo.fails_slowly")
async def fails_slowly() -> str:
    """Fails, after a while (so fetch then this is surely the longest chain, however loaded the machine)."""
    await asyncio.sleep(SLOW_S / 2)
    raise ValueError("the demo tool always fails")


GATE = threading.Event()  # set by the test: demo.gate runs until then
GATED_PLAN = {"steps": [
    {"id": "gate", "uses": "demo.gate"},
    {"id": "after", "uses": "demo.lookup", "with": {"city": "${gate.output}"}},
]}


@tool(name="demo.gate")
async def gate() -> str:
    """Runs until the test opens the gate (at most 30 s)."""
    for _ in range(1500):
        if GATE.is_set():
            return "Shaoxing"
        await asyncio.sleep(0.02)
    raise TimeoutError("the test never opened the gate")


def flaky_tool() -> Any:
    calls = {"n": 0}

    @tool(name="demo.flaky")
    def flaky() -> str:
        """Fails the first time it is called."""
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a transient error")
        return "steady now"

    return flaky


class ThrottledKeys(LocalBuckets):
    """The gateway's real buckets, except that the keys in ``empty`` never have a token left (a real 429)."""

    def __init__(self) -> None:
        super().__init__(600 / 60, 60)
        self.empty: set[str] = set()

    async def take(self, key: str) -> float:
        if any(key.endswith(f":{key_id}") for key_id in self.empty):
            return 7.0
        return await super().take(key)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[AutoGLM, Any, ThrottledKeys]]:
    db_url = f"sqlite:///{tmp_path / 'console.db'}"
    broker = ApprovalBroker(timeout_s=30)
    glm = AutoGLM(settings=Settings(auth="required", database_url=db_url, gateway=GatewaySettings()),
                  model=ScriptedModel([f"Sales were 1234 {HOSTILE}"]), store=Store(db_url), planner=FixedPlanner(),
                  tools=[lookup, notify, broken, flaky_tool()], approver=broker.approver)
    limiter = ThrottledKeys()
    with gateway(glm, limiter=limiter, access_log=False, approvals=broker) as server:
        yield glm, server, limiter


def test_console_headers_are_strict(app: tuple[AutoGLM, Any, ThrottledKeys]) -> None:
    _, server, _ = app
    with httpx.Client(base_url=server.url, timeout=10) as http:
        page = http.get("/console")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        script = http.get("/console/console.js")
        style = http.get("/console/console.css")
        for response in (page, script, style):
            assert response.headers["content-security-policy"] == CSP
            assert response.headers["x-content-type-options"] == "nosniff"
        assert script.headers["content-type"].startswith("text/javascript")
        assert style.headers["content-type"].startswith("text/css")
        directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
        assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'" and "unsafe" not in CSP
        # No inline script at all: every <script> element loads a file.
        scripts = re.findall(r"<script\b[^>]*>", page.text)
        assert scripts and all('src="/console/' in s for s in scripts)
        assert not re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write|eval\(", script.text)
        assert http.get("/console/..%2Fapp.py").status_code == 404
        assert http.get("/console/console.html").status_code == 404  # only the listed files; the page is /console
        assert http.get("/console/", follow_redirects=False).headers["location"] == "/console"
        assert http.head("/console").status_code == 200


def test_console_in_chromium(browser: Any, app: tuple[AutoGLM, Any, ThrottledKeys]) -> None:
    glm, server, limiter = app
    driver = browser
    driver.get(f"{server.url}/console")
    driver.get_log("browser")  # start the log afresh

    # A wrong key: the sign-in form says so and stays.
    sign_in(driver, "not-a-real-key")
    wait_for(driver, lambda d: "not accepted" in visible_text(d, "signin-error"), "the wrong-key message")
    assert not by_id(driver, "tabs").is_displayed()
    assert driver.execute_script("return sessionStorage.getItem('autoglm.apiKey')") is None

    # An operator runs a request: steps appear live, the approval is granted from the Approvals tab.
    operator = new_key(glm, "operator", owner="olivia")
    sign_in(driver, operator)
    wait_for(driver, lambda d: by_id(d, "request").is_displayed(), "the request box")
    assert not by_id(driver, "signin-error").is_displayed()
    assert by_id(driver, "who-text").text == "Signed in (operator)"
    by_id(driver, "request").send_keys(f"Summarise last month's sales {HOSTILE}")
    by_id(driver, "submit").click()
    wait_for(driver, lambda d: css(d, '#steps tr[data-step="notify"]')
             and "approval" in css(d, '#steps tr[data-step="notify"] td.output')[0].text, "notify waits for approval")
    assert css(driver, '#steps tr[data-step="answer"]')[0].get_attribute("data-status") == "waiting"
    tab(driver, "approvals")
    wait_for(driver, lambda d: css(d, "#approvals li.approval"), "a pending approval")
    item = css(driver, "#approvals li.approval")[0]
    assert item.find_element("css selector", ".a-tool").text == "demo.notify"
    assert "<b>Hangzhou</b>" in item.find_element("css selector", ".a-args").text
    item.find_element("css selector", ".a-reason").send_keys("looks fine")
    item.find_element("css selector", ".a-approve").click()
    tab(driver, "run")
    wait_for(driver, lambda d: visible_text(d, "answer"), "the answer")
    task_id = by_id(driver, "run-id").text
    wait_for(driver, lambda d: not by_id(d, "submit").get_attribute("disabled"), "the run to end")

    with httpx.Client(base_url=server.url, timeout=10, headers=bearer(operator)) as http:
        task = http.get(f"/v1/tasks/{task_id}").json()
        events = http.get(f"/v1/tasks/{task_id}/trace").json()["events"]
    expected: dict[str, dict[str, str]] = {}
    for ev in events:
        if ev["step_id"] and ev["kind"] in TRACE_STATUS:
            step = expected.setdefault(ev["step_id"], {"tool": "", "status": ""})
            step["tool"] = ev["data"].get("uses") or step["tool"]
            step["status"] = TRACE_STATUS[ev["kind"]]
    rows = css(driver, "#steps tr")
    shown = {r.get_attribute("data-step"): {"tool": r.find_element("css selector", "td.tool").text,
                                            "status": r.get_attribute("data-status")} for r in rows}
    assert [r.get_attribute("data-step") for r in rows] == [s["id"] for s in PLAN["steps"]]
    assert shown == expected
    assert {s["status"] for s in shown.values()} == {"done", "failed", "skipped"}
    assert any(ev["kind"] == "step.retry" and ev["step_id"] == "flaky" for ev in events)
    decided = [ev["data"] for ev in events if ev["kind"] == "approval" and ev["data"].get("status") == "approved"]
    assert [(d["by"], d["reason"]) for d in decided] == [("key:olivia", "looks fine")]
    for row in rows:  # each finished or failed step shows its duration and a preview of its output or error
        if row.get_attribute("data-status") in ("done", "failed"):
            assert re.fullmatch(r"\d+ ms|\d+\.\d\d s", row.find_element("css selector", "td.duration").text)
    lookup_row = css(driver, '#steps tr[data-step="lookup"] td.output')[0]
    assert "<b>Hangzhou</b>" in lookup_row.text and not lookup_row.find_elements("css selector", "b, img")
    assert "always fails" in css(driver, '#steps tr[data-step="broken"] td.output')[0].text
    assert "2 attempts" in css(driver, '#steps tr[data-step="flaky"] td.output')[0].text
    assert by_id(driver, "answer").text == task["answer"].strip() and HOSTILE in task["answer"]
    # The graph agrees with the table and the trace; a retried step says so; a model step shows its prompt and node.
    assert drawn(driver, "run-plan")["nodes"] == {sid: s["status"] for sid, s in expected.items()}
    assert "↻1" in css(driver, '#run-plan .pv-node[data-step="flaky"] .pv-node-meta')[0].text
    css(driver, '#steps tr[data-step="answer"]')[0].click()  # a row selects its step in the graph
    detail = wait_for(driver, lambda d: css(d, '#run-plan .pv-detail[data-step="answer"]'), "answer's detail")[0]
    prompt = next(ev["data"] for ev in events if ev["kind"] == "model.prompt" and ev["step_id"] == "answer")
    assert "Prompts (1)" in detail.text and prompt["messages"][-1]["content"] in detail.text
    node = next(ev["data"]["node"] for ev in events if ev["kind"] == "step.finished" and ev["step_id"] == "answer")
    args = next(ev["data"]["args"] for ev in events if ev["kind"] == "step.started" and ev["step_id"] == "answer")
    assert node and f"model node\n{node}" in detail.text and args["prompt"].strip() in detail.text
    css(driver, '#run-plan .pv-node[data-step="flaky"]')[0].click()
    retry = next(ev["data"] for ev in events if ev["kind"] == "step.retry" and ev["step_id"] == "flaky")
    wait_for(driver, lambda d: f"attempt 2 after {retry['error']}" in by_id(d, "run-plan").text,
             "flaky's retry in its detail")
    assert by_id(driver, "run-state").text == task["status"]
    assert by_id(driver, "run-request").text.endswith(HOSTILE)

    # The task list and the trace tree.
    tab(driver, "tasks")
    wait_for(driver, lambda d: css(d, f'#tasks tr[data-task="{task_id}"]'), "the task in the list")
    css(driver, f'#tasks tr[data-task="{task_id}"]')[0].click()
    wait_for(driver, lambda d: len(css(d, "#trace-tree li[data-kind]")) == len(events), "the whole trace")
    tree_steps = {n.get_attribute("data-step"): n.get_attribute("data-status")
                  for n in css(driver, "#trace-tree details.step-node")}
    assert tree_steps == {sid: s["status"] for sid, s in expected.items()}
    assert [n.get_attribute("data-kind") for n in css(driver, "#trace-tree li[data-kind]")
            if n.find_elements("xpath", "ancestor::details[contains(@class,'step-node')]") == []] == \
        [ev["kind"] for ev in events if not ev["step_id"]]

    # The model nodes.
    tab(driver, "nodes")
    wait_for(driver, lambda d: css(d, '#nodes tr[data-node="scripted"]'), "the scripted node")
    assert "ready" in css(driver, '#nodes tr[data-node="scripted"]')[0].text

    # Nothing rendered as markup, nothing blocked by the CSP, no script error.
    assert driver.execute_script("return window.__pwned") is None
    assert browser_problems(driver) == []

    # A viewer: no approvals (403 explained), no running tasks (403 explained).
    sign_out(driver)
    sign_in(driver, new_key(glm, "viewer"))
    wait_for(driver, lambda d: by_id(d, "request").is_displayed(), "the request box for the viewer")
    by_id(driver, "request").send_keys("anything")
    by_id(driver, "submit").click()
    wait_for(driver, lambda d: "403" in visible_text(d, "banner"), "the 403 banner")
    assert "role may not" in by_id(driver, "banner").text
    tab(driver, "approvals")
    wait_for(driver, lambda d: "operators" in visible_text(d, "approvals-error"), "approvals are for operators")

    # A key out of tokens: the 429 message says to wait.
    sign_out(driver)
    throttled, record = KeyRing(glm.store).create("user", None)
    limiter.empty.add(record.id)
    sign_in(driver, throttled)
    wait_for(driver, lambda d: "429" in visible_text(d, "signin-error"), "the 429 message")
    assert "Try again in 7 s" in by_id(driver, "signin-error").text


@pytest.fixture
def branches_app(tmp_path: Path) -> Iterator[tuple[AutoGLM, Any]]:
    db_url = f"sqlite:///{tmp_path / 'branches.db'}"
    glm = AutoGLM(settings=Settings(auth="required", database_url=db_url, gateway=GatewaySettings()),
                  model=ScriptedModel(["unused"]), store=Store(db_url), planner=FixedPlanner(BRANCHES_PLAN),
                  tools=[slow, fails_slowly, lookup])
    with gateway(glm, access_log=False) as server:
        yield glm, server


def drawn(driver: Any, view: str) -> dict[str, Any]:
    """What a plan view (its container's id) shows, read from the page itself."""
    return dict(driver.execute_script("""
        const view = document.getElementById(arguments[0]);
        const nodes = {};
        for (const n of view.querySelectorAll('.pv-graph .pv-node')) nodes[n.dataset.step] = n.dataset.status;
        const edges = [...view.querySelectorAll('.pv-graph .pv-edge')]
          .map((e) => [e.dataset.from, e.dataset.to, e.dataset.kind]);
        const bars = {};
        for (const b of view.querySelectorAll('.pv-timeline rect.pv-bar')) {
          const x = Number(b.getAttribute('x'));
          bars[b.dataset.step] = {x0: x, x1: x + Number(b.getAttribute('width')),
                                  critical: b.classList.contains('critical'), status: b.dataset.status};
        }
        const critical = [...view.querySelectorAll('.pv-graph .pv-node.critical')].map((n) => n.dataset.step);
        const columns = {};
        for (const n of view.querySelectorAll('.pv-graph .pv-node')) columns[n.dataset.step] = n.getBBox().x
          + n.transform.baseVal.consolidate().matrix.e;
        return {nodes, edges, bars, critical, columns, drawMs: Number(view.dataset.drawMs)};
    """, view))


def assert_branches_drawn(shown: dict[str, Any]) -> None:
    assert shown["nodes"] == {"fetch": "done", "other": "done", "broken": "failed", "report": "skipped"}
    assert {tuple(e) for e in shown["edges"]} == BRANCH_EDGES and len(shown["edges"]) == len(BRANCH_EDGES)
    x = shown["columns"]  # left to right in the order they can run: the two branches side by side first
    assert x["fetch"] == x["other"] < x["broken"] < x["report"]
    bars = shown["bars"]
    assert set(bars) == {"fetch", "other", "broken"}  # a skipped step never ran: no bar
    fetch, other = bars["fetch"], bars["other"]
    assert fetch["x0"] < other["x1"] and other["x0"] < fetch["x1"]  # the two branches overlap in time
    assert bars["broken"]["x0"] >= fetch["x1"] - 1  # broken waited for fetch
    assert bars["broken"]["status"] == "failed"
    # The longest chain of dependent steps: fetch then broken (other took as long as fetch, alone).
    assert {s for s, b in bars.items() if b["critical"]} == {"fetch", "broken"}
    assert set(shown["critical"]) == {"fetch", "broken"}


def test_the_plan_drawn_as_a_graph_and_a_timeline(browser: Any, branches_app: tuple[AutoGLM, Any],
                                                  tmp_path: Path) -> None:
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    if not fonts.strip():
        pytest.fail(CJK_HINT)
    glm, server = branches_app
    driver = browser
    driver.get(f"{server.url}/console")
    driver.get_log("browser")
    sign_in(driver, new_key(glm, "user"))
    wait_for(driver, lambda d: by_id(d, "request").is_displayed(), "the request box")
    by_id(driver, "request").send_keys("汇总杭州和宁波的销售额")
    # Every state the graph shows while the task runs, as the page draws it (no polling to miss one).
    driver.execute_script("""
        window.__drawn = [];
        new MutationObserver(() => {
          const now = {};
          for (const n of document.querySelectorAll('#run-plan .pv-node')) now[n.dataset.step] = n.dataset.status;
          const last = window.__drawn[window.__drawn.length - 1];
          if (JSON.stringify(now) !== JSON.stringify(last)) window.__drawn.push(now);
        }).observe(document.getElementById('run-plan'), {subtree: true, childList: true, attributes: true,
                                                         attributeFilter: ['data-status']});
    """)
    by_id(driver, "submit").click()
    wait_for(driver, lambda d: not by_id(d, "submit").get_attribute("disabled"), "the run to end")

    # Live: drawn from the event stream step by step, both branches running at once before anything else ran.
    states: list[dict[str, str]] = driver.execute_script("return window.__drawn")
    both = next(i for i, s in enumerate(states) if s.get("fetch") == s.get("other") == "running")
    assert states[both]["broken"] == states[both]["report"] == "waiting"
    shown = {step: [s[step] for s in states if s.get(step, "waiting") != "waiting"]
             for step in ("fetch", "other", "broken", "report")}
    changes = {step: [v for i, v in enumerate(seen) if i == 0 or seen[i - 1] != v] for step, seen in shown.items()}
    assert changes == {"fetch": ["running", "done"], "other": ["running", "done"], "broken": ["running", "failed"],
                       "report": ["skipped"]}
    wait_for(driver, lambda d: drawn(d, "run-plan")["nodes"].get("report") == "skipped", "the skipped step drawn")
    assert_branches_drawn(drawn(driver, "run-plan"))
    task_id = by_id(driver, "run-id").text

    # A step's detail: its arguments and its whole output (the last of 60 rows), as a collapsible tree.
    css(driver, '#run-plan .pv-node[data-step="fetch"]')[0].click()
    detail = wait_for(driver, lambda d: css(d, '#run-plan .pv-detail[data-step="fetch"]'), "fetch's detail")[0]
    text = detail.get_attribute("textContent")  # the collapsed parts of the tree too
    assert "杭州" in detail.text and "demo.slow" in detail.text
    assert f"杭州第{SLOW_ROWS - 1}天的销售额" in text and text.count("的销售额") == SLOW_ROWS
    folds = detail.find_elements("css selector", "details.pv-json-node")
    assert folds and not folds[-1].get_attribute("open")  # deep levels start folded
    folds[-1].find_element("css selector", "summary").click()
    assert folds[-1].get_attribute("open") is not None
    css(driver, '#run-plan .pv-node[data-step="report"]')[0].click()
    wait_for(driver, lambda d: "needs 'broken', which failed" in by_id(d, "run-plan").text, "why report was skipped")
    css(driver, '#run-plan .pv-node[data-step="broken"]')[0].click()
    wait_for(driver, lambda d: "always fails" in by_id(d, "run-plan").text, "broken's error")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "console-plan-graph.png"
    driver.set_window_size(1280, 2400)  # an element's screenshot holds only what is in the window
    try:
        driver.execute_script("window.scrollTo(0, 0)")
        by_id(driver, "run").screenshot(str(shot))
    finally:
        driver.set_window_size(1280, 1000)
    assert shot.stat().st_size > 10_000

    # Tasks → the task: the same drawing from the stored trace.
    tab(driver, "tasks")
    wait_for(driver, lambda d: css(d, f'#tasks tr[data-task="{task_id}"]'), "the task in the list")
    css(driver, f'#tasks tr[data-task="{task_id}"]')[0].click()
    wait_for(driver, lambda d: len(drawn(d, "trace-plan")["nodes"]) == 4, "the trace's graph")
    assert_branches_drawn(drawn(driver, "trace-plan"))
    assert browser_problems(driver) == []

    # `autoglm trace --html`'s page, opened from a file: the same drawing, under its own strict CSP.
    page = tmp_path / "trace.html"
    page.write_text(trace_page(task_id, glm.trace(task_id)), encoding="utf-8")
    driver.get(page.as_uri())
    wait_for(driver, lambda d: len(drawn(d, "trace-plan")["nodes"]) == 4, "the trace page's graph")
    assert_branches_drawn(drawn(driver, "trace-plan"))
    assert by_id(driver, "trace-state").text == "partial"
    assert by_id(driver, "trace-request").text == "汇总杭州和宁波的销售额"
    assert browser_problems(driver) == []


def test_critical_path_and_parallelism_in_the_page(browser: Any, branches_app: tuple[AutoGLM, Any]) -> None:
    _, server = branches_app
    browser.get(f"{server.url}/console")
    result = browser.execute_script("""
        const P = window.AutoGLMPlan;
        const run = (ids, deps, weights) => P.criticalPath(ids, new Map(Object.entries(deps)),
                                                           new Map(Object.entries(weights)));
        return {
          // a diamond: the longer branch (b) is the critical one, whatever the order the steps are listed in
          diamond: run(["d", "a", "b", "c"], {b: ["a"], c: ["a"], d: ["b", "c"]}, {a: 1, b: 3, c: 2, d: 0.5}),
          // two chains: the longest total wins, not the longest single step
          chains: run(["x", "y", "p", "q", "r"], {y: ["x"], q: ["p"], r: ["q"]}, {x: 5, y: 0.1, p: 2, q: 2, r: 2}),
          // a dependency on a step that never ran (not in ids) is left out
          skipped: run(["a", "c"], {c: ["a", "b"]}, {a: 1, c: 1}),
          empty: run([], {}, {}),
          parallel: P.maxParallel([[0, 2], [1, 3], [2, 4], [2.5, 2.6]]),
          edges: P.planEdges([{id: "a", uses: "t"}, {id: "b", uses: "t", depends_on: ["a"],
                               with: {x: "${a.output.v} and ${inputs.city}", y: ["${ c.output }"]},
                               when: "${a.output.ok}"}]),
        };
    """)
    assert result["diamond"] == {"path": ["a", "b", "d"], "length": 4.5}
    assert result["chains"] == {"path": ["p", "q", "r"], "length": 6}
    assert result["skipped"] == {"path": ["a", "c"], "length": 2}
    assert result["empty"] == {"path": [], "length": 0}
    assert result["parallel"] == 3
    assert result["edges"] == [
        {"from": "a", "to": "b", "kind": "data", "refs": ["${a.output.v}", "${a.output.ok}"]},
        {"from": "c", "to": "b", "kind": "data", "refs": ["${c.output}"]},
    ]



def test_a_running_task_opened_in_tasks_goes_on_live(browser: Any, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'gated.db'}"
    glm = AutoGLM(settings=Settings(auth="required", database_url=db_url, gateway=GatewaySettings()),
                  model=ScriptedModel(["unused"]), store=Store(db_url), planner=FixedPlanner(GATED_PLAN),
                  tools=[gate, lookup])
    GATE.clear()
    with gateway(glm, access_log=False) as server:
        driver = browser
        driver.get(f"{server.url}/console")
        sign_in(driver, new_key(glm, "user"))
        wait_for(driver, lambda d: by_id(d, "request").is_displayed(), "the request box")
        by_id(driver, "request").send_keys("wait at the gate")
        by_id(driver, "submit").click()
        wait_for(driver, lambda d: drawn(d, "run-plan")["nodes"].get("gate") == "running", "the gate running")
        task_id = by_id(driver, "run-id").text
        tab(driver, "tasks")
        wait_for(driver, lambda d: css(d, f'#tasks tr[data-task="{task_id}"]'), "the running task in the list")
        css(driver, f'#tasks tr[data-task="{task_id}"]')[0].click()
        wait_for(driver, lambda d: drawn(d, "trace-plan")["nodes"] == {"gate": "running", "after": "waiting"},
                 "the running task's graph")
        GATE.set()
        wait_for(driver, lambda d: drawn(d, "trace-plan")["nodes"] == {"gate": "done", "after": "done"},
                 "the graph going on from the live events")
        assert {tuple(e) for e in drawn(driver, "trace-plan")["edges"]} == {("gate", "after", "data")}
        assert set(drawn(driver, "trace-plan")["bars"]) == {"gate", "after"}
        # When the task ends the view reloads the whole trace: the event tree holds every stored event.
        stored = glm.trace(task_id)
        wait_for(driver, lambda d: len(css(d, "#trace-tree li[data-kind]")) == len(stored), "the whole event tree")
        assert browser_problems(driver) == []
