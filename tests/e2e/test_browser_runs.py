"""A new user in headless Chromium: the empty dashboard's getting-started panel trains a first policy
in one click and backtests it, then the user renames, archives, restores and deletes runs from the
list (delete only after its confirmation). Screenshots go to ``test-output/screenshots/``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.browser import SHOTS, chromium_page
from tests.e2e.conftest import Hub, admin_session, new_user

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

USER, PASSWORD = "gina", "gina has a long password 5"
STEP = ".stockbot-gs-status [data-step={}]"


@pytest.fixture(scope="module")
def page(hub: Hub) -> Iterator[Any]:
    new_user(hub, admin_session(hub), USER, PASSWORD)
    with chromium_page(hub.url, dialogs_are_errors=True) as p:
        yield p


def shot(p: Any, name: str) -> None:
    p.screenshot(path=str(SHOTS / f"runs-{name}.png"), full_page=True)


def fits_the_window(p: Any) -> None:
    width = p.evaluate("document.documentElement.scrollWidth")
    assert width <= 1400, f"the page is {width} px wide in a 1400 px window"


def row(p: Any, run_id: str) -> Any:
    return p.locator(".stockbot-runs-table .tabulator-row", has_text=run_id)


def tick(p: Any, run_id: str) -> None:
    """Tick only this run's row (ticks stay across actions and refreshes, as the page keeps them)."""
    for other in p.locator(".stockbot-runs-table .tabulator-row.tabulator-selected").all():
        if run_id not in other.inner_text():
            other.locator("input[type=checkbox]").first.click()
    target = row(p, run_id)
    if "tabulator-selected" not in (target.get_attribute("class") or ""):
        target.locator("input[type=checkbox]").first.click()
    from playwright.sync_api import expect

    expect(target).to_have_class(re.compile(r"\btabulator-selected\b"), timeout=15_000)
    expect(p.locator(".stockbot-runs-table .tabulator-row.tabulator-selected")).to_have_count(
        1, timeout=15_000
    )


def api(hub: Hub, run_id: str) -> dict[str, Any]:
    """The run as the platform's store has it (read as the admin, through the service)."""
    s = admin_session(hub)
    s.get(f"{hub.url}/services/stockbot/dashboard", timeout=30)  # the service's OAuth round trip
    r = s.get(f"{hub.url}/services/stockbot/api/runs/{run_id}", timeout=10)
    return {"status_code": r.status_code, **(r.json() if r.status_code == 200 else {})}


def test_getting_started_trains_then_backtests(page: Any, hub: Hub) -> None:
    p = page
    p.goto("/hub/login")
    p.fill("#username_input", USER)
    p.fill("#password_input", PASSWORD)
    p.click("#login_submit")
    p.wait_for_url("**/services/stockbot/dashboard", timeout=60_000)
    p.wait_for_selector(".stockbot-getting-started .stockbot-gs-train button", timeout=60_000)
    shot(p, "01-empty-account")
    fits_the_window(p)
    t0 = time.monotonic()
    p.click(".stockbot-gs-train button")
    p.wait_for_selector(STEP.format("training"), timeout=30_000)
    link = p.wait_for_selector("a.stockbot-gs-train-link", timeout=30_000)
    train_id = link.get_attribute("href").rstrip("/").rsplit("/", 1)[-1]
    assert "-train-" in train_id
    row(p, train_id).wait_for(timeout=30_000)  # the new run is in the table at once
    try:
        p.wait_for_selector(STEP.format("trained"), timeout=240_000)
    except Exception:
        shot(p, "02-training-not-done")
        raise AssertionError(f"{api(hub, train_id)}\n{hub.log.read_text()[-3000:]}") from None
    trained_in = time.monotonic() - t0
    shot(p, "02-trained")
    assert trained_in < 240, trained_in
    p.click(".stockbot-gs-backtest button")
    p.wait_for_selector(STEP.format("done"), timeout=30_000)
    bt_href = p.get_attribute("a.stockbot-gs-backtest-link", "href")
    bt_id = bt_href.rstrip("/").rsplit("/", 1)[-1]
    assert "-backtest-" in bt_id
    deadline = time.monotonic() + 180
    while api(hub, bt_id).get("status") not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, api(hub, bt_id)
        time.sleep(2)
    doc = api(hub, bt_id)
    assert doc["status"] == "succeeded" and doc["owner"] == USER and doc["parent"] == train_id, doc
    row(p, bt_id).get_by_text("succeeded").wait_for(timeout=30_000)
    shot(p, "03-backtest-listed")
    print(f"first training in the browser: {trained_in:.0f} s from click to trained")
    assert not p.errors, p.errors


def test_rename_archive_restore_and_delete_with_a_confirmation(page: Any, hub: Hub) -> None:
    p = page
    p.goto("/services/stockbot/dashboard")
    p.wait_for_selector(".stockbot-runs-table .tabulator-row", timeout=60_000)
    ids = [
        t.strip()
        for t in p.locator(
            ".stockbot-runs-table .tabulator-row .tabulator-cell[tabulator-field=Run]"
        ).all_inner_texts()
    ]
    train_id = next(i for i in ids if "-train-" in i)
    bt_id = next(i for i in ids if "-backtest-" in i)
    assert not p.locator(".stockbot-getting-started").is_visible()  # the user has runs now

    # rename the backtest and tag it, in the small dialog
    tick(p, bt_id)
    p.click(".stockbot-run-edit button")
    p.wait_for_selector(".stockbot-edit-dialog .stockbot-edit-name input", timeout=15_000)
    p.fill(".stockbot-edit-name input", "first look (b&h) .*")
    p.fill(".stockbot-edit-tags input", "first, aapl")
    p.locator(".stockbot-edit-tags input").press("Enter")
    p.locator(".stockbot-edit-name input").press("Enter")
    shot(p, "04-edit-dialog")
    p.click(".stockbot-edit-save button")
    row(p, bt_id).get_by_text("first look (b&h) .*").wait_for(timeout=15_000)
    name_link = row(p, bt_id).locator("a", has_text="first look")
    assert name_link.get_attribute("href").endswith(f"/services/stockbot/runs/{bt_id}")
    # a literal search: the regex characters are characters
    p.fill(".stockbot-runs-search input", ".*")
    p.locator(".stockbot-runs-search input").press("Enter")
    row(p, train_id).wait_for(state="detached", timeout=15_000)
    assert row(p, bt_id).count() == 1
    p.fill(".stockbot-runs-search input", "")
    p.locator(".stockbot-runs-search input").press("Enter")
    row(p, train_id).wait_for(timeout=15_000)

    # archive: gone from the list, shown by the archived filter, still on disk
    tick(p, bt_id)
    p.click(".stockbot-run-archive button")
    row(p, bt_id).wait_for(state="detached", timeout=15_000)
    p.select_option(".stockbot-filter-archived select", "archived")
    row(p, bt_id).wait_for(timeout=15_000)
    shot(p, "05-archived")
    assert (hub.home / "runs" / bt_id / "equity.csv").is_file()

    # the trained run cannot be deleted while its backtest exists: the page says why
    p.select_option(".stockbot-filter-archived select", "all")
    row(p, train_id).wait_for(timeout=15_000)
    tick(p, train_id)
    p.click(".stockbot-run-delete button")
    p.wait_for_selector(".stockbot-delete-confirm .stockbot-delete-yes button", timeout=15_000)
    p.click(".stockbot-delete-yes button")
    p.wait_for_selector(".stockbot-runs-message:has-text('built on it')", timeout=15_000)
    assert (hub.home / "runs" / train_id).is_dir()

    # delete the backtest, then the trained run: each after its confirmation
    for run_id in (bt_id, train_id):
        p.reload()
        p.wait_for_selector(".stockbot-runs-table .tabulator-row", timeout=60_000)
        p.select_option(".stockbot-filter-archived select", "all")
        row(p, run_id).wait_for(timeout=15_000)
        tick(p, run_id)
        p.click(".stockbot-run-delete button")
        # the question names the runs (Panel's panes keep their text in a shadow root: has-text)
        p.wait_for_selector(f".stockbot-delete-question:has-text('{run_id}')", timeout=15_000)
        p.wait_for_selector(".stockbot-delete-question:has-text('cannot be undone')", timeout=15_000)
        if run_id == bt_id:
            shot(p, "06-delete-confirmation")
            p.click(".stockbot-delete-no button")  # keep it, this once
            p.wait_for_selector(".stockbot-delete-question", state="hidden", timeout=15_000)
            assert (hub.home / "runs" / run_id).is_dir()
            p.click(".stockbot-run-delete button")
        p.click(".stockbot-delete-yes button")
        row(p, run_id).wait_for(state="detached", timeout=15_000)
        assert not (hub.home / "runs" / run_id).exists()
        assert api(hub, run_id)["status_code"] == 404
    shot(p, "07-deleted")
    fits_the_window(p)
    assert requests.get(f"{hub.url}/hub/api", timeout=10).status_code == 200
    assert not p.errors, p.errors
