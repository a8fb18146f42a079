"""A real server process and Debian's headless Chromium, driven by Playwright."""
import shutil
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.helpers import ServerProcess

CHROMIUM = "/usr/bin/chromium"  # Debian's package; a test never downloads a browser
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server():
    """server.py with its embedded Redis in a fresh data dir, as `make run` starts it."""
    directory = Path(tempfile.mkdtemp(prefix="parlor-e2e-", dir="/tmp"))
    # Every browser signs up from 127.0.0.1: the sign-up limit (5 an hour per address) is off.
    process = ServerProcess(directory / "data", "--signup-limit", "0").start()
    yield process
    process.stop()
    shutil.rmtree(directory, ignore_errors=True)


class Watched:
    """A page whose console errors and CSP violations are collected."""

    def __init__(self, context):
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(m.text))
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))

    def csp_violations(self):
        return [p for p in self.problems if "Content Security Policy" in p or "Content-Security-Policy" in p]


@pytest.fixture
def new_page(browser):
    contexts = []

    def make(javascript: bool = True) -> Watched:
        context = browser.new_context(java_script_enabled=javascript)
        contexts.append(context)
        return Watched(context)

    yield make
    for context in contexts:
        context.close()
