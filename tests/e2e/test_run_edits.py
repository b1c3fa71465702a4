"""Names, tags, notes, search and sort, archive and delete through the real hub and proxy: the
owner or an admin may change a run, another user gets 404, active runs and runs others depend on
answer 409 with a JSON reason, bad input 400/422 naming the field, and never a 500."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from stockbot.jobs.client import ServiceRuns
from stockbot.store.runs import RunConflictError, RunStore
from tests.conftest import environ
from tests.e2e.conftest import Hub, admin_session, api_token, new_user

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

BASELINE = {
    "data": {"provider": "sample", "dataset": "dow29", "symbols": ["KO", "PG"], "start": "2017-04-03"},
    "policy": {"type": "buy_and_hold"},
}


@dataclass
class Person:
    name: str
    token: str
    base: str

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        r = requests.request(method, self.base + path, headers=headers, timeout=30, **kwargs)
        assert r.status_code < 500, (method, path, r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("application/json"), r.headers["Content-Type"]
        return r


@pytest.fixture(scope="module")
def people(hub: Hub) -> dict[str, Person]:
    base = f"{hub.url}/services/stockbot/"
    admin = admin_session(hub)
    out = {"admin": Person("admin", api_token(hub, admin, "admin"), base)}
    for name in ("dora", "erin"):
        s = new_user(hub, admin, name, f"{name} keeps a long password 7")
        out[name] = Person(name, api_token(hub, s, name), base)
    return out


def finished(person: Person, run_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc = person.call("GET", f"api/runs/{run_id}").json()
        if doc["status"] in ("succeeded", "failed", "cancelled"):
            return dict(doc)
        assert time.monotonic() < deadline, doc
        time.sleep(0.5)


@pytest.fixture(scope="module")
def backtest(people: dict[str, Person]) -> str:
    """Dora's real baseline backtest, run by the platform's executor to the end."""
    r = people["dora"].call("POST", "api/stockbot/backtest", json=BASELINE)
    assert r.status_code == 201, r.text
    run_id = r.json()["run_id"]
    assert finished(people["dora"], run_id)["status"] == "succeeded"
    return str(run_id)


@pytest.fixture(scope="module")
def hub_store(hub: Hub, backtest: str) -> Iterator[RunStore]:
    """The hub's own store (started by the service by now), for runs in states a test needs."""
    from stockbot.store.db import get_db

    with environ(STOCKBOT_HOME=str(hub.home)):
        yield RunStore(get_db())


_seq = iter(range(1, 10_000))


def planted(store: RunStore, hub: Hub, owner: str, kind: str, status: str, **fields: Any) -> str:
    """A run document (and its folder with one file) as the executor would leave it."""
    n = next(_seq)
    run_id = f"20250101-{n // 60:04d}{n % 60:02d}-{kind}-{n:04x}"
    t = dt.datetime.now(dt.UTC)
    store.create(
        {
            "_id": run_id,
            "kind": kind,
            "owner": owner,
            "status": status,
            "created_at": t,
            "started_at": t,
            "finished_at": None,
            # a beating heartbeat: recovery must not take a planted running run for a lost one
            "heartbeat_at": t + dt.timedelta(hours=1),
            "config": {"data": {"symbols": ["AAPL"]}, "ppo": {"policy": "mlp"}},
            "parent": None,
            "progress": {"step": 0, "total": None, "message": status},
            "metrics": None,
            "error": None,
            "cancel_requested_at": None,
            "executor": None,
            **fields,
        }
    )
    folder = hub.home / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text("{}")
    return run_id


def test_the_owner_names_tags_and_notes_a_run(people: dict[str, Person], backtest: str) -> None:
    dora, erin, admin = people["dora"], people["erin"], people["admin"]
    first = dora.call("GET", f"api/runs/{backtest}").json()
    assert first["name"] == "backtest KO PG · buy & hold" and first["tags"] == []
    r = dora.call("PATCH", f"api/runs/{backtest}", json={"name": "KO/PG (b&h) .*", "tags": ["base", "dow"]})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "KO/PG (b&h) .*" and r.json()["tags"] == ["base", "dow"]
    r = dora.call("PATCH", f"api/runs/{backtest}", json={"note": "the benchmark to beat"})
    doc = dora.call("GET", f"api/runs/{backtest}").json()
    assert doc["note"] == "the benchmark to beat" and doc["name"] == "KO/PG (b&h) .*"
    # another user: the run does not exist for them, and nothing changed
    assert erin.call("PATCH", f"api/runs/{backtest}", json={"name": "mine now"}).status_code == 404
    assert dora.call("GET", f"api/runs/{backtest}").json()["name"] == "KO/PG (b&h) .*"
    # an admin may
    assert (
        admin.call("PATCH", f"api/runs/{backtest}", json={"tags": ["base", "dow", "seen"]}).status_code == 200
    )
    for body, field in (
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"tags": "base"}, "tags"),
        ({"tags": ["a,b"]}, "tags"),
        ({"owner": "erin"}, "owner"),
        ({"status": "running"}, "status"),
    ):
        r = dora.call("PATCH", f"api/runs/{backtest}", json=body)
        assert r.status_code == 422 and field in [e["field"] for e in r.json()["errors"]], (body, r.text)
    assert dora.call("PATCH", f"api/runs/{backtest}", data="").status_code == 400
    assert dora.call("PATCH", f"api/runs/{backtest}", data="[1]").status_code == 400
    assert dora.call("PATCH", f"api/runs/{backtest}", json={}).status_code == 422
    after = dora.call("GET", f"api/runs/{backtest}").json()
    assert after["owner"] == "dora" and after["status"] == "succeeded"
    assert dora.call("PATCH", "api/runs/20250101-000000-train-ffff", json={"name": "x"}).status_code == 404


def test_search_is_literal_and_sorting_happens_in_the_store(
    people: dict[str, Person], hub_store: RunStore, hub: Hub, backtest: str
) -> None:
    dora = people["dora"]
    sharpes = [1.5, None, -0.3, 0.9, 1.5]
    ids = [
        planted(hub_store, hub, "dora", "backtest", "succeeded", name=f"grid {i}", metrics={"sharpe": s})
        for i, s in enumerate(sharpes)
    ]
    dora.call("PATCH", f"api/runs/{backtest}", json={"name": "KO/PG (b&h) .*"})
    # regex characters are characters: ".*" and "(" find only the run whose name has them
    for text in (".*", "(b&h", "KO/PG"):
        body = dora.call("GET", "api/runs", params={"search": text}).json()
        assert [r["id"] for r in body["runs"]] == [backtest] and body["total"] == 1, (text, body)
    body = dora.call("GET", "api/runs", params={"search": '{"$ne": null}'}).json()
    assert body == {"runs": [], "total": 0}
    # sorted by Sharpe (missing last, ties by id), two per page, in the store
    frame = pd.DataFrame({"id": ids, "sharpe": pd.array(sharpes, dtype="Float64")})
    ref = frame.sort_values(["sharpe", "id"], ascending=True, na_position="last")
    got: list[str] = []
    for skip in (0, 2, 4):
        params = {"search": "grid", "sort": "metrics.sharpe", "order": "asc", "limit": 2, "skip": skip}
        body = dora.call("GET", "api/runs", params=params).json()
        assert body["total"] == len(ids)
        got += [r["id"] for r in body["runs"]]
    assert got == list(ref["id"])
    by_name = dora.call("GET", "api/runs", params={"search": "grid", "sort": "name", "order": "desc"}).json()
    assert [r["name"] for r in by_name["runs"]] == [f"grid {i}" for i in reversed(range(5))]
    for params in (
        {"sort": "config.data"},
        {"sort": "metrics.$where"},
        {"order": "up"},
        {"archived": "maybe"},
        {"search": "x" * 201},
    ):
        r = dora.call("GET", "api/runs", params=params)
        assert r.status_code == 400 and "error" in r.json(), (params, r.text)
    # another user's search never reaches dora's runs
    assert people["erin"].call("GET", "api/runs", params={"search": "grid"}).json()["total"] == 0


def test_archive_hides_a_finished_run_and_refuses_an_active_one(
    people: dict[str, Person], hub_store: RunStore, hub: Hub
) -> None:
    dora, erin = people["dora"], people["erin"]
    done = planted(hub_store, hub, "dora", "train", "succeeded", name="to archive")
    running = planted(hub_store, hub, "dora", "train", "running", name="still going")
    before = dora.call("GET", "api/runs", params={"limit": 0}).json()["total"]
    assert erin.call("POST", f"api/runs/{done}/archive").status_code == 404
    r = dora.call("POST", f"api/runs/{done}/archive")
    assert r.status_code == 200 and r.json()["archived_at"] is not None
    listed = dora.call("GET", "api/runs", params={"limit": 500}).json()
    assert done not in [x["id"] for x in listed["runs"]] and listed["total"] == before - 1
    archived = dora.call("GET", "api/runs", params={"archived": "true"}).json()
    assert [x["id"] for x in archived["runs"]] == [done] and archived["total"] == 1
    assert dora.call("GET", "api/runs", params={"archived": "all", "limit": 0}).json()["total"] == before
    assert (hub.home / "runs" / done / "summary.json").is_file()  # kept on disk
    assert dora.call("GET", f"api/runs/{done}").status_code == 200  # still reachable by id
    r = dora.call("POST", f"api/runs/{running}/archive", json={})
    assert r.status_code == 409 and r.json()["reason"] == "active" and r.json()["status"] == "running"
    for body in ({"archived": "yes"}, {"hidden": True}):
        r = dora.call("POST", f"api/runs/{done}/archive", json=body)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] in ("archived", "hidden")
    r = dora.call("POST", f"api/runs/{done}/archive", json={"archived": False})
    assert r.status_code == 200 and r.json()["archived_at"] is None
    assert dora.call("GET", "api/runs", params={"limit": 0}).json()["total"] == before


def test_delete_removes_the_run_and_its_folder_unless_active_or_depended_on(
    people: dict[str, Person], hub_store: RunStore, hub: Hub
) -> None:
    dora, erin, admin = people["dora"], people["erin"], people["admin"]
    parent = planted(hub_store, hub, "dora", "train", "succeeded", name="parent")
    child = planted(hub_store, hub, "dora", "backtest", "succeeded", parent=parent)
    admins = planted(hub_store, hub, "admin", "backtest", "succeeded", parent=parent)
    running = planted(hub_store, hub, "dora", "backtest", "running")
    total = dora.call("GET", "api/runs", params={"archived": "all", "limit": 0}).json()["total"]
    assert erin.call("DELETE", f"api/runs/{parent}").status_code == 404
    r = dora.call("DELETE", f"api/runs/{running}")
    assert r.status_code == 409 and r.json()["reason"] == "active", r.text
    assert (hub.home / "runs" / running).is_dir()
    r = dora.call("DELETE", f"api/runs/{parent}")
    body = r.json()
    assert r.status_code == 409 and body["reason"] == "dependents"
    # dora sees her own dependent by id; the admin's run is only counted
    assert body["dependents"] == [child] and body["hidden_dependents"] == 1 and admins not in body["error"]
    r = admin.call("DELETE", f"api/runs/{parent}")
    assert r.status_code == 409 and sorted(r.json()["dependents"]) == sorted([child, admins])
    assert (hub.home / "runs" / parent).is_dir()
    assert dora.call("GET", f"api/runs/{parent}").json().get("deleting_at") is None
    assert admin.call("DELETE", f"api/runs/{admins}").status_code == 200
    assert dora.call("DELETE", f"api/runs/{child}").status_code == 200
    r = dora.call("DELETE", f"api/runs/{parent}")
    assert r.status_code == 200 and r.json() == {"id": parent, "deleted": True}
    for run_id in (parent, child, admins):
        assert dora.call("GET", f"api/runs/{run_id}").status_code == 404
        assert not (hub.home / "runs" / run_id).exists()
    assert dora.call("DELETE", f"api/runs/{parent}").status_code == 404
    after = dora.call("GET", "api/runs", params={"archived": "all", "limit": 0}).json()["total"]
    assert after == total - 2


def test_the_service_client_does_the_same(people: dict[str, Person], hub_store: RunStore, hub: Hub) -> None:
    dora = people["dora"]
    runs = ServiceRuns(dora.base, dora.token)
    parent = planted(hub_store, hub, "dora", "train", "succeeded")
    child = planted(hub_store, hub, "dora", "backtest", "succeeded", parent=parent)
    assert runs.edit(parent, name="client [x]", tags=["cli"])["name"] == "client [x]"
    page, total = runs.list(search="[x]")
    assert [d["id"] for d in page] == [parent] and total == 1
    assert [d["id"] for d in runs.list(search="cli")[0]] == [parent]
    with pytest.raises(RunConflictError) as err:
        runs.delete(parent)
    assert err.value.reason == "dependents" and [d["id"] for d in err.value.dependents] == [child]
    assert runs.archive(child)["archived_at"] is not None
    assert child in [d["id"] for d in runs.list(archived=True, limit=500)[0]]
    assert child not in [d["id"] for d in runs.list(limit=500)[0]]
    runs.delete(child)
    runs.delete(parent)
    assert not Path(hub.home / "runs" / parent).exists()
