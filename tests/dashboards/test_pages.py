"""The pages as the service serves them: one Panel server, the user header, route parameters."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import panel as pn
import pytest
import requests

import dashboards
from dashboards import INCLUDE_HEADERS, PAGES
from stockbot.store import RunStore
from tests.dashboards.conftest import BOKEH_INPLACE, add_run, equity_frame, metrics, write_results

pytestmark = [pytest.mark.timeout(120), pytest.mark.filterwarnings(BOKEH_INPLACE)]

PREFIX = "/services/stockbot"
RUN = "20261101-120000-backtest-0c0c"


def test_the_pages() -> None:
    assert list(PAGES) == [
        "dashboard",
        "training/new",
        "backtest/new",
        "runs/{run_id}",
        "live",
        "settings/brokers",
    ]
    assert dashboards.USER_HEADER == "X-StockBot-User"


def test_outside_a_session_a_page_refuses_to_build() -> None:
    for page in PAGES.values():
        view = page()
        view.get_root()
        assert "stockbot-denied" in view.css_classes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(include_headers: list[str]) -> Any:
    """``PAGES`` on a Panel server in a thread, as the service serves them (minus the hub login)."""
    port = free_port()
    server = pn.serve(
        PAGES,
        port=port,
        address="127.0.0.1",
        prefix=PREFIX,
        websocket_origin=[f"127.0.0.1:{port}"],
        include_headers=include_headers,
        show=False,
        threaded=True,
        verbose=False,
    )
    base = f"http://127.0.0.1:{port}{PREFIX}"
    for _ in range(100):
        try:
            requests.get(f"{base}/dashboard", timeout=2)
            break
        except requests.ConnectionError:
            threading.Event().wait(0.1)
    return server, base


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    thread, base = serve(INCLUDE_HEADERS)
    try:
        yield base
    finally:
        thread.stop()


def built(caplog: pytest.LogCaptureFixture, response: requests.Response) -> str:
    """What the server built for a request: the page title and user it logged (Panel serves every
    page of a dict under one HTML title, so the HTML cannot tell)."""
    assert response.status_code == 200, response.text[-2000:]
    lines = [r.getMessage() for r in caplog.records if r.name == "dashboards.layout"]
    caplog.clear()
    assert len(lines) == 1, lines
    return lines[0]


def as_user(name: str, admin: bool = False) -> dict[str, str]:
    return {"X-StockBot-User": json.dumps({"name": name, "admin": admin})}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("dashboard", "Dashboard · StockBot"),
        ("training/new", "New training · StockBot"),
        ("backtest/new", "New backtest · StockBot"),
        ("backtest/new?run_id=20261101-000000-train-0000", "New backtest · StockBot"),
        (f"runs/{RUN}", f"Run {RUN} · StockBot"),
        ("runs/20261101-000000-train-ffff", "Run not found · StockBot"),
        ("runs/not-a-run", "Run not found · StockBot"),
    ],
)
def test_each_page_builds_for_the_signed_in_user(
    store: RunStore, server: str, caplog: pytest.LogCaptureFixture, path: str, expected: str
) -> None:
    add_run(store, RUN, "alice", metrics=metrics(1.0, 0.1, -0.02))
    write_results(RUN, equity_frame(5), metrics(1.0, 0.1, -0.02), metrics(0.8, 0.07, -0.03))
    caplog.set_level(logging.INFO, logger="dashboards.layout")
    response = requests.get(f"{server}/{path}", headers=as_user("alice"), timeout=30)
    assert built(caplog, response) == f"built {expected!r} for alice"


def test_another_users_run_page_is_not_found(
    store: RunStore, server: str, caplog: pytest.LogCaptureFixture
) -> None:
    add_run(store, RUN, "alice")
    caplog.set_level(logging.INFO, logger="dashboards.layout")
    url = f"{server}/runs/{RUN}"
    response = requests.get(url, headers=as_user("bob"), timeout=30)
    assert built(caplog, response) == "built 'Run not found · StockBot' for bob"
    response = requests.get(url, headers=as_user("root", admin=True), timeout=30)
    assert built(caplog, response) == f"built 'Run {RUN} · StockBot' for root (admin)"


@pytest.mark.parametrize(
    ("headers", "needle"),
    [
        ({}, "header is missing"),
        ({"X-StockBot-User": "alice"}, "not JSON"),
        ({"X-StockBot-User": '{"name": "a"}'}, "must look like"),
    ],
)
def test_without_the_service_header_nobody_is_signed_in(
    server: str, caplog: pytest.LogCaptureFixture, headers: dict[str, str], needle: str
) -> None:
    caplog.set_level(logging.INFO, logger="dashboards.layout")
    response = requests.get(f"{server}/dashboard", headers=headers, timeout=30)
    line = built(caplog, response)
    assert line.startswith("refused a dashboard session") and needle in line


def test_include_headers_must_use_tornados_spelling(
    store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    # Tornado stores the header as "X-Stockbot-User" and Panel keeps only the headers whose
    # names equal an include_headers entry exactly: the header's own spelling loses it
    thread, base = serve(["X-StockBot-User"])
    caplog.set_level(logging.INFO, logger="dashboards.layout")
    caplog.clear()  # of the readiness probe
    try:
        response = requests.get(f"{base}/dashboard", headers=as_user("alice"), timeout=30)
        assert built(caplog, response).startswith("refused a dashboard session")
    finally:
        thread.stop()


def test_page_state_loads_without_panel() -> None:
    # the state classes are plain param objects: importable (and testable) without any widget library
    code = (
        "import sys, dashboards.state; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'panel', 'bokeh', 'hvplot', 'holoviews'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"
