"""The StockBot service through the real hub and proxy: authentication, ownership, every route,
the log stream of a real training job, artifacts and their traversal guard."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import pytest
import requests
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from stockbot.errors import ConfigError
from tests.e2e.conftest import Hub, admin_session, api_token, new_user

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

DATA = {"provider": "sample", "dataset": "dow29", "symbols": ["AAPL", "KO"], "start": "2015-01-02"}
TRAIN = {
    "data": DATA,
    "env": {"window": 8, "episode_bars": 64},
    "ppo": {
        "total_timesteps": 512,
        "n_envs": 1,
        "n_steps": 128,
        "batch_size": 64,
        "n_epochs": 1,
        "net_arch": [8],
    },
    "eval": {"every_steps": 256, "patience": None},
}
BASELINE = {"data": {**DATA, "start": "2017-04-03"}, "policy": {"type": "buy_and_hold"}}


@dataclass
class Client:
    """A hub user calling the service with an API token."""

    name: str
    token: str
    base: str
    session: requests.Session  # the user's logged-in hub session (cookies)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, self.base + path, headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def people(hub: Hub) -> Iterator[dict[str, Client]]:
    base = f"{hub.url}/services/stockbot/"
    admin = admin_session(hub)
    out = {"admin": Client("admin", api_token(hub, admin, "admin"), base, admin)}
    for name in ("alice", "carol"):
        s = new_user(hub, admin, name, f"{name} has a long password 9")
        out[name] = Client(name, api_token(hub, s, name), base, s)
    yield out


def run_folders(hub: Hub) -> set[Any]:
    """The run folders on disk (none before the first run)."""
    runs = hub.home / "runs"
    return set(runs.iterdir()) if runs.is_dir() else set()


def stream(url: str, token: str | None, timeout: float = 240) -> list[dict[str, Any]]:
    """Every message of a run's stream until the server closes it."""

    async def follow() -> list[dict[str, Any]]:
        ws_url = url.replace("http://", "ws://")
        headers = {"Authorization": f"token {token}"} if token else {}
        conn = await websocket_connect(HTTPRequest(ws_url, headers=headers, request_timeout=30))
        out = []
        while True:
            msg = await asyncio.wait_for(conn.read_message(), timeout)
            if msg is None:
                return out
            out.append(json.loads(msg))

    return asyncio.run(follow())


@pytest.fixture(scope="module")
def trained(people: dict[str, Client]) -> tuple[str, list[dict[str, Any]]]:
    """Alice's tiny training job, submitted over the API and followed on its stream to the end."""
    r = people["alice"].call("POST", "api/stockbot/train", json=TRAIN)
    assert r.status_code == 201, r.text
    run_id = r.json()["run_id"]
    messages = stream(f"{people['alice'].base}api/runs/{run_id}/stream", people["alice"].token)
    return run_id, messages


def test_anonymous_requests_are_refused(hub: Hub) -> None:
    base = f"{hub.url}/services/stockbot/"
    for path in ("api/auth/me", "api/runs", "api/artifacts/20260101-000000-train-abcd"):
        r = requests.get(base + path, timeout=10, allow_redirects=False)
        assert r.status_code == 401 and "error" in r.json(), (path, r.status_code, r.text)
    r = requests.post(base + "api/stockbot/train", json=TRAIN, timeout=10, allow_redirects=False)
    assert r.status_code == 401
    r = requests.get(base + "api/runs", headers={"Authorization": "token not-a-token"}, timeout=10)
    assert r.status_code == 403
    # a page sends the browser to the hub's OAuth login, with an absolute URL
    r = requests.get(base + "runs/20260101-000000-train-abcd", timeout=10, allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/hub/api/oauth2/authorize?"), r.headers["Location"]
    with pytest.raises(HTTPClientError) as err:
        stream(f"{base}api/runs/20260101-000000-train-abcd/stream", None)
    assert err.value.code == 401


def test_me_names_the_hub_user(people: dict[str, Client]) -> None:
    me = people["alice"].call("GET", "api/auth/me").json()
    assert me["name"] == "alice" and me["admin"] is False
    assert people["admin"].call("GET", "api/auth/me").json()["admin"] is True


def test_training_job_streams_its_log_to_succeeded(
    trained: tuple[str, list[dict[str, Any]]], hub: Hub
) -> None:
    run_id, messages = trained
    kinds = [m["type"] for m in messages]
    assert messages[-1] == {"type": "status", "status": "succeeded", "error": None}, messages[-5:]
    assert kinds.count("status") >= 2 and "log" in kinds and "progress" in kinds
    # the log is the job's own, complete and in order, and ends before the final status
    lines = [m["line"] for m in messages if m["type"] == "log"]
    assert lines == (hub.home / "runs" / run_id / "job.log").read_text().splitlines()
    steps = [m["step"] for m in messages if m["type"] == "progress" and m["step"] is not None]
    assert steps == sorted(steps) and steps[-1] > 0


def test_owner_sees_the_run_and_others_do_not(
    trained: tuple[str, list[dict[str, Any]]], people: dict
) -> None:
    run_id, _ = trained
    alice, carol, admin = people["alice"], people["carol"], people["admin"]
    body = alice.call("GET", "api/runs", params={"kind": "train"}).json()
    assert [r["id"] for r in body["runs"]] == [run_id] and body["total"] == 1
    doc = alice.call("GET", f"api/runs/{run_id}").json()
    assert doc["owner"] == "alice" and doc["status"] == "succeeded" and doc["metrics"]["n_trades"] >= 0
    assert carol.call("GET", "api/runs").json() == {"runs": [], "total": 0}
    for method, path in (
        ("GET", f"api/runs/{run_id}"),
        ("POST", f"api/runs/{run_id}/cancel"),
        ("GET", f"api/runs/{run_id}/notebook"),
        ("GET", f"api/artifacts/{run_id}"),
        ("GET", f"api/artifacts/{run_id}/zip"),
        ("GET", f"api/artifacts/{run_id}/equity.csv"),
    ):
        r = carol.call(method, path)
        assert r.status_code == 404, (method, path, r.status_code)
    assert carol.call("GET", "api/runs", params={"owner": "alice"}).status_code == 403
    with pytest.raises(HTTPClientError) as err:
        stream(f"{carol.base}api/runs/{run_id}/stream", carol.token)
    assert err.value.code == 404
    # admins see everyone's runs, and may filter by owner
    for path in (f"api/runs/{run_id}", f"api/artifacts/{run_id}", f"api/artifacts/{run_id}/summary.json"):
        assert admin.call("GET", path).status_code == 200, path
    assert stream(f"{admin.base}api/runs/{run_id}/stream", admin.token)[-1]["status"] == "succeeded"
    listed = admin.call("GET", "api/runs", params={"owner": "alice", "kind": "train"}).json()
    assert [r["id"] for r in listed["runs"]] == [run_id]


def test_artifacts_list_read_zip_and_refuse_traversal(
    trained: tuple[str, list[dict[str, Any]]], people: dict, hub: Hub
) -> None:
    run_id, _ = trained
    alice = people["alice"]
    folder = hub.home / "runs" / run_id
    listed = {a["path"]: a["size"] for a in alice.call("GET", f"api/artifacts/{run_id}").json()["artifacts"]}
    on_disk = {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    assert {"policy.zip", "equity.csv", "trades.csv", "summary.json", "notebook.ipynb"} <= set(listed)
    assert all(on_disk[k] == v for k, v in listed.items())
    r = alice.call("GET", f"api/artifacts/{run_id}/equity.csv")
    equity = pd.read_csv(io.StringIO(r.text))
    pd.testing.assert_frame_equal(equity, pd.read_csv(folder / "equity.csv"))
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    z = zipfile.ZipFile(io.BytesIO(alice.call("GET", f"api/artifacts/{run_id}/zip").content))
    assert f"{run_id}/summary.json" in z.namelist()
    assert json.loads(z.read(f"{run_id}/summary.json")) == json.loads((folder / "summary.json").read_text())
    (hub.home / "secret.txt").write_text("not yours")
    (folder / "link.txt").symlink_to(hub.home / "secret.txt")  # a link out of the run folder
    assert "link.txt" not in {
        a["path"] for a in alice.call("GET", f"api/artifacts/{run_id}").json()["artifacts"]
    }
    assert alice.call("GET", f"api/artifacts/{run_id}/link.txt").status_code == 404
    for bad in ("..%2F..%2Fsecret.txt", "%2e%2e%2f%2e%2e%2fsecret.txt", "%2Fetc%2Fpasswd", "/etc/passwd"):
        r = requests.get(
            f"{alice.base}api/artifacts/{run_id}/{bad}",
            headers={"Authorization": f"token {alice.token}"},
            timeout=10,
        )
        assert r.status_code in (400, 404) and "not yours" not in r.text, (bad, r.status_code)


def test_artifacts_that_a_browser_could_run_are_downloads(
    trained: tuple[str, Any], people: dict, hub: Hub
) -> None:
    run_id, _ = trained
    folder = hub.home / "runs" / run_id
    (folder / "page.html").write_text("<script>alert(1)</script>")
    (folder / "feed.xml").write_text("<x:script xmlns:x='http://www.w3.org/1999/xhtml'>alert(1)</x:script>")
    for name in ("page.html", "feed.xml"):
        r = people["alice"].call("GET", f"api/artifacts/{run_id}/{name}")
        assert r.headers["Content-Type"] == "application/octet-stream", name
        assert (
            r.headers["Content-Disposition"].startswith("attachment")
            and r.headers["Content-Security-Policy"] == "sandbox"
        )
    r = people["alice"].call("GET", f"api/artifacts/{run_id}/equity.csv")
    assert r.headers["Content-Type"].startswith("text/csv") and "Content-Disposition" not in r.headers


def test_unknown_api_paths_answer_json(people: dict) -> None:
    r = people["alice"].call("GET", "api/nothing/here")
    assert r.status_code == 404 and "error" in r.json()


def test_executed_notebook_is_served_as_sandboxed_html(trained: tuple[str, Any], people: dict) -> None:
    run_id, _ = trained
    r = people["alice"].call("GET", f"api/runs/{run_id}/notebook")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Content-Security-Policy"] == "sandbox allow-scripts"
    assert "<html" in r.text and "run_id" in r.text  # the injected parameters cell is shown


def test_bad_configs_get_422_with_the_fields(people: dict, hub: Hub) -> None:
    alice = people["alice"]
    r = alice.call("POST", "api/stockbot/train", json={"ppo": {"policy": "gpt"}, "nonsense": 1})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"ppo.policy", "nonsense"} <= fields, r.json()
    r = alice.call("POST", "api/stockbot/backtest", json={**BASELINE, "data": {**DATA, "symbols": ["NOPE"]}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "data.symbols"
    r = alice.call(
        "POST", "api/prob/infer", json={"data": DATA, "model": {"run_id": "20200101-000000-hmm_fit-0000"}}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "model.run_id"
    runs_before = run_folders(hub)
    r = alice.call(
        "POST", "api/stockbot/backtest", data='{"costs": {"per_share": Infinity}, "policy": {"type": "cash"}}'
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "costs.per_share", r.text
    r = alice.call("POST", "api/stockbot/train", json={"ppo": {"seed": 2**70}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "ppo.seed", r.text
    assert run_folders(hub) == runs_before  # nothing left behind by refused jobs
    assert alice.call("POST", "api/stockbot/train", data="[1, 2]").status_code == 400
    assert alice.call("POST", "api/stockbot/train", data="{not json").status_code == 400
    assert alice.call("GET", "api/runs", params={"limit": "many"}).status_code == 400


def test_configs_that_could_only_fail_later_get_422(trained: tuple[str, Any], people: dict, hub: Hub) -> None:
    """What a new user's walk-through got 201 for, and then a failed (or absurd) run."""
    run_id, _ = trained
    alice = people["alice"]
    runs_before = run_folders(hub)
    total_before = alice.call("GET", "api/runs").json()["total"]
    cases = [
        ("stockbot/train", {**TRAIN, "initial_cash": 1e308}, "initial_cash"),
        ("stockbot/backtest", {**BASELINE, "initial_cash": 1e308}, "initial_cash"),
        ("stockbot/train", {**TRAIN, "ppo": {**TRAIN["ppo"], "n_envs": True}}, "ppo.n_envs"),
        (
            "stockbot/train",
            {**TRAIN, "split": {"train_end": "2017-06-30", "val_end": "2018-06-30"}},
            "split.val_end",
        ),
        ("stockbot/train", {**TRAIN, "env": {**TRAIN["env"], "episode_bars": 5000}}, "split.train_end"),
        (
            "stockbot/backtest",
            {"data": {**DATA, "symbols": ["AAPL", "KO", "XOM"]}, "policy": {"type": "run", "run_id": run_id}},
            "data.symbols",
        ),
    ]
    for route, body, field in cases:
        r = alice.call("POST", f"api/{route}", json=body)
        assert r.status_code == 422, (route, field, r.status_code, r.text)
        assert r.json()["errors"][0]["field"] == field, (field, r.json())
    assert run_folders(hub) == runs_before
    assert alice.call("GET", "api/runs").json()["total"] == total_before


def test_file_paths_must_stay_in_the_users_data_folder(people: dict, hub: Hub) -> None:
    alice = people["alice"]
    csv = hub.home / "users" / "carol" / "data" / "bars.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    csv.write_text("timestamp,symbol,open,high,low,close,volume\n")
    for path in (str(csv), "../carol/data/bars.csv", "/etc/passwd", "~/bars.csv", "~nosuchuser/x.csv"):
        body = {**BASELINE, "data": {"provider": "csv", "path": path, "symbols": ["AAPL"]}}
        r = alice.call("POST", "api/stockbot/backtest", json=body)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "data.path", (path, r.text)
    # inside the folder, the path is taken relative to it (then checked like any data file)
    mine = hub.home / "users" / "alice" / "data" / "mine.csv"
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text("garbage")
    r = alice.call(
        "POST", "api/stockbot/backtest", json={**BASELINE, "data": {"provider": "csv", "path": "mine.csv"}}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "data", r.text
    # a trained policy comes by run id only (loading a policy file unpickles it)
    body = {**BASELINE, "policy": {"type": "run", "path": "mine.csv"}}
    r = alice.call("POST", "api/stockbot/backtest", json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "policy.path", r.text


def test_a_user_cannot_backtest_another_users_model(trained: tuple[str, Any], people: dict) -> None:
    run_id, _ = trained
    body = {**BASELINE, "policy": {"type": "run", "run_id": run_id}}
    r = people["carol"].call("POST", "api/stockbot/backtest", json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "policy.run_id"
    r = people["alice"].call("POST", "api/stockbot/backtest", json=body)
    assert r.status_code == 201, r.text


def test_external_runs_belong_to_the_caller(people: dict, hub: Hub) -> None:
    carol = people["carol"]
    r = carol.call(
        "POST", "api/runs", json={"name": "colab sweep", "metrics": {"sharpe": 1.2}, "owner": "alice"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "owner"  # never from the body
    r = carol.call("POST", "api/runs", json={"name": "colab sweep", "status": "running"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status"  # nothing could end it
    sweep = {"name": "colab sweep", "status": "failed", "metrics": {"sharpe": 1.2}}
    r = carol.call("POST", "api/runs", json=sweep)
    assert r.status_code == 201
    doc = carol.call("GET", f"api/runs/{r.json()['run_id']}").json()
    assert doc["kind"] == "external" and doc["owner"] == "carol" and doc["status"] == "failed"
    assert doc["metrics"] == {"sharpe": 1.2}
    assert people["alice"].call("GET", f"api/runs/{doc['id']}").status_code == 404
    r = carol.call("POST", "api/runs", json={"name": "x", "config": {"$where": "1"}})
    assert r.status_code == 422
    r = carol.call("POST", "api/runs", data='{"name": "x", "config": {"a": NaN}}')
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "config.a"


def test_cancel_a_queued_or_running_run(people: dict) -> None:
    alice = people["alice"]
    long = {**TRAIN, "ppo": {**TRAIN["ppo"], "total_timesteps": 5_000_000}}
    run_id = alice.call("POST", "api/stockbot/train", json=long).json()["run_id"]
    doc = alice.call("POST", f"api/runs/{run_id}/cancel").json()
    assert doc["id"] == run_id and doc["cancel_requested_at"] is not None
    messages = stream(f"{alice.base}api/runs/{run_id}/stream", alice.token, timeout=120)
    assert messages[-1]["type"] == "status" and messages[-1]["status"] == "cancelled"


def test_cookie_posts_need_the_xsrf_token(people: dict, hub: Hub) -> None:
    """A browser's session (hub login, then the service's OAuth) may POST only with X-XSRFToken."""
    s = people["carol"].session
    page = s.get(f"{hub.url}/services/stockbot/dashboard", timeout=30)  # the OAuth dance, followed
    assert page.status_code == 200 and urlparse(page.url).path == "/services/stockbot/dashboard"
    me = s.get(f"{hub.url}/services/stockbot/api/auth/me", timeout=10)
    assert me.status_code == 200 and me.json()["name"] == "carol"
    url = f"{hub.url}/services/stockbot/api/stockbot/backtest"
    assert s.post(url, json=BASELINE, timeout=10).status_code == 403
    xsrf = s.cookies.get("_xsrf", path="/services/stockbot/")
    r = s.post(url, json=BASELINE, headers={"X-XSRFToken": xsrf}, timeout=30)
    assert r.status_code == 201, r.text
    assert (
        s.get(f"{hub.url}/services/stockbot/api/runs/{r.json()['run_id']}", timeout=10).json()["owner"]
        == "carol"
    )


def test_a_hub_users_server_token_reaches_the_service(people: dict, hub: Hub) -> None:
    """What ``stockbot.jobs.client`` uses inside a user's server: the server's own token."""
    from stockbot.jobs.client import ServiceRuns

    admin = people["admin"]
    runs = ServiceRuns(admin.base, admin.token)
    run_id = runs.submit("backtest", BASELINE)
    assert runs.get(run_id)["owner"] == "admin"
    ids = [r["id"] for r in runs.list(kind="backtest", limit=500)[0]]
    assert run_id in ids
    with pytest.raises(ConfigError, match=r"data\.symbols"):
        runs.submit("backtest", {**BASELINE, "data": {**DATA, "symbols": ["NOPE"]}})


def test_malformed_artifact_paths_answer_json_not_500(trained: tuple[str, Any], people: dict) -> None:
    """A NUL byte, an overlong UTF-8 dot, a lone surrogate, control characters: 400/404 with JSON."""
    run_id, _ = trained
    alice = people["alice"]
    for bad in (
        "summary.json%00.png",
        "%00",
        "%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt",
        "%c0%ae",
        "%ed%a0%80.csv",
        "equity.csv%0a",
        "%ff%fe",
    ):
        r = requests.get(
            f"{alice.base}api/artifacts/{run_id}/{bad}",
            headers={"Authorization": f"token {alice.token}"},
            timeout=10,
        )
        assert r.status_code in (400, 404), (bad, r.status_code, r.text[:300])
        assert r.headers["Content-Type"].startswith("application/json"), bad
        assert r.json()["error"], bad
    r = alice.call("GET", f"api/runs/{run_id}%00")
    assert r.status_code in (400, 404) and r.json()["error"]


def test_a_submission_needs_a_body(people: dict) -> None:
    """No body is a mistake (it used to queue a 200,000-step default training); {} is a choice."""
    alice = people["alice"]
    before = alice.call("GET", "api/runs").json()["total"]
    for kind in ("stockbot/train", "stockbot/backtest", "prob/train", "prob/infer"):
        r = alice.call("POST", f"api/{kind}")
        assert r.status_code == 400, (kind, r.status_code, r.text)
        assert "body" in r.json()["error"] and "{}" in r.json()["error"], r.text
    r = alice.call("POST", "api/runs")
    assert r.status_code == 400 and "body" in r.json()["error"]
    assert alice.call("GET", "api/runs").json()["total"] == before  # nothing was queued


def test_a_cookie_post_without_xsrf_says_the_token_is_missing(people: dict, hub: Hub) -> None:
    s = people["carol"].session
    s.get(f"{hub.url}/services/stockbot/dashboard", timeout=30)  # logged in to the service
    url = f"{hub.url}/services/stockbot/api/stockbot/backtest"
    r = s.post(url, json=BASELINE, timeout=10)
    assert r.status_code == 403
    message = r.json()["error"]
    assert "XSRF" in message and "missing" in message and "not valid" not in message, message
    r = s.post(url, json=BASELINE, headers={"X-XSRFToken": "forged"}, timeout=10)
    assert r.status_code == 403 and "does not match" in r.json()["error"], r.text
    # a cookie that is itself bad is still "not valid", whatever the XSRF header says
    name = next(c.name for c in s.cookies if c.path == "/services/stockbot/" and c.name != "_xsrf")
    bad = requests.Session()
    bad.cookies.set(name, "garbage", path="/services/stockbot/")
    r = bad.post(url, json=BASELINE, headers={"X-XSRFToken": "x"}, timeout=10)
    assert r.status_code in (401, 403) and "XSRF" not in r.json()["error"], r.text
