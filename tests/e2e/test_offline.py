"""Charts with the internet cut off: headless Chromium (Debian's ``chromium`` through Playwright)
where every request to a host other than 127.0.0.1/localhost is aborted and recorded, through the
real hub. The run's report (served by the service, downloaded, and in the run's zip) and the Voila
dashboard in the user's own server must draw their Bokeh chart: its canvas has drawn pixels.
Screenshots go to ``test-output/screenshots/``."""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from tests.conftest import need
from tests.e2e.browser import ARGS, SHOTS
from tests.e2e.conftest import Hub, admin_session, api_token, new_user

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

USER = "olive"
PASSWORD = "olive has a long password 7"
BACKTEST = {
    "data": {"provider": "sample", "dataset": "dow29", "symbols": ["KO", "PG"], "start": "2017-06-01"},
    "policy": {"type": "buy_and_hold"},
}
LOCAL = {"127.0.0.1", "localhost"}
# The number of drawn (non-white, non-transparent) pixels of the fullest canvas on the page, shadow
# DOMs included (Bokeh draws inside them). A canvas Bokeh made but never drew on counts 0.
CANVAS_PIXELS = """() => {
  const canvases = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'CANVAS') canvases.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  let best = 0;
  for (const c of canvases) {
    if (c.width < 200 || c.height < 100) continue;
    const ctx = c.getContext('2d');
    if (!ctx) continue;
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let drawn = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 0 && (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240)) drawn++;
    }
    best = Math.max(best, drawn);
  }
  return best;
}"""


@dataclass
class Olive:
    auth: dict[str, str]
    run_id: str


@dataclass
class Network:
    """What a page asked for that did not arrive: aborted (not local) or failed (error or >= 400)."""

    blocked: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    served: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.blocked.clear()
        self.failed.clear()
        self.served.clear()

    def missing(self, *kinds: str) -> list[tuple[str, str]]:
        """Requests of these resource types (``script``, ``stylesheet``, ...) that did not load."""
        out = [(kind, url) for kind, url in self.blocked if kind in kinds]
        out += [(kind, url) for kind, url, _ in self.failed if kind in kinds]
        return sorted(set(out))


@pytest.fixture(scope="module")
def olive(hub: Hub) -> Olive:
    """A user with one finished backtest (its notebook has the equity and drawdown charts)."""
    session = new_user(hub, admin_session(hub), USER, PASSWORD)
    auth = {"Authorization": f"token {api_token(hub, session, USER)}"}
    base = f"{hub.url}/services/stockbot/"
    r = requests.post(base + "api/stockbot/backtest", json=BACKTEST, headers=auth, timeout=60)
    assert r.status_code == 201, r.text
    run_id = r.json()["run_id"]
    deadline = time.monotonic() + 240
    while (doc := requests.get(base + f"api/runs/{run_id}", headers=auth, timeout=10).json())[
        "status"
    ] not in (
        "succeeded",
        "failed",
        "cancelled",
    ):
        assert time.monotonic() < deadline, doc
        time.sleep(0.5)
    assert doc["status"] == "succeeded", doc
    return Olive(auth, run_id)


@pytest.fixture(scope="module")
def offline(hub: Hub, olive: Olive) -> Iterator[tuple[Any, Network]]:
    """A logged-in page of Olive's in a browser that reaches nothing but this machine."""
    chromium = shutil.which("chromium")
    need(chromium is not None, "Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    net = Network()

    def route(r: Any) -> None:
        url = urlparse(r.request.url)
        if url.scheme in ("file", "data", "blob") or url.hostname in LOCAL:
            r.continue_()
        else:
            net.blocked.append((r.request.resource_type, r.request.url))
            r.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        context = browser.new_context(base_url=hub.url, viewport={"width": 1400, "height": 1000})
        context.route("**/*", route)
        page = context.new_page()
        page.on(
            "requestfailed",
            lambda rq: net.failed.append((rq.resource_type, rq.url, str(rq.failure))),
        )
        page.on(
            "response",
            lambda rs: (
                net.failed.append((rs.request.resource_type, rs.url, str(rs.status)))
                if rs.status >= 400
                else net.served.append(rs.url)
            ),
        )
        try:
            page.goto("/hub/login")
            page.fill("#username_input", USER)
            page.fill("#password_input", PASSWORD)
            page.click("#login_submit")
            page.wait_for_url("**/services/stockbot/dashboard", timeout=60_000)
            yield page, net
        finally:
            context.close()
            browser.close()


def drawn_pixels(page: Any, timeout: float = 60) -> int:
    """Wait until a chart canvas has drawn pixels (or the time is up); return their number."""
    deadline = time.monotonic() + timeout
    pixels = 0
    while time.monotonic() < deadline:
        pixels = int(page.evaluate(CANVAS_PIXELS))
        if pixels > 1000:
            page.wait_for_timeout(500)  # let Bokeh finish the layout before the screenshot
            return int(page.evaluate(CANVAS_PIXELS))
        page.wait_for_timeout(500)
    return pixels


def test_a_report_that_loads_its_libraries_from_cdns_stays_blank_here(
    offline: tuple[Any, Network], hub: Hub, olive: Olive, tmp_path: Path
) -> None:
    """The harness catches the defect: nbconvert's HTML of the same notebook, CDN addresses kept,
    draws nothing in this browser, and its requests for BokehJS are the ones aborted."""
    from hub.reports import notebook_html

    page, net = offline
    net.clear()
    raw = tmp_path / "cdn-report.html"
    raw.write_text(notebook_html(hub.home / "runs" / olive.run_id / "notebook.ipynb", cache=False))
    page.goto(raw.as_uri())
    assert drawn_pixels(page, timeout=15) < 1000
    assert any("cdn.bokeh.org/bokeh/release/bokeh-" in u for _, u in net.blocked), net


def test_the_served_report_draws_with_the_internet_blocked(
    offline: tuple[Any, Network], hub: Hub, olive: Olive
) -> None:
    page, net = offline
    net.clear()
    page.goto(f"/services/stockbot/api/runs/{olive.run_id}/notebook")
    pixels = drawn_pixels(page)
    page.screenshot(path=str(SHOTS / "offline-01-report.png"), full_page=True)
    assert pixels > 1000, (pixels, net)
    # the page asked for nothing outside this machine, and everything it asked for arrived
    assert not net.blocked and not net.failed, net
    libs = [u for u in net.served if "/services/stockbot/libs/" in u]
    assert any(u.endswith("/js/bokeh.min.js") for u in libs), net.served
    assert any(u.endswith("/panel.min.js") for u in libs), net.served


def test_the_downloaded_report_and_the_zip_draw_from_a_file_offline(
    offline: tuple[Any, Network], hub: Hub, olive: Olive, tmp_path: Path
) -> None:
    page, net = offline
    base = f"{hub.url}/services/stockbot/"
    r = requests.get(base + f"api/runs/{olive.run_id}/notebook?download=1", headers=olive.auth, timeout=120)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["Content-Disposition"] == f'attachment; filename="{olive.run_id}.html"'
    saved = tmp_path / f"{olive.run_id}.html"
    saved.write_bytes(r.content)
    z = requests.get(base + f"api/artifacts/{olive.run_id}/zip", headers=olive.auth, timeout=120)
    assert z.status_code == 200
    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        zf.extractall(tmp_path / "zip")
    zipped = tmp_path / "zip" / olive.run_id / "report.html"
    assert (tmp_path / "zip" / olive.run_id / "equity.csv").is_file()
    # the run folder on the server holds what the job wrote, not the report
    assert not (hub.home / "runs" / olive.run_id / "report.html").exists()
    for name, path in (("download", saved), ("zip", zipped)):
        net.clear()
        page.goto(path.as_uri())
        pixels = drawn_pixels(page)
        page.screenshot(path=str(SHOTS / f"offline-02-report-{name}.png"), full_page=True)
        assert pixels > 1000, (name, pixels, net)
        # a saved report loads nothing at all, not even from this machine
        assert not net.blocked and not net.failed, (name, net)
        assert not [u for u in net.served if u.startswith("http")], (name, net.served)


@pytest.fixture(scope="module")
def olive_server(hub: Hub, olive: Olive) -> Iterator[None]:
    r = requests.post(f"{hub.url}/hub/api/users/{USER}/server", headers=olive.auth, timeout=60)
    assert r.status_code in (201, 202), r.text
    deadline = time.monotonic() + 120
    while (
        not requests.get(f"{hub.url}/hub/api/users/{USER}", headers=olive.auth, timeout=10)
        .json()["servers"]
        .get("", {})
        .get("ready")
    ):
        assert time.monotonic() < deadline, hub.log.read_text()[-3000:]
        time.sleep(0.5)
    yield
    requests.delete(f"{hub.url}/hub/api/users/{USER}/server", headers=olive.auth, timeout=60)


def test_the_voila_dashboard_draws_from_the_users_server_offline(
    offline: tuple[Any, Network], hub: Hub, olive: Olive, olive_server: None
) -> None:
    page, net = offline
    net.clear()
    # Voila streams the page while the kernel runs the cells: look for the chart from the first byte
    page.goto(f"/user/{USER}/voila/render/dashboards/runs_overview.ipynb", wait_until="commit")
    pixels = drawn_pixels(page, timeout=240)
    page.screenshot(path=str(SHOTS / "offline-03-voila.png"), full_page=True)
    assert pixels > 1000, (pixels, net)
    # nothing asked of a CDN (not Voila's Font Awesome or MathJax, not Panel's ES-module polyfill),
    # and everything asked of Olive's server arrived
    assert not net.blocked and not net.failed, net
    # the metrics' formulas are typeset, by JupyterLab's bundled MathJax 3 (Voila's default asks
    # cdnjs for MathJax 2 and would have been blocked)
    page.wait_for_selector("mjx-container", state="attached", timeout=30_000)
    assert page.locator("mjx-container").count() >= 5
    # Font Awesome, which Voila's template links from jsDelivr, came from her server (Panel's copy)
    assert any(
        u.startswith(f"{hub.url}/user/{USER}/panel_dist/bundled/font-awesome/css/all.min.css")
        for u in net.served
    ), net.served
