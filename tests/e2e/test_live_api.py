"""Live sessions through the real hub, proxy and service: every live route, who may see and steer a
session, the stream of a session as it trades, and the refusals (anonymous, another user's,
bad configs, an ended session)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import requests
from tornado.httpclient import HTTPClientError

from stockbot.live.folder import session_dir
from stockbot.store.db import get_db
from stockbot.store.runs import RunStore
from tests.conftest import environ
from tests.e2e.conftest import Hub, admin_session, api_token, new_user
from tests.e2e.test_service_api import Client, stream
from tests.live.helpers import register_trained_run

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

SHORT = {"kind": "replay", "start": "2017-04-03", "end": "2017-04-28", "speed": 0}
ENDED = ("finished", "stopped", "failed")


@contextlib.contextmanager
def hub_store(hub: Hub) -> Iterator[RunStore]:
    """The hub's own store, as its service started it (the service must have answered once)."""
    uri = json.loads((hub.home / "store.json").read_text())["uri"]
    with environ(STOCKBOT_HOME=str(hub.home), STOCKBOT_MONGO_URI=uri):
        yield RunStore(get_db(uri))


@pytest.fixture(scope="module")
def people(hub: Hub) -> dict[str, Client]:
    base = f"{hub.url}/services/stockbot/"
    admin = admin_session(hub)
    out = {"admin": Client("admin", api_token(hub, admin, "admin"), base, admin)}
    for name in ("nadia", "oskar"):
        s = new_user(hub, admin, name, f"{name} trades on paper 77")
        out[name] = Client(name, api_token(hub, s, name), base, s)
    assert out["nadia"].call("GET", "api/auth/me").status_code == 200  # the service (and store) are up
    return out


@pytest.fixture(scope="module")
def nadias_run(hub: Hub, people: dict[str, Client]) -> str:
    """A trained run of Nadia's (the committed tiny MLP with regimes; its actions vary)."""
    with hub_store(hub) as runs:
        return register_trained_run(runs, "nadia")


def wait_status(
    client: Client, sid: str, want: tuple[str, ...] = ENDED, timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.call("GET", f"api/stockbot/live/status?id={sid}")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in want or time.monotonic() > deadline:
            return body
        time.sleep(0.3)


def start(client: Client, config: dict[str, Any]) -> str:
    r = client.call("POST", "api/stockbot/live/start", json=config)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["owner"] == client.name and body["status"] == "starting" and body["mode"] == "paper"
    return str(body["session_id"])


def test_anonymous_calls_to_live_routes_are_refused(hub: Hub) -> None:
    base = f"{hub.url}/services/stockbot/"
    sid = "live-20260101-000000-abcd"
    calls = [
        ("POST", "api/stockbot/live/start"),
        ("POST", "api/stockbot/live/stop"),
        ("GET", "api/stockbot/live/status"),
        ("GET", f"api/live/{sid}"),
        ("GET", f"api/live/{sid}/orders"),
        ("GET", f"api/live/{sid}/fills"),
        *[("POST", f"api/live/{sid}/{a}") for a in ("stop", "kill", "pause", "resume", "reconcile")],
    ]
    for method, path in calls:
        r = requests.request(method, base + path, json={}, timeout=10, allow_redirects=False)
        assert r.status_code == 401 and "error" in r.json(), (method, path, r.status_code, r.text)
    with pytest.raises(HTTPClientError) as err:
        stream(f"{base}api/live/{sid}/stream", None)
    assert err.value.code == 401


def test_bad_live_configs_get_422_naming_the_field(people: dict[str, Client], nadias_run: str) -> None:
    nadia, oskar = people["nadia"], people["oskar"]
    cases = [
        ({"policy": {"run_id": nadias_run}, "clock": {"kind": "replay", "sped": 1}}, "clock.sped"),
        ({"policy": {"path": "runs/x"}}, "policy.path"),
        ({"policy": {"run_id": nadias_run}, "clock": {"kind": "market"}}, "data.provider"),
        ({"policy": {"run_id": nadias_run}, "costs": {"fill": "close"}}, None),
        ({"policy": {"run_id": nadias_run}, "initial_cash": True}, "initial_cash"),
        ({"policy": {"run_id": "20260101-000000-train-abcd"}}, "policy.run_id"),
        (
            {"policy": {"run_id": nadias_run}, "data": {"provider": "sample", "symbols": ["AAPL"]}},
            "data.symbols",
        ),
        (
            {"policy": {"run_id": nadias_run}, "data": {"provider": "csv", "path": "../../store.json"}},
            "data.path",
        ),
    ]
    for body, field in cases:
        r = nadia.call("POST", "api/stockbot/live/start", json=body)
        assert r.status_code == 422, (body, r.status_code, r.text)
        fields = [e["field"] for e in r.json()["errors"]]
        if field is not None:
            assert field in fields, (body, r.json())
    # a replay after the data's end cannot start, and says why
    late = {"policy": {"run_id": nadias_run}, "clock": {"start": "2030-01-02"}}
    r = nadia.call("POST", "api/stockbot/live/start", json=late)
    assert r.status_code == 422 and "nothing to replay" in r.text, r.text
    # another user's trained run is no run of Oskar's
    r = oskar.call("POST", "api/stockbot/live/start", json={"policy": {"run_id": nadias_run}})
    assert r.status_code == 422 and f"no run '{nadias_run}'" in r.text, r.text
    assert nadia.call("POST", "api/stockbot/live/start").status_code == 400  # no body at all
    assert nadia.call("GET", "api/stockbot/live/status").json()["sessions"] == []  # nothing recorded


def test_a_session_trades_to_its_end_and_only_its_owner_sees_it(
    people: dict[str, Client], nadias_run: str, hub: Hub
) -> None:
    nadia, oskar, admin = people["nadia"], people["oskar"], people["admin"]
    sid = start(nadia, {"policy": {"run_id": nadias_run}, "clock": SHORT, "name": "nadia's replay"})
    final = wait_status(nadia, sid)
    assert final["status"] == "finished" and final["name"] == "nadia's replay", final
    assert final["pid"] and final["restarts"] == 0 and final["risk"]["status"] == "active"

    orders = nadia.call("GET", f"api/live/{sid}/orders").json()["orders"]
    fills = nadia.call("GET", f"api/live/{sid}/fills").json()["fills"]
    assert len(orders) >= 5 and len(fills) >= 5, (len(orders), len(fills))
    ids = {o["client_order_id"] for o in orders}
    assert {f["client_order_id"] for f in fills} <= ids
    assert all(len(o["client_order_id"]) <= 48 and o["id"] == o["client_order_id"] for o in orders)
    assert all(f["slippage_bps"] == pytest.approx(0.0, abs=1e-9) for f in fills)  # paper: the model
    # the fills the service reports are the session's trades.csv, row for row
    with environ(STOCKBOT_HOME=str(hub.home)):
        trades = pd.read_csv(session_dir(sid) / "trades.csv")
    assert len(trades) == len(fills)
    assert sorted(trades["qty"].round(9)) == sorted(round(f["quantity"], 9) for f in fills)
    assert sorted(trades["symbol"]) == sorted(f["symbol"] for f in fills)

    doc = nadia.call("GET", f"api/live/{sid}").json()
    assert doc["id"] == sid and "state" not in doc and doc["view"]["bars_done"] == doc["view"]["bars_total"]
    assert doc["events"][-1]["message"] == "replay finished: no more bars"

    # another user: every route answers as if there were no such session
    for method, path in (
        ("GET", f"api/live/{sid}"),
        ("GET", f"api/live/{sid}/orders"),
        ("GET", f"api/live/{sid}/fills"),
        ("GET", f"api/stockbot/live/status?id={sid}"),
        ("POST", f"api/live/{sid}/kill"),
        ("POST", f"api/live/{sid}/pause"),
    ):
        r = oskar.call(method, path, json={})
        assert r.status_code == 404 and sid in r.json()["error"], (method, path, r.status_code, r.text)
    r = oskar.call("POST", "api/stockbot/live/stop", json={"id": sid})
    assert r.status_code == 404
    with pytest.raises(HTTPClientError) as err:
        stream(f"{oskar.base}api/live/{sid}/stream", oskar.token)
    assert err.value.code == 404
    assert oskar.call("GET", "api/stockbot/live/status").json()["sessions"] == []
    assert oskar.call("GET", "api/stockbot/live/status?owner=nadia").status_code == 403
    # the owner and an admin see it
    assert [s["id"] for s in nadia.call("GET", "api/stockbot/live/status").json()["sessions"]] == [sid]
    assert sid in [s["id"] for s in admin.call("GET", "api/stockbot/live/status").json()["sessions"]]
    assert admin.call("GET", f"api/live/{sid}/orders").status_code == 200
    # an ended session takes no more requests
    r = nadia.call("POST", f"api/live/{sid}/kill")
    assert r.status_code == 409 and "takes no more requests" in r.json()["error"], r.text


def test_controls_pause_kill_and_stop_a_running_session(people: dict[str, Client], nadias_run: str) -> None:
    nadia = people["nadia"]
    clock = {"kind": "replay", "start": "2017-04-03", "end": "2017-11-30", "speed": 4}
    sid = start(nadia, {"policy": {"run_id": nadias_run}, "clock": clock})
    wait_status(nadia, sid, ("running",))
    ws_messages: list[dict[str, Any]] = []

    # the stream of the running session, followed in the background until the session ends
    import threading

    follower = threading.Thread(
        target=lambda: ws_messages.extend(stream(f"{nadia.base}api/live/{sid}/stream", nadia.token, 120)),
        daemon=True,
    )
    follower.start()
    deadline = time.monotonic() + 60
    while not nadia.call("GET", f"api/live/{sid}/fills").json()["fills"] and time.monotonic() < deadline:
        time.sleep(0.3)

    r = nadia.call("POST", f"api/live/{sid}/pause")
    assert r.status_code == 202 and r.json()["requested"] == "pause", r.text
    _wait_event(nadia, sid, "entries paused by a person")
    assert nadia.call("POST", f"api/live/{sid}/resume").status_code == 202
    _wait_event(nadia, sid, "resumed by a person")
    r = nadia.call("POST", f"api/live/{sid}/stop", json={"flatten": "yes"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "flatten", r.text

    # the kill switch: cancel, flatten at the next open, halt; a second press changes nothing
    assert nadia.call("POST", f"api/live/{sid}/kill").status_code == 202
    assert nadia.call("POST", f"api/live/{sid}/kill").status_code == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        view = nadia.call("GET", f"api/live/{sid}").json()["view"]
        if view["risk"]["status"] == "halted" and not view["positions"]:
            break
        time.sleep(0.3)
    assert view["risk"]["status"] == "halted" and view["positions"] == {}, view
    orders = nadia.call("GET", f"api/live/{sid}/orders").json()["orders"]
    kills = [o for o in orders if o["kind"] == "kill"]
    assert kills and all(o["side"] == "sell" for o in kills)
    assert len({o["client_order_id"] for o in kills}) == len(kills)
    settled = len(orders)
    time.sleep(1.5)  # halted: nothing more goes out
    assert len(nadia.call("GET", f"api/live/{sid}/orders").json()["orders"]) == settled

    # the platform's stop route ends it; positions are already flat
    r = nadia.call("POST", "api/stockbot/live/stop", json={"id": sid, "flatten": True})
    assert r.status_code == 202, r.text
    final = wait_status(nadia, sid)
    assert final["status"] == "stopped", final
    follower.join(timeout=30)
    kinds = {m["type"] for m in ws_messages}
    assert kinds == {"state", "order", "fill", "event"}, kinds
    states = [m for m in ws_messages if m["type"] == "state"]
    assert states[-1]["status"] == "stopped" and states[-1]["view"]["risk"]["status"] == "halted"
    messages = [m["message"] for m in ws_messages if m["type"] == "event"]
    assert any(m.startswith("kill switch") for m in messages), messages
    streamed_fills = [m for m in ws_messages if m["type"] == "fill"]
    assert len({m["id"] for m in streamed_fills}) == len(streamed_fills)  # each fill once
    stored = nadia.call("GET", f"api/live/{sid}/fills").json()["fills"]
    assert {m["id"] for m in streamed_fills} == {f["id"] for f in stored}
    statuses = {m["client_order_id"]: m["status"] for m in ws_messages if m["type"] == "order"}
    assert statuses == {
        o["client_order_id"]: o["status"]
        for o in nadia.call("GET", f"api/live/{sid}/orders").json()["orders"]
    }


def _wait_event(client: Client, sid: str, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = client.call("GET", f"api/live/{sid}").json()["events"]
        if any(e["message"] == text for e in events):
            return
        time.sleep(0.2)
    raise AssertionError(f"no event {text!r} in {[e['message'] for e in events]}")
