"""The web console (``GET /console``) in a real headless Chromium against a real gateway on loopback.

One browser drives the whole story: a wrong key is refused, an operator signs in, runs a request whose plan has a
retried step, a step waiting for approval (approved from the console), a failing step and a skipped one, watches
the steps live, reads the answer, the task list, the trace tree and the nodes; a viewer sees 403 messages; a
throttled key sees the 429 message. Values with HTML in them must show as text, and the page must not log a
CSP violation or a script error.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_support import bearer, gateway, new_key
from openautoglm import AutoGLM, ScriptedModel, Settings, tool
from openautoglm.config import GatewaySettings
from openautoglm.plan import Plan, parse_plan
from openautoglm.planning import Planner
from openautoglm.server.console import CSP
from openautoglm.server.keys import KeyRing
from openautoglm.server.ratelimit import LocalBuckets
from openautoglm.store import Store
from openautoglm.tools.approval import ApprovalBroker

INSTALL_HINT = ("the console tests need Chromium and its driver: "
                "apt-get update && apt-get install -y chromium chromium-driver (scripts/test.sh does this)")
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


class FixedPlanner(Planner):
    """Always the plan above: the test is about the console, not about planning."""

    name = "fixed"

    async def plan(self, request: str, ctx: Any) -> Plan:
        return parse_plan(PLAN)

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.fail(INSTALL_HINT)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


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


def wait_for(driver: Any, condition: Any, what: str, timeout: float = 10) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(d), message=what)


def by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def sign_in(driver: Any, key: str) -> None:
    field = by_id(driver, "api-key")
    field.clear()
    field.send_keys(key)
    by_id(driver, "signin-button").click()


def sign_out(driver: Any) -> None:
    by_id(driver, "sign-out").click()
    wait_for(driver, lambda d: by_id(d, "signin").is_displayed(), "the sign-in form is back")


def tab(driver: Any, name: str) -> None:
    css(driver, f'button.tab[data-tab="{name}"]')[0].click()


def visible_text(driver: Any, element_id: str) -> str:
    element = by_id(driver, element_id)
    return str(element.text) if element.is_displayed() else ""


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
    problems = [e["message"] for e in driver.get_log("browser")
                if re.search(r"Content Security Policy|Trusted|Uncaught|TypeError|ReferenceError", e["message"])]
    assert problems == []

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
