"""A real browser for the UI tests: Debian's Chromium driven by Playwright.

Playwright's Python wheel brings its own driver; the browser is the system's Chromium
(installed by ``make install``), never one Playwright downloads.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Headless, and nothing that reaches out to the network on its own.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Screenshots the tests leave for people to look at (gitignored).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def browser(system: str) -> Iterator[Browser]:
    """Chromium for one module's tests. Playwright's synchronous API runs an event loop
    of its own in this thread, so it is started only once the system is up and stopped
    before the asynchronous tests of other modules run."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make install` (it installs Debian's)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def new_page(browser: Browser, system: str) -> Iterator[Callable[..., Page]]:
    """Opens a page in a fresh browser context (its own cookies: one person each).

    Script errors on any page fail the test.
    """
    contexts = []
    errors: list[str] = []

    def open_page(**context_options) -> Page:
        context = browser.new_context(base_url=system, accept_downloads=True,
                                      **context_options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"script errors in the page: {errors}"
