"""``/live`` in headless Chromium through the real hub: start a paper session of a trained run from
the page, watch orders, fills and equity appear as it replays, press the kill switch (armed by
typing KILL) and see it flat and halted, then stop it. Screenshots go to
``test-output/screenshots/``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from tests.e2e.conftest import Hub
from tests.e2e.test_browser import page, shot  # noqa: F401  (page: the shared Chromium fixture)
from tests.e2e.test_browser_run_page import _cells, _log_in, _page_width, _text
from tests.e2e.test_live_api import hub_store
from tests.live.helpers import register_trained_run

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

WIDTH = 1400


def _status(p: object) -> dict[str, str]:
    el = p.locator(".stockbot-live-status").first  # type: ignore[attr-defined]
    return {"status": el.get_attribute("data-status"), "risk": el.get_attribute("data-risk")}


def _until(p: object, check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            shot(p, "2x-live-timeout")
            raise AssertionError(f"timed out waiting: {what}")
        p.wait_for_timeout(250)  # type: ignore[attr-defined]


def test_start_a_paper_session_watch_it_trade_and_kill_it(page: object, hub: Hub) -> None:  # noqa: F811
    p = page
    _log_in(p)
    with hub_store(hub) as runs:
        run_id = register_trained_run(runs, "admin")
    p.goto("/services/stockbot/live")  # type: ignore[attr-defined]
    p.wait_for_selector(".stockbot-live-run select", timeout=60_000)  # type: ignore[attr-defined]
    labels = p.locator(".stockbot-live-run select option").all_inner_texts()  # type: ignore[attr-defined]
    label = next(t for t in labels if run_id in t)
    p.select_option(".stockbot-live-run select", label=label)  # type: ignore[attr-defined]
    p.fill(".stockbot-live-from input", "2017-04-03")  # type: ignore[attr-defined]
    p.fill(".stockbot-live-to input", "2017-12-06")  # type: ignore[attr-defined]
    p.fill(".stockbot-live-speed input", "3")  # type: ignore[attr-defined]
    p.fill(".stockbot-live-name input", "browser replay")  # type: ignore[attr-defined]
    p.press(".stockbot-live-name input", "Tab")  # type: ignore[attr-defined]
    shot(p, "20-live-start-form")
    p.click(".stockbot-live-start-button button")  # type: ignore[attr-defined]
    try:
        p.wait_for_selector(".stockbot-live-status[data-status=running]", timeout=60_000)  # type: ignore[attr-defined]
    except Exception:
        shot(p, "20-live-start-failed")
        raise AssertionError(_text(p, ".stockbot-live-errors") + hub.log.read_text()[-3000:]) from None
    assert p.get_attribute(".stockbot-live-badge", "data-mode") == "PAPER"  # type: ignore[attr-defined]
    assert re.search(r"[?&]session=live-\d{8}-\d{6}-[0-9a-f]{4}", p.url)  # type: ignore[attr-defined]

    # it trades: orders with their timeline, fills, an equity curve against shadow and buy & hold
    p.wait_for_selector('.stockbot-live-orders .tabulator-cell[tabulator-field="status"]', timeout=60_000)  # type: ignore[attr-defined]
    try:
        p.wait_for_selector(".stockbot-live-equity canvas", timeout=60_000)  # type: ignore[attr-defined]
    except Exception:
        shot(p, "21-live-no-chart")
        raise
    rows = p.locator(".stockbot-live-orders .tabulator-row")  # type: ignore[attr-defined]
    _until(p, lambda: rows.count() >= 8, "several bars in, the orders table has grown")
    p.wait_for_timeout(1000)  # type: ignore[attr-defined]  # let Bokeh lay the charts out
    orders = _cells(p, ".stockbot-live-orders")
    assert any("intent" in c and "submitted" in c and "accepted" in c for c in orders), orders[:20]
    assert any(c in ("filled", "accepted") for c in orders), orders[:20]
    account = _cells(p, ".stockbot-live-account")
    assert {"Equity", "Cash", "Day P&L", "Total P&L", "Drawdown", "Gross exposure"} <= set(account), account
    equity = account[account.index("Equity") + 1]
    assert re.match(r"^\$[\d,]+\.\d\d$", equity), equity
    assert "Bar " in _text(p, ".stockbot-live-decision")
    assert _page_width(p) <= WIDTH
    shot(p, "21-live-trading")

    # the kill switch needs the typed word; then it cancels, flattens at the next open and halts
    p.click(".stockbot-live-kill button")  # type: ignore[attr-defined]
    _until(p, lambda: "Type KILL" in _text(p, ".stockbot-live-message"), "the kill switch asks for KILL")
    assert _status(p)["risk"] != "halted"
    p.fill(".stockbot-live-kill-confirm input", "KILL")  # type: ignore[attr-defined]
    p.click(".stockbot-live-kill button")  # type: ignore[attr-defined]
    p.wait_for_selector(".stockbot-live-status[data-risk=halted]", timeout=60_000)  # type: ignore[attr-defined]

    def flat() -> bool:
        cells = _cells(p, ".stockbot-live-account")
        return "Gross exposure" in cells and cells[cells.index("Gross exposure") + 1] == "0.00%"

    _until(p, flat, "flat once the kill orders filled at the next open")
    held = p.locator('.stockbot-live-positions .tabulator-cell[tabulator-field="quantity"]')  # type: ignore[attr-defined]
    quantities = [q.strip() for q in held.all_inner_texts()]
    assert quantities and set(quantities) == {"0"}, quantities
    p.locator(".stockbot-live-tabs").get_by_text("Events", exact=True).click()  # type: ignore[attr-defined]
    p.wait_for_selector(".stockbot-live-events", timeout=30_000)  # type: ignore[attr-defined]
    assert "kill switch" in p.locator(".stockbot-live-events").inner_text()  # type: ignore[attr-defined]
    shot(p, "22-live-killed")

    p.click(".stockbot-live-stop button")  # type: ignore[attr-defined]
    p.wait_for_selector(".stockbot-live-status[data-status=stopped]", timeout=60_000)  # type: ignore[attr-defined]
    assert _status(p)["risk"] == "halted"
    p.wait_for_selector(".stockbot-live-ended", timeout=30_000)  # type: ignore[attr-defined]
    assert p.locator(".stockbot-live-kill button").is_disabled()  # type: ignore[attr-defined]
    shot(p, "23-live-stopped")
    assert not p.errors, p.errors  # type: ignore[attr-defined]
