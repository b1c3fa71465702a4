"""A person in headless Chromium (Debian's ``chromium``, driven by Playwright): log in through the
hub's form, open the dashboard, submit a backtest from the form, and watch it finish on the run page
with its chart. Screenshots go to ``test-output/screenshots/``."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.browser import SHOTS, chromium_page
from tests.e2e.conftest import ADMIN_PASSWORD, Hub

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


@pytest.fixture(scope="module")
def page(hub: Hub) -> Iterator[object]:
    with chromium_page(hub.url) as p:
        yield p


def shot(page: object, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_log_in_and_open_the_dashboard(page: object, hub: Hub) -> None:
    p = page
    p.goto("/hub/login")  # type: ignore[attr-defined]
    p.fill("#username_input", "admin")  # type: ignore[attr-defined]
    p.fill("#password_input", ADMIN_PASSWORD)  # type: ignore[attr-defined]
    p.click("#login_submit")  # type: ignore[attr-defined]
    # people land on their dashboard, through the service's OAuth round trip (no prompt)
    p.wait_for_url("**/services/stockbot/dashboard", timeout=60_000)  # type: ignore[attr-defined]
    p.wait_for_selector(".stockbot-runs-table", timeout=60_000)  # type: ignore[attr-defined]
    assert p.inner_text(".stockbot-user").strip() == "admin (admin)"  # type: ignore[attr-defined]
    shot(p, "01-dashboard")
    assert p.get_attribute("a.stockbot-logout", "href") == "/hub/logout"  # type: ignore[attr-defined]


def test_submit_a_backtest_and_see_it_finish_with_its_chart(page: object, hub: Hub) -> None:
    p = page
    p.goto("/services/stockbot/backtest/new")  # type: ignore[attr-defined]
    p.wait_for_selector(".stockbot-field-policy-type select", timeout=60_000)  # type: ignore[attr-defined]
    p.select_option(".stockbot-field-policy-type select", "buy_and_hold")  # type: ignore[attr-defined]
    p.wait_for_selector(".stockbot-form-valid", timeout=30_000)  # type: ignore[attr-defined]
    # the form may have been valid already (another test's trained run is its default policy):
    # the preview follows the choice within a round trip
    deadline = time.monotonic() + 30
    while "buy_and_hold" not in (preview := p.inner_text(".stockbot-yaml-preview")):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, preview
        p.wait_for_timeout(200)  # type: ignore[attr-defined]
    p.wait_for_selector(".stockbot-form-valid", timeout=30_000)  # type: ignore[attr-defined]
    shot(p, "02-backtest-form")
    p.click(".stockbot-submit button")  # type: ignore[attr-defined]
    try:
        link = p.wait_for_selector("a.stockbot-submitted", timeout=30_000)  # type: ignore[attr-defined]
    except Exception:
        shot(p, "02-backtest-submit-failed")
        raise AssertionError(hub.log.read_text()[-3000:]) from None
    href = link.get_attribute("href")
    assert "/services/stockbot/runs/" in href and "-backtest-" in href, href
    run_id = href.rstrip("/").rsplit("/", 1)[-1]
    link.click()
    p.wait_for_url(f"**/runs/{run_id}", timeout=30_000)  # type: ignore[attr-defined]
    p.wait_for_selector(  # type: ignore[attr-defined]
        ".stockbot-run-status[data-status=succeeded]", timeout=180_000
    )
    try:
        p.wait_for_selector(".stockbot-equity-chart canvas", timeout=60_000)  # type: ignore[attr-defined]
    except Exception:
        shot(p, "03-run-no-chart")
        raise
    p.wait_for_timeout(1000)  # type: ignore[attr-defined]  # let Bokeh finish laying the plot out
    box = p.locator(".stockbot-equity-chart").first.bounding_box()  # type: ignore[attr-defined]
    assert box is not None and box["width"] > 200 and box["height"] > 100, box
    cells = p.locator(".stockbot-metrics-table .tabulator-cell").all_inner_texts()  # type: ignore[attr-defined]
    assert "sharpe" in [c.strip().lower() for c in cells], cells
    shot(p, "03-run-succeeded")
    # the run is the logged-in user's, on the page and on disk
    assert p.locator(".stockbot-run-owner").inner_text() == "admin"  # type: ignore[attr-defined]
    assert (hub.home / "runs" / run_id / "equity.csv").is_file()
    assert not p.errors, p.errors  # type: ignore[attr-defined]


def test_train_from_the_form_then_see_its_results(page: object, hub: Hub) -> None:
    """A person's first training: the form's defaults, a tiny budget typed in, submitted, followed."""
    p = page
    p.goto("/services/stockbot/training/new")  # type: ignore[attr-defined]
    p.wait_for_selector(".stockbot-form-steps", timeout=60_000)  # type: ignore[attr-defined]
    p.locator(".stockbot-form-steps").get_by_text("Training").click()  # type: ignore[attr-defined]
    for field, value in (
        ("total-timesteps", "1024"),
        ("n-envs", "1"),
        ("n-steps", "256"),
        ("batch-size", "64"),
    ):
        box = p.locator(f".stockbot-field-ppo-{field} input")  # type: ignore[attr-defined]
        box.fill(value)
        box.press("Enter")
    from playwright.sync_api import expect

    preview = p.locator(".stockbot-yaml-preview")  # type: ignore[attr-defined]
    for text in ("total_timesteps: 1024", "n_envs: 1", "n_steps: 256", "batch_size: 64"):
        expect(preview).to_contain_text(text, timeout=15_000)
    p.wait_for_selector(".stockbot-form-valid", timeout=30_000)  # type: ignore[attr-defined]
    shot(p, "04-training-form")
    p.click(".stockbot-submit button")  # type: ignore[attr-defined]
    link = p.wait_for_selector("a.stockbot-submitted", timeout=30_000)  # type: ignore[attr-defined]
    run_id = link.get_attribute("href").rstrip("/").rsplit("/", 1)[-1]
    assert "-train-" in run_id
    link.click()
    p.wait_for_selector(".stockbot-run-status[data-status=succeeded]", timeout=240_000)  # type: ignore[attr-defined]
    p.wait_for_selector(".stockbot-equity-chart canvas", timeout=60_000)  # type: ignore[attr-defined]
    shot(p, "05-training-succeeded")
    config = (hub.home / "runs" / run_id / "config.yaml").read_text()
    assert "total_timesteps: 1024" in config and "n_envs: 1" in config
    assert (hub.home / "runs" / run_id / "policy.zip").is_file()
    assert not p.errors, p.errors  # type: ignore[attr-defined]
