"""The training and backtest forms in headless Chromium at 1400x900, through the real hub: a date
typed and one picked inside the dataset's coverage (shown next to the field), the dataset shown,
the expected duration beside the budget and the Submit button before submitting, the in-sample
warning on a backtest, and no page wider than the window. Screenshots go to
``test-output/screenshots/``."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.e2e.browser import SHOTS, chromium_page
from tests.e2e.conftest import ADMIN_PASSWORD, Hub

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

DOW29 = Path(__file__).parents[2] / "stockbot" / "data" / "sample" / "dow29.csv.gz"
WIDTH, HEIGHT = 1400, 900
TRAINED_ID = "20261101-120000-train-0f0f"
TRAINED = {
    "data": {"dataset": "dow29", "symbols": ["AAPL", "KO"], "start": "2013-03-01", "end": "2017-12-06"},
    "split": {"train_end": "2016-06-30", "val_end": "2017-03-31"},
}


@pytest.fixture(scope="module")
def page(hub: Hub) -> Iterator[Any]:
    with chromium_page(hub.url, WIDTH, HEIGHT) as p:
        p.goto("/hub/login")
        p.fill("#username_input", "admin")
        p.fill("#password_input", ADMIN_PASSWORD)
        p.click("#login_submit")
        p.wait_for_url("**/services/stockbot/dashboard", timeout=60_000)
        yield p


@pytest.fixture(scope="module")
def trained_run(hub: Hub) -> str:
    """A succeeded train run of the admin's, as the executor leaves its document (the form reads
    only the document; no training is needed to test the warning)."""
    from stockbot.config import TrainConfig, to_plain, validate_config
    from stockbot.store import RunStore, ensure_store
    from stockbot.store.db import close_all

    saved = os.environ.get("STOCKBOT_HOME")
    os.environ["STOCKBOT_HOME"] = str(hub.home)
    try:
        ensure_store(hub.home)  # the service's own store (started on demand, by whoever is first)
        t = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
        RunStore().create(
            {
                "_id": TRAINED_ID,
                "kind": "train",
                "owner": "admin",
                "status": "succeeded",
                "created_at": t,
                "started_at": t,
                "finished_at": t + dt.timedelta(minutes=2),
                "heartbeat_at": t,
                "config": to_plain(validate_config(TrainConfig, TRAINED)),
                "parent": None,
                "progress": {"step": 8192, "total": 8192, "message": "succeeded"},
                "metrics": {"sharpe": 0.8},
                "error": None,
                "cancel_requested_at": None,
                "executor": None,
            }
        )
    finally:
        close_all()
        if saved is None:
            os.environ.pop("STOCKBOT_HOME", None)
        else:
            os.environ["STOCKBOT_HOME"] = saved
    return TRAINED_ID


def shot(p: Any, name: str) -> None:
    p.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def open_step(p: Any, title: str) -> None:
    p.locator(".stockbot-form-steps .bk-tab", has_text=title).click()


def assert_fits(p: Any, where: str) -> None:
    width = p.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{where} is {width} px wide in a {WIDTH} px window"


def dow29_coverage() -> str:
    frame = pd.read_csv(DOW29, usecols=["date", "tic"])
    days = pd.to_datetime(frame["date"])
    return f"dow29: {days.min().date()} … {days.max().date()}, {frame['tic'].nunique()} symbols"


def test_training_form_dates_coverage_and_estimate(page: Any) -> None:
    from playwright.sync_api import expect

    p = page
    p.goto("/services/stockbot/training/new")
    try:
        p.wait_for_selector(".stockbot-field-data-dataset select", timeout=60_000)
    except Exception:
        shot(p, "10-training-form-failed")
        raise
    # the dataset in use is shown, not the empty choice
    chosen = p.eval_on_selector(".stockbot-field-data-dataset select", "e => e.options[e.selectedIndex].text")
    assert chosen == "dow29"
    expect(p.locator(".stockbot-data-coverage")).to_have_text(dow29_coverage(), timeout=15_000)
    # the default budget's duration is on the page before anything is submitted
    estimate = p.locator(".stockbot-estimate")
    expect(estimate).to_contain_text("Budget: 200,000 timesteps ≈", timeout=15_000)
    expect(estimate).to_contain_text("on this machine")
    assert_fits(p, "/training/new (Data)")

    start = p.locator(".stockbot-field-data-start input")
    start.fill("2013/03/01")
    start.press("Enter")
    expect(p.locator(".stockbot-form-errors")).to_contain_text(
        "'2013/03/01' is not a date: type it as YYYY-MM-DD", timeout=15_000
    )
    start.fill("2013-03-01")
    start.press("Enter")
    preview = p.locator(".stockbot-yaml-preview")
    expect(preview).to_contain_text("start: 2013-03-01", timeout=15_000)
    p.wait_for_selector(".stockbot-form-valid", timeout=15_000)

    # the end date's picker opens on the last month of the data, later days not selectable
    p.locator(".stockbot-field-data-end-picker input:visible").click()
    calendar = p.locator(".stockbot-field-data-end-picker .flatpickr-calendar.open")
    expect(calendar).to_be_visible(timeout=10_000)
    month = calendar.locator(".flatpickr-monthDropdown-months option:checked").inner_text()
    year = calendar.locator(".cur-year").input_value()
    assert (month, year) == ("December", "2017")
    assert "flatpickr-disabled" in (
        calendar.locator(".flatpickr-day[aria-label='December 7, 2017']").get_attribute("class") or ""
    )
    shot(p, "10-training-form-date-picker")
    calendar.locator(".flatpickr-day[aria-label='December 1, 2017']").click()
    expect(preview).to_contain_text("end: 2017-12-01", timeout=15_000)
    assert p.locator(".stockbot-field-data-end input").first.input_value() == "2017-12-01"

    # a smaller budget: its estimate follows, beside the field and beside Submit
    open_step(p, "Training")
    budget = p.locator(".stockbot-field-ppo-total-timesteps input")
    budget.fill("20000")
    budget.press("Enter")
    expect(estimate).to_contain_text("Budget: 20,000 timesteps ≈", timeout=15_000)
    expect(p.locator(".stockbot-budget-estimate")).to_contain_text("on this machine")
    shot(p, "11-training-form-estimate")
    for tab in ("Features", "Environment", "Training", "Data"):
        open_step(p, tab)
        p.wait_for_timeout(300)
        assert_fits(p, f"/training/new ({tab})")
    assert p.locator("a.stockbot-submitted").count() == 0  # nothing was submitted
    assert not p.errors, p.errors


def test_backtest_form_warns_of_an_in_sample_period(page: Any, trained_run: str) -> None:
    from playwright.sync_api import expect

    p = page
    p.goto(f"/services/stockbot/backtest/new?run_id={trained_run}")
    p.wait_for_selector(".stockbot-field-policy-run-id select", timeout=60_000)
    expect(p.locator(".stockbot-yaml-preview")).to_contain_text(trained_run, timeout=15_000)
    assert p.locator(".stockbot-in-sample").count() == 0  # its own test period: out of sample
    assert_fits(p, "/backtest/new (Policy)")
    open_step(p, "Test period")
    expect(p.locator(".stockbot-data-coverage")).to_have_text(dow29_coverage(), timeout=15_000)
    start = p.locator(".stockbot-field-data-start input")
    start.fill("2016-01-04")
    start.press("Enter")
    warning = p.locator(".stockbot-in-sample")
    expect(warning).to_contain_text(
        "in-sample: these dates overlap the policy's training period (2013-03-01 … 2016-06-30)",
        timeout=15_000,
    )
    expect(warning).to_be_visible()
    shot(p, "12-backtest-form-in-sample")
    assert_fits(p, "/backtest/new (Test period)")
    start.fill("2017-04-03")
    start.press("Enter")
    expect(warning).to_have_count(0, timeout=15_000)
    open_step(p, "Costs")
    p.wait_for_timeout(300)
    assert_fits(p, "/backtest/new (Costs)")
    assert not p.errors, p.errors
