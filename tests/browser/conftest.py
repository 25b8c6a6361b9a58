"""Browser fixtures: headless Chromium from Debian's ``chromium`` package, driven by Playwright.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``executable_path``).
Without that file the browser tests are skipped and say why (``scripts/run-tests`` installs it).
``page`` is a fresh browser context and tab per test; ``shoot(page, name)`` saves a full-page
screenshot under the test session's temporary folder and, when ``RISTRETTO_SCREENSHOTS`` names a
folder, copies it there too (for a person to look at).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Seconds a browser action or navigation may take: loopback pages load in milliseconds.
TIMEOUT_MS = 15_000


# Per module, not per session: Playwright's sync API keeps an event loop running in this
# thread while it is started, and the in-process clients of the modules that follow need it
# stopped (they run their own loop).
@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM} missing): apt-get install chromium")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def context_factory(chromium):
    """New browser contexts (separate cookie jars), closed after the test."""
    made = []

    def make(**options):
        ctx = chromium.new_context(**{"viewport": {"width": 1024, "height": 720}, **options})
        ctx.set_default_timeout(TIMEOUT_MS)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


@pytest.fixture
def page(context_factory):
    return context_factory().new_page()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def shoot(screenshot_dir) -> Callable[..., Path]:
    copy_to = os.environ.get("RISTRETTO_SCREENSHOTS")

    def take(page, name: str) -> Path:
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if copy_to:
            Path(copy_to).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(copy_to) / path.name)
        return path

    return take
