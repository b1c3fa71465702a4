"""The run page of a training, in headless Chromium through the real hub: while it runs, progress
as a bar with step / total and an ETA and a log without progress JSON kept at its newest line;
once done, the test period labelled, formatted metrics, monthly returns, training curves and trades
with their realised P&L, all within a 1400 px window. Screenshots go to ``test-output/screenshots/``."""

from __future__ import annotations

import re
import time

import pytest
import requests

from tests.e2e.conftest import ADMIN_PASSWORD, Hub, admin_session, api_token
from tests.e2e.test_browser import page, shot  # noqa: F401  (page: the shared Chromium fixture)

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]

TRAIN = {
    "data": {"provider": "sample", "dataset": "dow29", "symbols": ["AAPL", "KO", "XOM"]},
    "env": {"window": 8, "episode_bars": 64},
    "ppo": {
        "total_timesteps": 1536,
        "n_envs": 1,
        "n_steps": 128,
        "batch_size": 64,
        "n_epochs": 1,
        "net_arch": [16, 16],
    },
    "eval": {"every_steps": 256, "patience": None},
}
PERCENT = re.compile(r"^-?[\d,]+\.\d\d%$")
MONEY = re.compile(r"^-?\$[\d,]+\.\d\d$")
MONTH = re.compile(r"^-?[\d,]+\.\d%$")
WIDTH = 1400


def _log_in(p: object) -> None:
    p.goto("/hub/login")  # type: ignore[attr-defined]
    p.fill("#username_input", "admin")  # type: ignore[attr-defined]
    p.fill("#password_input", ADMIN_PASSWORD)  # type: ignore[attr-defined]
    p.click("#login_submit")  # type: ignore[attr-defined]
    p.wait_for_url("**/services/stockbot/dashboard", timeout=60_000)  # type: ignore[attr-defined]


def _cells(p: object, css: str) -> list[str]:
    return [c.strip() for c in p.locator(f"{css} .tabulator-cell").all_inner_texts()]  # type: ignore[attr-defined]


def _text(p: object, css: str) -> str:
    """The text a pane shows: Bokeh renders a pane's content in its element's shadow root."""
    return str(
        p.locator(css).first.evaluate(  # type: ignore[attr-defined]
            """el => el.shadowRoot
                ? Array.from(el.shadowRoot.children).filter(c => !['STYLE', 'LINK'].includes(c.tagName))
                    .map(c => c.innerText).join(' ')
                : el.innerText"""
        )
    ).strip()


def _page_width(p: object) -> int:
    return int(p.evaluate("document.documentElement.scrollWidth"))  # type: ignore[attr-defined]


def test_a_training_run_page_reads_like_a_trading_tool(page: object, hub: Hub) -> None:  # noqa: F811
    p = page
    _log_in(p)
    admin = admin_session(hub)
    token = api_token(hub, admin, "admin")
    r = requests.post(
        f"{hub.url}/services/stockbot/api/stockbot/train",
        json=TRAIN,
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    run_id = r.json()["run_id"]
    p.goto(f"/services/stockbot/runs/{run_id}")  # type: ignore[attr-defined]

    # while it runs: a bar with step / total, elapsed and ETA; the log without progress JSON
    p.wait_for_selector(".stockbot-run-status", timeout=60_000)  # type: ignore[attr-defined]
    status = p.locator(".stockbot-run-status")  # type: ignore[attr-defined]
    message = p.locator(".stockbot-run-progress-message")  # type: ignore[attr-defined]
    seen_running = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = status.get_attribute("data-status")
        if state not in ("queued", "running"):
            break
        text = _text(p, ".stockbot-run-progress-message") if message.count() else ""
        if state == "running" and re.search(r"step [\d,]+ of 1,536 \(\d+%\)", text):
            seen_running = True
            timing = _text(p, ".stockbot-run-timing")
            assert timing.startswith("elapsed "), timing
            shot(p, "06-run-page-running")  # a live training opens on its curves
            p.locator(".stockbot-run-tabs").get_by_text("Log", exact=True).click()  # type: ignore[attr-defined]
            live_log = p.locator(".stockbot-log").inner_text(timeout=30_000)  # type: ignore[attr-defined]
            assert "STOCKBOT_PROGRESS" not in live_log, live_log[-2000:]
            break
        p.wait_for_timeout(250)  # type: ignore[attr-defined]
    print("progress seen while running:", seen_running)

    p.wait_for_selector(".stockbot-run-status[data-status=succeeded]", timeout=300_000)  # type: ignore[attr-defined]
    p.locator(".stockbot-run-tabs").get_by_text("Log", exact=True).click()  # type: ignore[attr-defined]
    p.wait_for_selector(".stockbot-log", timeout=30_000)  # type: ignore[attr-defined]
    log_text = p.locator(".stockbot-log").inner_text()  # type: ignore[attr-defined]
    assert log_text.strip() and "STOCKBOT_PROGRESS" not in log_text, log_text[-2000:]
    # the newest line is in view: the box is scrolled to its end (column-reverse: scrollTop 0)
    at_end = p.locator(".stockbot-log-box").evaluate(  # type: ignore[attr-defined]
        """box => {
            const pre = box.querySelector('.stockbot-log');
            const b = box.getBoundingClientRect(), q = pre.getBoundingClientRect();
            return {overflows: box.scrollHeight > box.clientHeight, gap: Math.abs(q.bottom - b.bottom),
                    top: box.scrollTop};
        }"""
    )
    assert at_end["gap"] < 4 and abs(at_end["top"]) < 2, at_end

    # results: the test period labelled, formatted metrics, monthly returns
    p.locator(".stockbot-run-tabs").get_by_text("Results", exact=True).click()  # type: ignore[attr-defined]
    p.wait_for_selector(".stockbot-equity-chart canvas", timeout=60_000)  # type: ignore[attr-defined]
    p.wait_for_timeout(1000)  # type: ignore[attr-defined]  # let Bokeh finish laying the plots out
    note = _text(p, ".stockbot-period-note")
    assert note.startswith("Test period: ") and "out of sample" in note, note
    cells = _cells(p, ".stockbot-metrics-table")
    assert {"Total return", "Sharpe", "Max drawdown", "Fees paid", "Trades"} <= set(cells), cells
    row = cells.index("Total return")
    assert PERCENT.match(cells[row + 1]) and PERCENT.match(cells[row + 2]), cells
    fees = cells.index("Fees paid")
    assert MONEY.match(cells[fees + 1]), cells
    assert not [c for c in cells if "e+" in c or "e-" in c or c.lower() == "nan"], cells
    monthly = p.locator(".stockbot-monthly-returns .stockbot-month").all_inner_texts()  # type: ignore[attr-defined]
    assert monthly and all(MONTH.match(c.strip()) or c.strip() == "—" for c in monthly), monthly
    assert _page_width(p) <= WIDTH
    shot(p, "07-run-page-results")

    # training curves from the run's own eval.csv and tb/
    p.locator(".stockbot-run-tabs").get_by_text("Training", exact=True).click()  # type: ignore[attr-defined]
    for css in (
        "stockbot-training-validation",
        "stockbot-training-episode",
        "stockbot-training-losses",
        "stockbot-training-entropy",
    ):
        p.wait_for_selector(f".{css} canvas", timeout=60_000)  # type: ignore[attr-defined]
    p.wait_for_timeout(1000)  # type: ignore[attr-defined]
    box = p.locator(".stockbot-training-losses").first.bounding_box()  # type: ignore[attr-defined]
    assert box is not None and box["width"] > 400 and box["height"] > 100, box
    assert _page_width(p) <= WIDTH
    shot(p, "08-run-page-training-curves")

    # trades with readable headers and money, each sell with its realised P&L
    p.locator(".stockbot-run-tabs").get_by_text("Trades", exact=True).click()  # type: ignore[attr-defined]
    p.wait_for_selector('.stockbot-trades-table .tabulator-cell[tabulator-field="price"]', timeout=60_000)  # type: ignore[attr-defined]
    headers = p.locator(".stockbot-trades-table .tabulator-col-title").all_inner_texts()  # type: ignore[attr-defined]
    assert {"Time", "Decided", "Quantity", "Price", "Realised P&L"} <= {h.strip() for h in headers}, headers
    prices = p.locator('.stockbot-trades-table .tabulator-cell[tabulator-field="price"]').all_inner_texts()  # type: ignore[attr-defined]
    assert prices and all(MONEY.match(c.strip()) for c in prices), prices
    pnl = p.locator(
        '.stockbot-trades-table .tabulator-cell[tabulator-field="realized_pnl"]'
    ).all_inner_texts()  # type: ignore[attr-defined]
    assert pnl and all(MONEY.match(c.strip()) or c.strip() == "—" for c in pnl), pnl
    times = p.locator('.stockbot-trades-table .tabulator-cell[tabulator-field="timestamp"]').all_inner_texts()  # type: ignore[attr-defined]
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\d", t.strip()) for t in times), times
    assert _page_width(p) <= WIDTH
    shot(p, "09-run-page-trades")
    assert not p.errors, p.errors  # type: ignore[attr-defined]
