from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from stockbot.errors import StoreError
from stockbot.store.runs import RunStatus, RunStore, now

pytestmark = pytest.mark.timeout(60)


def doc(
    run_id: str, owner: str = "alice", kind: str = "train", created: dt.datetime | None = None
) -> dict[str, Any]:
    return {
        "_id": run_id,
        "kind": kind,
        "owner": owner,
        "status": "queued",
        "created_at": created or now(),
        "heartbeat_at": None,
        "cancel_requested_at": None,
        "progress": {"step": 0},
    }


def test_create_get_list_newest_first_with_filters(db: Database) -> None:
    store = RunStore(db)
    t0 = now()
    for i in range(7):
        store.create(
            doc(
                f"r{i}",
                owner="alice" if i % 2 else "bob",
                kind="train" if i < 4 else "backtest",
                created=t0 + dt.timedelta(seconds=i),
            )
        )
    assert store.get("r3")["owner"] == "alice"  # type: ignore[index]
    runs, total = store.list(owner="alice")
    assert total == 3 and [r["_id"] for r in runs] == ["r5", "r3", "r1"]
    runs, total = store.list(kind="backtest", limit=2, skip=1)
    assert total == 3 and [r["_id"] for r in runs] == ["r5", "r4"]
    with pytest.raises(DuplicateKeyError):
        store.create(doc("r1"))


def test_only_one_process_claims_a_run(db: Database) -> None:
    store = RunStore(db)
    for i in range(20):
        store.create(doc(f"q{i:02d}", created=now() + dt.timedelta(milliseconds=i)))
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        s = RunStore(db)
        while (run := s.claim({"name": f"w{n}"})) is not None:
            with lock:
                claimed.append(run["_id"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == [f"q{i:02d}" for i in range(20)]  # each exactly once
    assert store.list(status="running", limit=100)[1] == 20


def test_claims_go_oldest_first(db: Database) -> None:
    store = RunStore(db)
    store.create(doc("new", created=now()))
    store.create(doc("old", created=now() - dt.timedelta(hours=1)))
    assert store.claim({"name": "x"})["_id"] == "old"  # type: ignore[index]


def test_finish_is_conditional(db: Database) -> None:
    store = RunStore(db)
    store.create(doc("a"))
    assert not store.finish("a", RunStatus.SUCCEEDED)  # still queued: not finishable
    store.claim({"name": "x"}, "a")
    assert store.update_running("a", {"progress": {"step": 5, "total": 10}})
    assert store.finish("a", RunStatus.SUCCEEDED, metrics={"sharpe": 1.2})
    assert not store.finish("a", RunStatus.FAILED)  # once only
    got = store.get("a")
    assert got["status"] == "succeeded" and got["metrics"] == {"sharpe": 1.2}  # type: ignore[index]
    assert got["progress"]["message"] == "succeeded" and got["progress"]["step"] == 5  # type: ignore[index]


def test_cancel_queued_and_running(db: Database) -> None:
    store = RunStore(db)
    store.create(doc("q"))
    store.create(doc("r"))
    assert store.request_cancel("q")["status"] == "cancelled"  # type: ignore[index]
    store.claim({"name": "x"}, "r")
    got = store.request_cancel("r")
    assert got["status"] == "running" and got["cancel_requested_at"] is not None  # type: ignore[index]
    assert store.request_cancel("missing") is None


def test_stale_runs_are_marked_lost_unless_they_beat_again(db: Database) -> None:
    store = RunStore(db)
    store.create(doc("s"))
    store.claim({"name": "x"}, "s")
    db["runs"].update_one({"_id": "s"}, {"$set": {"heartbeat_at": now() - dt.timedelta(minutes=5)}})
    stale = store.stale_running(max_age=30)
    assert [d["_id"] for d in stale] == ["s"]
    store.update_running("s", {})  # a heartbeat arrives in between
    assert not store.mark_lost("s", stale[0]["heartbeat_at"], "gone")
    db["runs"].update_one({"_id": "s"}, {"$set": {"heartbeat_at": stale[0]["heartbeat_at"]}})
    assert store.mark_lost("s", stale[0]["heartbeat_at"], "gone")
    assert store.get("s")["error"]["type"] == "lost"  # type: ignore[index]


@pytest.mark.parametrize(
    "bad",
    [{"owner": {"$ne": None}}, {"kind": ["train"]}],
)
def test_request_values_are_never_operators(db: Database, bad: dict) -> None:
    store = RunStore(db)
    store.create(doc("x"))
    with pytest.raises(StoreError, match="plain value"):
        store.list(**bad)
    with pytest.raises(StoreError, match="not allowed"):
        store.create({**doc("y"), "config": {"data": {"$where": "1"}}})
    with pytest.raises(StoreError, match="not allowed"):
        store.create({**doc("z"), "config": {"a.b": 1}})


def test_large_lists_page_newest_first(db: Database) -> None:
    """Above a few hundred matches the page comes from a widening created_at range: same answer."""
    store = RunStore(db)
    t0 = now()
    ages = [i * 37.0 for i in range(150)] + [3600.0 * 24 * 40 + i for i in range(150)]  # two eras
    docs = [
        doc(f"p{i:03d}", owner="alice" if i % 3 else "bob", created=t0 - dt.timedelta(seconds=a))
        for i, a in enumerate(ages)
    ]
    db["runs"].insert_many(docs)  # behind the store's back: its counts need a recount
    store.recount()
    want = [d["_id"] for d in sorted(docs, key=lambda d: d["created_at"], reverse=True)]
    for skip in (0, 140, 160, 290):
        page, total = store.list(limit=50, skip=skip)
        assert total == 300 and [d["_id"] for d in page] == want[skip : skip + 50]
    alice = [w for w in want if int(w[1:]) % 3]
    page, total = store.list(owner="alice", limit=50, skip=90)
    assert total == len(alice) and [d["_id"] for d in page] == alice[90:140]


def test_counts_follow_every_status_change(db: Database) -> None:
    """The list's totals (materialised counts) equal counting the documents, after each move."""
    store = RunStore(db)
    combos = [
        {},
        {"owner": "alice"},
        {"kind": "train"},
        {"status": "running"},
        {"owner": "bob", "status": "queued"},
    ]

    def check() -> None:
        for f in combos:
            assert store.list(limit=0, **f)[1] == db["runs"].count_documents(f), f

    for i in range(6):
        store.create(doc(f"c{i}", owner=("alice", "bob")[i % 2], kind=("train", "backtest")[i % 3 == 0]))
    check()
    claimed = store.claim({"name": "local"})
    assert claimed is not None
    check()
    assert store.finish(claimed["_id"], RunStatus.SUCCEEDED)
    assert not store.finish(claimed["_id"], RunStatus.FAILED)  # already final: counts unmoved
    check()
    store.request_cancel("c3")
    store.request_cancel("c3")
    check()
    running = store.claim({"name": "local"})
    assert running is not None
    assert store.mark_lost(running["_id"], running["heartbeat_at"], "gone")
    check()
    db["run_counts"].update_many({}, {"$set": {"n": 99}})  # drift (a crash between two writes)
    store.recount()
    check()
    # a count that drifted low never hides runs: the page shows them and the total follows
    db["run_counts"].update_many({}, {"$set": {"n": 0}})
    page, total = store.list(owner="alice")
    assert len(page) == 3 and total == 3
    assert store.list(owner="nobody")[1] == 0
