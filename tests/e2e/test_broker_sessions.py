"""A session on a connected broker account through the real hub, in headless Chromium: a user enters
Alpaca API keys on ``/settings/brokers``, starts a session of a trained run on Alpaca's paper
endpoint (the local stand-in, which fills market orders as they arrive, a few basis points off the
decision's close) from ``/live``, sees its fills against the simulated ones and the cumulative
live-minus-shadow line, stops it, and the account holds what the session holds. On this hub (whose
spawner does not isolate users) a session on a live account is refused, and the API says why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from stockbot.brokers import connect
from stockbot.brokers.base import AuthExpiredError
from stockbot.live.store import LiveStore
from tests.e2e.browser import SHOTS, chromium_page
from tests.e2e.conftest import Hub, admin_session, api_token, new_user
from tests.e2e.test_browser_live import _until
from tests.e2e.test_browser_run_page import _text
from tests.e2e.test_live_api import hub_store, wait_status
from tests.e2e.test_service_api import Client
from tests.live.helpers import register_trained_run
from tests.servers.alpaca_trading import FakeAlpacaTrading

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
USER, PASSWORD = "uma", "uma trades through alpaca 58"
KEY_ID, SECRET = "PKUMA58E2E", "uma-alpaca-secret-58"
OFF = 3.0  # basis points: what the stand-in's fills cost over the decision's close


@pytest.fixture(scope="module")
def alpaca(hub: Hub) -> Iterator[FakeAlpacaTrading]:
    with FakeAlpacaTrading(keys={KEY_ID: SECRET}) as server:
        path = hub.home / "hub" / "brokers.json"
        settings = json.loads(path.read_text()) if path.is_file() else {}
        settings.setdefault("alpaca", {})["trading_url"] = server.url
        path.write_text(json.dumps(settings))

        def price(order: dict[str, Any]) -> float:
            with hub_store(hub) as runs:
                journaled = LiveStore(runs.col.database).orders.find_one({"_id": order["client_order_id"]})
            assert journaled is not None, "an order reached the broker before its journal entry"
            sign = 1.0 if order["side"] == "buy" else -1.0
            return round(float(journaled["reference_price"]) * (1 + sign * OFF / 1e4), 4)

        server.fill_price = price
        yield server


@pytest.fixture(scope="module")
def uma(hub: Hub) -> Client:
    s = new_user(hub, admin_session(hub), USER, PASSWORD)
    token = api_token(hub, s, USER)  # before the service's cookies: both set an _xsrf
    assert s.get(f"{hub.url}/services/stockbot/dashboard", timeout=30).status_code == 200
    return Client(USER, token, f"{hub.url}/services/stockbot/", s)


def log_in(p: Any) -> None:
    p.goto("/hub/login")
    p.fill("#username_input", USER)
    p.fill("#password_input", PASSWORD)
    p.click("#login_submit")
    p.wait_for_url("**/services/stockbot/dashboard", timeout=60_000)


def test_a_user_connects_alpaca_and_trades_its_paper_account_from_the_pages(
    hub: Hub, alpaca: FakeAlpacaTrading, uma: Client
) -> None:
    with hub_store(hub) as runs:
        run_id = register_trained_run(runs, USER)
    with chromium_page(hub.url) as p:
        log_in(p)
        p.goto("/services/stockbot/settings/brokers")
        p.wait_for_selector(".stockbot-broker[data-broker=alpaca][data-connected=false]", timeout=60_000)
        assert "isolates its users" in _text(p, ".stockbot-brokers-real-money")
        p.locator(".stockbot-alpaca-keys").get_by_text("Alpaca API keys").click()
        p.fill(".stockbot-alpaca-key-id input", KEY_ID)
        p.fill(".stockbot-alpaca-secret input", SECRET)
        p.press(".stockbot-alpaca-secret input", "Tab")
        p.click(".stockbot-alpaca-save button")
        p.wait_for_selector(".stockbot-broker[data-broker=alpaca][data-connected=true]", timeout=60_000)

        p.goto("/services/stockbot/live")
        p.wait_for_selector(".stockbot-live-run select", timeout=60_000)
        label = next(
            t for t in p.locator(".stockbot-live-run select option").all_inner_texts() if run_id in t
        )
        p.select_option(".stockbot-live-run select", label=label)
        p.select_option(".stockbot-live-broker select", label="Alpaca")
        assert not p.locator(".stockbot-live-confirm input").is_visible()  # the paper account
        p.fill(".stockbot-live-from input", "2017-04-03")
        p.fill(".stockbot-live-to input", "2017-06-30")
        p.fill(".stockbot-live-speed input", "4")
        p.fill(".stockbot-live-name input", "alpaca paper")
        p.press(".stockbot-live-name input", "Tab")
        p.click(".stockbot-live-start-button button")
        try:
            p.wait_for_selector(".stockbot-live-status[data-status=running]", timeout=60_000)
        except Exception:
            raise AssertionError(_text(p, ".stockbot-live-errors") + hub.log.read_text()[-3000:]) from None
        assert p.get_attribute(".stockbot-live-badge", "data-mode") == "PAPER"
        assert "alpaca · paper account" in _text(p, ".stockbot-live-status")

        # fills against the simulated ones, and the live-minus-shadow line once a few bars are in
        p.locator(".stockbot-live-tabs").get_by_text("Fills", exact=True).click()
        fills = p.locator('.stockbot-live-fills .tabulator-cell[tabulator-field="slippage vs model"]')
        _until(p, lambda: fills.count() >= 5, "fills from the broker", timeout=90)
        assert all(t.strip().endswith("bps") for t in fills.all_inner_texts())
        p.wait_for_selector(".stockbot-live-gap canvas", timeout=60_000)
        p.screenshot(path=str(SHOTS / "31-live-alpaca.png"), full_page=True)

        p.click(".stockbot-live-stop button")
        p.wait_for_selector(".stockbot-live-status[data-status=stopped]", timeout=60_000)
        assert not p.errors, p.errors
    sid = p.url.split("session=")[-1]

    # what the account holds is what the session holds; every order was sent once
    done = wait_status(uma, sid)
    assert done["status"] == "stopped"
    with hub_store(hub) as runs:
        view = LiveStore(runs.col.database).get(sid)["view"]
    held = {k: v for k, v in alpaca.positions.items() if v}
    assert held and held == pytest.approx({k: v for k, v in view["broker_positions"].items() if v})
    ids = [o["client_order_id"] for o in alpaca.orders.values()]
    assert len(ids) == len(set(ids)) and {o["side"] for o in alpaca.orders.values()} == {"buy", "sell"}
    r = uma.call("GET", f"api/live/{sid}/fills")
    assert r.status_code == 200
    slips = [f["slippage_bps"] for f in r.json()["fills"]]
    measured = [s for s in slips if s is not None]
    assert len(measured) >= 5 and len({round(s, 6) for s in measured}) > 1
    # only fills after the last bar (taken when it stopped) have no simulated fill to compare with
    assert None not in slips[: len(measured)]

    # from a notebook: the account through the service, which keeps the keys
    account = connect("alpaca", url=uma.base, token=uma.token)
    assert account.positions() == pytest.approx(held)
    assert account.account().cash == pytest.approx(alpaca.cash)
    assert {o["_id"] for o in account.orders()} >= set(ids)
    with pytest.raises(AuthExpiredError, match="not connected schwab"):
        connect("schwab", url=uma.base, token=uma.token).positions()
    with pytest.raises(AuthExpiredError, match="API keys"):  # keys are never handed out
        account.access_token()


def test_a_live_account_is_refused_on_a_hub_that_does_not_isolate_users(
    hub: Hub, uma: Client, alpaca: FakeAlpacaTrading
) -> None:
    status = uma.session.get(f"{hub.url}/services/stockbot/api/broker/status", timeout=30).json()
    assert status["real_money"]["allowed"] is False and "simple" in status["real_money"]["reason"]
    with hub_store(hub) as runs:
        run_id = register_trained_run(runs, USER)
    config = {
        "policy": {"run_id": run_id},
        "broker": "schwab",
        "confirm": "REAL MONEY",
        "clock": {"kind": "market"},
        "data": {"provider": "alpaca", "dataset": None, "symbols": None},
    }
    r = uma.call("POST", "api/stockbot/live/start", json=config)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["account"]
    assert "isolates its users" in r.json()["errors"][0]["message"]
    r = uma.call("POST", "api/stockbot/live/start", json={**config, "confirm": "real money"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "confirm"
    assert not requests.get(f"{hub.url}/services/stockbot/api/broker/status", timeout=30).ok
