"""The console tests' browser: one headless Chromium per test module (the ``browser`` fixture: import it into the
module), and the few steps every console test takes with it (find, wait, sign in, open a tab, read the problems the
page logged)."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openautoglm import AutoGLM, ScriptedModel, Settings
from openautoglm.store import Store

INSTALL_HINT = ("the console tests need Chromium and its driver: "
                "apt-get update && apt-get install -y chromium chromium-driver (scripts/test.sh does this)")


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


def console_glm(tmp_path: Path) -> AutoGLM:
    """An AutoGLM on a SQLite file under ``tmp_path`` whose model is never asked: what a tab test's gateway serves."""
    db_url = f"sqlite:///{tmp_path / 'console.db'}"
    return AutoGLM(settings=Settings(home=tmp_path, database_url=db_url), model=ScriptedModel(["unused"]),
                   store=Store(db_url))


def open_tab(driver: Any, url: str, key: str, name: str) -> None:
    """Load the console at ``url`` (a gateway's), forget what the browser logged before, sign in with ``key`` and open
    the tab ``name``."""
    driver.get(f"{url}/console")
    driver.get_log("browser")
    sign_in(driver, key)
    wait_for(driver, lambda d: by_id(d, "tabs").is_displayed(), "the tabs after signing in")
    tab(driver, name)


def browser_problems(driver: Any) -> list[str]:
    """What the page logged since the last look that it must never log: a CSP or Trusted Types refusal, a script
    error."""
    return [e["message"] for e in driver.get_log("browser")
            if re.search(r"Content Security Policy|Trusted|Uncaught|TypeError|ReferenceError", e["message"])]
