"""Names, tags and notes of runs; literal search; sorting and paging in the store; archive and
delete with their refusals; totals after each (against the real SecantusDB of tests/store)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pymongo.database import Database

from stockbot.errors import ConfigError, StoreError
from stockbot.jobs.artifacts import delete_run_folder
from stockbot.jobs.kinds import run_dir
from stockbot.store.runs import RunConflictError, RunStatus, RunStore, now

pytestmark = pytest.mark.timeout(120)

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def rid(i: int, kind: str = "backtest") -> str:
    return f"20261101-{i // 60:04d}{i % 60:02d}-{kind}-{i % 65536:04x}"


def doc(
    run_id: str,
    *,
    owner: str = "alice",
    status: str = "succeeded",
    name: str | None = None,
    tags: list[str] | None = None,
    metrics: dict[str, Any] | None = None,
    minutes: float = 0,
    parent: str | None = None,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "_id": run_id,
        "kind": run_id.split("-")[2],
        "owner": owner,
        "status": status,
        "created_at": T0 + dt.timedelta(minutes=minutes),
        "heartbeat_at": None,
        "cancel_requested_at": None,
        "config": config or {},
        "parent": parent,
        "progress": {"step": 0},
        "metrics": metrics,
    }
    if name is not None:
        out["name"] = name
    if tags is not None:
        out["tags"] = tags
    return out


def totals_match(store: RunStore, db: Database) -> None:
    """Every total the list reports equals counting the documents themselves."""
    for f, archived in (
        ({}, False),
        ({}, True),
        ({}, None),
        ({"owner": "alice"}, False),
        ({"status": "succeeded"}, True),
        ({"owner": "bob", "kind": "train"}, None),
    ):
        where = {False: {"archived_at": None}, True: {"archived_at": {"$ne": None}}, None: {}}[archived]
        assert store.list(limit=0, archived=archived, **f)[1] == db["runs"].count_documents({**f, **where}), (
            f,
            archived,
        )


# ------------------------------------------------------------------ names


def test_runs_get_a_default_name_and_old_runs_show_one(db: Database) -> None:
    store = RunStore(db)
    cfg = {"data": {"symbols": ["AAPL", "MSFT"]}, "ppo": {"policy": "lstm"}}
    store.create(doc(rid(1, "train"), config=cfg))
    assert db["runs"].find_one({"_id": rid(1, "train")})["name"] == "train AAPL MSFT · lstm"  # type: ignore[index]
    store.create(doc(rid(2), name="my own name"))
    assert store.get(rid(2))["name"] == "my own name"  # type: ignore[index]
    # a run stored before runs had names: shown with its default, and found by a search on it
    old = doc(rid(3), config={"data": {"symbols": ["KO"]}, "policy": {"type": "cash"}})
    db["runs"].insert_one(old)
    store.recount()
    assert store.get(rid(3))["name"] == "backtest KO · cash"  # type: ignore[index]
    assert store.get(rid(3))["tags"] == [] and store.get(rid(3))["note"] is None  # type: ignore[index]
    page, total = store.list(search="KO · cash")
    assert [d["_id"] for d in page] == [rid(3)] and total == 1
    assert db["runs"].find_one({"_id": rid(3)})["name"] == "backtest KO · cash"  # type: ignore[index]


def test_edit_sets_only_what_is_given_and_names_bad_fields(db: Database) -> None:
    store = RunStore(db)
    store.create(doc(rid(1), name="first"))
    got = store.edit(rid(1), {"tags": [" momentum ", "dow", "momentum"], "note": "  try 2\nlonger window "})
    assert got is not None and got["name"] == "first"
    assert got["tags"] == ["momentum", "dow"] and got["note"] == "try 2\nlonger window"
    assert store.edit(rid(1), {"name": "  renamed  "})["tags"] == ["momentum", "dow"]  # type: ignore[index]
    assert store.get(rid(1))["name"] == "renamed"  # type: ignore[index]
    assert store.edit(rid(1), {"note": ""})["note"] is None  # type: ignore[index]
    assert store.edit("20261101-000000-train-ffff", {"name": "x"}) is None
    bad: list[tuple[dict[str, Any], str]] = [
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"name": 5}, "name"),
        ({"name": None}, "name"),
        ({"tags": "a,b"}, "tags"),
        ({"tags": ["ok", "a,b"]}, "tags"),
        ({"tags": ["x" * 33]}, "tags"),
        ({"tags": [str(i) for i in range(17)]}, "tags"),
        ({"tags": [1]}, "tags.0"),
        ({"note": "y" * 10_001}, "note"),
        ({"name": "bell\x07"}, "name"),
        ({"owner": "mallory"}, "owner"),
        ({"status": "succeeded"}, "status"),
    ]
    for body, field in bad:
        with pytest.raises(ConfigError) as err:
            store.edit(rid(1), body)
        assert field in [e["field"] for e in err.value.errors], (body, err.value.errors)
    with pytest.raises(ConfigError, match="at least one"):
        store.edit(rid(1), {})
    after = store.get(rid(1))
    assert after["owner"] == "alice" and after["status"] == "succeeded" and after["name"] == "renamed"  # type: ignore[index]


# ------------------------------------------------------------------ search


NAMES = {
    1: ("a.*b", []),
    2: ("axxb", ["regime"]),
    3: ("f(x) test", []),
    4: ('{"$ne": null}', []),
    5: ("plain run", ["x"]),
    6: ("Momentum ideas", ["Dow"]),
    7: ("momentum \\d+", ["dow", "mixed"]),
    8: ("regime switch", []),
}


@pytest.fixture
def named(db: Database) -> RunStore:
    store = RunStore(db)
    for i, (name, tags) in NAMES.items():
        store.create(doc(rid(i), name=name, tags=tags, minutes=i, owner="alice" if i % 2 else "bob"))
    return store


def expected(text: str, owner: str | None = None) -> list[str]:
    """Literal, case-insensitive: a name containing the text, or a tag equal to it; newest first."""
    t = text.lower()
    hits = [
        rid(i)
        for i, (name, tags) in NAMES.items()
        if (t in name.lower() or t in [g.lower() for g in tags])
        and (owner is None or (i % 2 == 1) == (owner == "alice"))
    ]
    return sorted(hits, reverse=True)


@pytest.mark.parametrize(
    "text",
    [".*", "a.*b", "(", "f(x)", '{"$ne": null}', "$ne", "\\d+", "momentum", "DOW", "x", "regime", "^", "|"],
)
def test_search_is_literal(named: RunStore, text: str) -> None:
    page, total = named.list(search=text)
    assert [d["_id"] for d in page] == expected(text)
    assert total == len(expected(text))
    alice, alice_total = named.list(search=text, owner="alice")
    assert [d["_id"] for d in alice] == expected(text, "alice") and alice_total == len(
        expected(text, "alice")
    )


def test_a_tag_matches_whole_and_search_input_is_never_an_operator(named: RunStore) -> None:
    # "mix" is part of the tag "mixed" but of no name: tags match whole
    assert named.list(search="mix")[1] == 0
    assert [d["_id"] for d in named.list(search="mixed")[0]] == [rid(7)]
    with pytest.raises(StoreError):
        named.list(search={"$ne": None})  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="200"):
        named.list(search="a" * 201)
    assert named.list(search="   ")[1] == len(NAMES)  # blank: no search


def test_search_pages_and_totals(named: RunStore) -> None:
    want = expected("e")
    assert len(want) >= 4
    seen: list[str] = []
    for skip in range(0, len(want), 2):
        page, total = named.list(search="e", limit=2, skip=skip)
        assert total == len(want)
        seen += [d["_id"] for d in page]
    assert seen == want


# ------------------------------------------------------------------ sorting


@pytest.fixture
def scored(db: Database) -> tuple[RunStore, pd.DataFrame]:
    """60 runs with random Sharpe ratios (some missing, some tied) and names in mixed case."""
    rng = np.random.default_rng(7)
    store = RunStore(db)
    rows = []
    for i in range(60):
        sharpe = None if i % 7 == 0 else float(np.round(rng.normal(0.5, 1.0), 1))  # rounding makes ties
        name = f"{'ABCDEFGHIJ'[i % 10] if i % 2 else 'abcdefghij'[i % 10]}run {i:02d}"
        metrics = None if i % 11 == 0 else {"sharpe": sharpe, "total_return": float(rng.normal())}
        store.create(doc(rid(i), name=name, metrics=metrics, minutes=float(rng.integers(0, 10_000))))
        rows.append({"id": rid(i), "name": name, "sharpe": (metrics or {}).get("sharpe")})
    frame = pd.DataFrame(rows)
    frame["created_at"] = [db["runs"].find_one({"_id": r})["created_at"] for r in frame["id"]]  # type: ignore[index]
    frame["sharpe"] = frame["sharpe"].astype("float64")
    return store, frame


def all_pages(store: RunStore, size: int, **kw: Any) -> list[str]:
    out: list[str] = []
    skip = 0
    while True:
        page, total = store.list(limit=size, skip=skip, **kw)
        assert total == 60
        out += [d["_id"] for d in page]
        skip += size
        if skip >= total:
            return out


@pytest.mark.parametrize("descending", [True, False])
def test_sort_by_a_metric_pages_like_a_reference_sort(
    scored: tuple[RunStore, pd.DataFrame], descending: bool
) -> None:
    store, frame = scored
    ref = frame.sort_values(["sharpe", "id"], ascending=not descending, na_position="last", kind="mergesort")
    got = all_pages(store, 7, sort="metrics.sharpe", descending=descending)
    assert got == list(ref["id"])


@pytest.mark.parametrize("descending", [True, False])
def test_sort_by_name_ignores_case_and_by_time_both_ways(
    scored: tuple[RunStore, pd.DataFrame], descending: bool
) -> None:
    store, frame = scored
    by_name = frame.assign(key=frame["name"].str.lower()).sort_values(["key", "id"], ascending=not descending)
    assert all_pages(store, 9, sort="name", descending=descending) == list(by_name["id"])
    by_time = frame.sort_values(["created_at", "id"], ascending=not descending)
    got = all_pages(store, 9, sort="created_at", descending=descending)
    if descending:
        # the fast path sorts by time alone: equal times may come in either order
        assert [frame.set_index("id").loc[r, "created_at"] for r in got] == list(by_time["created_at"])
    else:
        assert got == list(by_time["id"])


@pytest.mark.parametrize(
    "sort", ["metrics.$where", "config.data", "metrics.a.b", "metrics.", "_id", "$natural"]
)
def test_sort_fields_come_from_a_list(db: Database, sort: str) -> None:
    with pytest.raises(StoreError, match="sort by one of"):
        RunStore(db).list(sort=sort)


# ------------------------------------------------------------------ archive


def test_archive_hides_keeps_and_counts(db: Database, stockbot_home: Path) -> None:
    store = RunStore(db)
    for i, status in enumerate(["succeeded", "failed", "queued", "succeeded"]):
        store.create(doc(rid(i, "train"), status=status, minutes=i, owner=("alice", "bob")[i % 2]))
        run_dir(rid(i, "train")).mkdir(parents=True)
    a, b, queued, d = (rid(i, "train") for i in range(4))
    got = store.archive(a)
    assert got is not None and got["archived_at"] is not None
    assert store.archive(b)["archived_at"] is not None  # type: ignore[index]
    assert store.archive(a)["archived_at"] == got["archived_at"]  # asking twice changes nothing
    totals_match(store, db)
    assert [r["_id"] for r in store.list()[0]] == [d, queued]
    assert [r["_id"] for r in store.list(archived=True)[0]] == [b, a]
    assert store.list(archived=None)[1] == 4
    assert store.list(archived=True, search="train")[1] == 2
    assert run_dir(a).is_dir()  # kept on disk
    with pytest.raises(RunConflictError) as err:
        store.archive(queued)
    assert err.value.reason == "active" and err.value.status == "queued"
    assert store.archive("20261101-000000-train-ffff") is None
    assert store.archive(b, archived=False)["archived_at"] is None  # type: ignore[index]
    assert store.archive(d, archived=False)["archived_at"] is None  # type: ignore[index]
    totals_match(store, db)
    db["run_counts"].update_many({}, {"$set": {"n": 7}})  # drift, then a recount puts it right
    store.recount()
    totals_match(store, db)
    # the queued run, once claimed and finished, is counted where it is
    store.claim({"name": "x"}, queued)
    store.finish(queued, RunStatus.CANCELLED)
    totals_match(store, db)


# ------------------------------------------------------------------ delete


def test_delete_refuses_active_runs_and_runs_others_depend_on(db: Database, stockbot_home: Path) -> None:
    store = RunStore(db)
    train, bt1, bt2, running = rid(1, "train"), rid(2), rid(3), rid(4, "train")
    store.create(doc(train))
    store.create(doc(bt1, parent=train))
    store.create(doc(bt2, parent=train, owner="bob"))
    store.create(doc(running, status="queued"))
    for r in (train, bt1, bt2, running):
        run_dir(r).mkdir(parents=True)
        (run_dir(r) / "summary.json").write_text("{}")
    store.claim({"name": "x"}, running)
    with pytest.raises(RunConflictError) as err:
        store.delete(running, remove_files=delete_run_folder)
    assert err.value.reason == "active" and err.value.status == "running"
    with pytest.raises(RunConflictError) as err:
        store.delete(train, remove_files=delete_run_folder)
    assert err.value.reason == "dependents"
    assert sorted(d["id"] for d in err.value.dependents) == [bt1, bt2]
    assert {d["owner"] for d in err.value.dependents} == {"alice", "bob"}
    # refused means untouched: still listed, editable, its files in place
    left = store.get(train)
    assert (
        left is not None and left.get("deleting_at") is None and (run_dir(train) / "summary.json").is_file()
    )
    assert store.edit(train, {"name": "kept"}) is not None
    totals_match(store, db)
    assert store.delete(bt1, remove_files=delete_run_folder)
    assert store.delete(bt2, remove_files=delete_run_folder)
    assert store.delete(train, remove_files=delete_run_folder)
    for r in (train, bt1, bt2):
        assert store.get(r) is None and not run_dir(r).exists()
    assert not store.delete(train, remove_files=delete_run_folder)  # already gone
    totals_match(store, db)
    assert store.list(archived=None)[1] == 1


def test_a_delete_cut_short_is_finished_by_the_next(db: Database, stockbot_home: Path) -> None:
    store = RunStore(db)
    a = rid(1)
    store.create(doc(a))
    store.archive(a)
    (run_dir(a) / "plots").mkdir(parents=True)
    (run_dir(a) / "plots" / "equity.png").write_bytes(b"png")

    def crash(run_id: str) -> None:
        # as if the process died after moving the folder aside, part way through removing it
        trash = run_dir(run_id).parent / ".deleting"
        trash.mkdir()
        run_dir(run_id).rename(trash / f"{run_id}.deadbeef")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.delete(a, remove_files=crash)
    half = store.get(a)
    assert half is not None and half["deleting_at"] is not None  # marked: a retry knows
    assert not run_dir(a).exists()
    with pytest.raises(RunConflictError, match="being deleted"):
        store.edit(a, {"name": "x"})
    with pytest.raises(RunConflictError, match="being deleted"):
        store.archive(a, archived=False)
    assert store.list(archived=True)[1] == 1  # counted until its document goes
    assert store.delete(a, remove_files=delete_run_folder)
    assert store.get(a) is None
    assert list((run_dir(a).parent / ".deleting").iterdir()) == []
    totals_match(store, db)


def test_deleting_a_folder_never_follows_a_link(stockbot_home: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    a = rid(9)
    run_dir(a).parent.mkdir(parents=True)
    run_dir(a).symlink_to(outside, target_is_directory=True)
    delete_run_folder(a)
    assert not run_dir(a).exists() and not run_dir(a).is_symlink()
    assert (outside / "keep.txt").read_text() == "mine"
    delete_run_folder(a)  # nothing left: no error


def test_many_runs_sorted_and_searched_with_totals(db: Database) -> None:
    """Above the direct-query size (the counts' fast path) every way of listing agrees with pandas."""
    store = RunStore(db)
    rng = np.random.default_rng(3)
    docs = []
    for i in range(260):
        m = None if i % 5 == 0 else {"sharpe": float(rng.normal())}
        docs.append(
            doc(rid(i), owner=("alice", "bob")[i % 2], name=f"run {i % 40}", metrics=m, minutes=-float(i))
        )
        docs[-1]["created_at"] = now() - dt.timedelta(minutes=i)
    db["runs"].insert_many(docs)
    store.recount()
    store.archive(rid(10))
    frame = pd.DataFrame(
        {
            "id": [d["_id"] for d in docs],
            "owner": [d["owner"] for d in docs],
            "name": [d["name"] for d in docs],
            "sharpe": [(d["metrics"] or {}).get("sharpe") for d in docs],
            "created_at": [d["created_at"] for d in docs],
        }
    )
    frame["sharpe"] = frame["sharpe"].astype("float64")
    live = frame[frame["id"] != rid(10)]
    page, total = store.list(owner="alice", limit=50, skip=100)
    alice = live[live["owner"] == "alice"].sort_values("created_at", ascending=False)
    assert total == len(alice) and [d["_id"] for d in page] == list(alice["id"])[100:150]
    hits = live[live["name"].str.contains("run 1", regex=False)]
    page, total = store.list(search="run 1", sort="metrics.sharpe", limit=30, skip=30)
    ref = hits.sort_values(["sharpe", "id"], ascending=False, na_position="last")
    assert total == len(hits) and [d["_id"] for d in page] == list(ref["id"])[30:60]
    # everyone's newest first (above the direct-query size, archived runs dropped after reading)
    for i in (0, 1, 3, 60):
        store.archive(rid(i))
    live = frame[~frame["id"].isin([rid(i) for i in (0, 1, 3, 10, 60)])]
    newest = live.sort_values("created_at", ascending=False)
    for skip in (0, 45, 200):
        page, total = store.list(limit=50, skip=skip)
        assert total == len(live) and [d["_id"] for d in page] == list(newest["id"])[skip : skip + 50]
    page, total = store.list(archived=True, limit=50)
    assert total == 5 and {d["_id"] for d in page} == {rid(i) for i in (0, 1, 3, 10, 60)}


def test_the_local_runs_client_edits_archives_and_deletes_only_its_owners_runs(
    db: Database, stockbot_home: Path
) -> None:
    from stockbot.errors import JobError
    from stockbot.jobs.client import LocalRuns

    store = RunStore(db)
    mine, theirs, child = rid(1, "train"), rid(2, "train"), rid(3)
    store.create(doc(mine, owner="alice"))
    store.create(doc(theirs, owner="bob"))
    store.create(doc(child, owner="alice", parent=mine))
    for r in (mine, theirs, child):
        run_dir(r).mkdir(parents=True)
    runs = LocalRuns("alice", store=store)
    assert runs.edit(mine, name="AAPL (v2)", tags=["aapl"])["name"] == "AAPL (v2)"
    page, total = runs.list(search="(v2")
    assert [r["id"] for r in page] == [mine] and total == 1
    for call in (
        lambda: runs.edit(theirs, name="x"),
        lambda: runs.archive(theirs),
        lambda: runs.delete(theirs),
    ):
        with pytest.raises(JobError, match="no run"):
            call()
    assert store.get(theirs)["name"] != "x" and run_dir(theirs).is_dir()  # type: ignore[index]
    with pytest.raises(RunConflictError) as err:
        runs.delete(mine)
    assert [d["id"] for d in err.value.dependents] == [child]
    assert runs.archive(child)["archived_at"] is not None
    assert [r["id"] for r in runs.list()[0]] == [mine]
    assert [r["id"] for r in runs.list(archived=True)[0]] == [child]
    runs.delete(child)
    runs.delete(mine)
    assert runs.list(archived=None)[1] == 0 and not run_dir(mine).exists()
    with pytest.raises(JobError, match="no run"):
        runs.delete(mine)
