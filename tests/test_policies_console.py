"""The console's Policies tab in a real headless Chromium against a real gateway on loopback: the versions, the
history with the loop's figures, and an operator's rollback from the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from console_support import browser, browser_problems, by_id, console_glm, css, open_tab, wait_for
from gateway_support import gateway, new_key
from openautoglm.events import EventKind

__all__ = ["browser"]  # fixture
pytestmark = pytest.mark.chromium


def test_the_policies_tab_lists_history_with_figures_and_rolls_back(browser: Any, tmp_path: Path) -> None:
    glm = console_glm(tmp_path)
    operator = new_key(glm, "operator", "op")
    book = glm.policies
    first = book.create({"routes": {"text-generation": {"weights": {"a": 1}}}}, "ops@x", "baseline")
    book.activate(first.version, "ops@x", "baseline")
    second = book.create({"routes": {"text-generation": {"weights": {"a": 0.1}}}}, "loop", "from the signals",
                         origin="loop", parent=first.version)
    glm.store.switch_policy(EventKind.POLICY_PROMOTED, second.version, author="loop", reason="not worse",
                            data={"previous": first.version, "test": {"calls": [60, 58], "errors": {"p": 0.5},
                                                                      "latency": {"p": 0.31}, "ratings": {"p": 0.9}}})
    with gateway(glm, access_log=False) as server:
        driver = browser
        open_tab(driver, server.url, operator, "policies")
        wait_for(driver, lambda d: css(d, '#policy-history tr[data-kind="policy.promoted"]'), "the history")
        assert by_id(driver, "policy-state").text.startswith("Active: v2; before it: v1")
        promoted = css(driver, '#policy-history tr[data-kind="policy.promoted"]')[0].text
        assert "calls 60 vs 58" in promoted and "latency 0.31" in promoted and "loop" in promoted
        assert [r.get_attribute("data-version") for r in css(driver, "#policy-versions tr")] == ["2", "1"]
        by_id(driver, "policy-rollback").click()
        wait_for(driver, lambda d: d.find_element("id", "policy-state").text.startswith("Active: v1"),
                 "the rollback shown")
        assert browser_problems(driver) == []
    assert glm.store.policy_state().active == first.version
    assert glm.store.policy_log(1)[0].reason == "from the console"
