"""Headless Chromium (Debian's ``chromium``, driven by Playwright) for the browser tests: one way to
start it, one place for screenshots (``test-output/screenshots/``)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import need

SHOTS = Path(__file__).parents[2] / "test-output" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def chromium_page(
    base_url: str, width: int = 1400, height: int = 1000, *, dialogs_are_errors: bool = False
) -> Iterator[Any]:
    """A fresh browser's page on ``base_url``; its ``errors`` list collects page errors (and, with
    ``dialogs_are_errors``, any dialog that opens). Closed after the block."""
    chromium = shutil.which("chromium")
    need(chromium is not None, "Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        context = browser.new_context(base_url=base_url, viewport={"width": width, "height": height})
        p = context.new_page()
        errors: list[str] = []
        p.on("pageerror", lambda e: errors.append(str(e)))
        if dialogs_are_errors:
            p.on("dialog", lambda d: errors.append(f"unexpected dialog: {d.message}"))
        p.errors = errors
        try:
            yield p
        finally:
            context.close()
            browser.close()
