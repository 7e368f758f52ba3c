"""The console's Reports tab in a real headless Chromium against a real gateway on loopback: an operator runs the
weekly sales report, the run opens in a sandboxed iframe through a short-lived link, and every chart in it is drawn
(images loaded with a non-zero size). The report routes keep their roles and refuse forged or stale links."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from console_support import browser, browser_problems, by_id, console_glm, css, open_tab, wait_for
from gateway_support import bearer, gateway, new_key

__all__ = ["browser"]  # fixture
pytestmark = pytest.mark.chromium


def test_an_operator_runs_a_report_and_its_charts_are_drawn(browser: Any, tmp_path: Path) -> None:
    glm = console_glm(tmp_path)
    operator, viewer = new_key(glm, "operator", "op"), new_key(glm, "viewer", "vi")
    glm.store.add_schedule("sales-monthly", "0 1 2 * *", ["boss@example.com"])
    with gateway(glm, access_log=False) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        assert client.post("/v1/reports/sales-weekly/run", headers=bearer(viewer)).status_code == 403
        listed = client.get("/v1/reports", headers=bearer(viewer)).json()
        assert [r["name"] for r in listed["reports"]] == ["sales-monthly", "sales-weekly"]
        assert listed["schedules"][0]["emails"] == ["boss@example.com"]
        assert client.post("/v1/reports/view", headers=bearer(viewer), json={"ref": "../../etc/passwd"}
                           ).status_code == 404
        forged = glm.store.sealer.seal(json.dumps({"ref": "sales-weekly/20260101T000000-000", "exp": time.time() - 1}))
        assert client.get(f"/v1/reports/view?t={forged}").status_code == 401
        assert client.get("/v1/reports/view?t=agsealed:nope:AAAA").status_code == 401

        driver = browser
        open_tab(driver, server.url, operator, "reports")
        wait_for(driver, lambda d: css(d, '#reports tr[data-report="sales-weekly"] button'), "the report list")
        assert "boss@example.com" in by_id(driver, "report-schedules").text
        css(driver, '#reports tr[data-report="sales-weekly"] button')[0].click()
        wait_for(driver, lambda d: by_id(d, "report-frame").is_displayed(), "the run opened", timeout=120)
        frame = by_id(driver, "report-frame")
        driver.switch_to.frame(frame)
        try:
            wait_for(driver, lambda d: d.execute_script(
                "return document.images.length >= 3 && [...document.images].every(i => i.complete)"),
                "the report's charts loaded", timeout=30)
            sizes = driver.execute_script("return [...document.images].map(i => [i.naturalWidth, i.naturalHeight])")
            title = driver.execute_script("return document.querySelector('h1').textContent")
        finally:
            driver.switch_to.default_content()
        assert len(sizes) == 3 and all(w > 300 and h > 200 for w, h in sizes), sizes
        assert title == "每周销售报告"
        assert browser_problems(driver) == []
        # The link is one run's, and the file behind it is served with a policy of its own.
        page = client.get(frame.get_attribute("src"))
        assert page.status_code == 200 and "sandbox" in page.headers["content-security-policy"]
